"""A counter per key in the shared cache that starts again after a window: the rate limits
(test sends, domain checks, opt-in forms and emails, refused SNS posts) count with it."""

from __future__ import annotations

from django.core.cache import cache


def count_in_window(key: str, window_seconds: int) -> int:
    """Add one to ``key``'s count for the current window (which starts with the first count and
    lasts ``window_seconds``) and return the new count."""
    cache.add(key, 0, timeout=window_seconds)
    try:
        return int(cache.incr(key))
    except ValueError:  # the key expired between add and incr: a new window
        cache.set(key, 1, timeout=window_seconds)
        return 1
