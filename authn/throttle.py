"""Sign-in throttling and lockout, without revealing which accounts exist.

Failures are counted per submitted address (hashed; it may belong to nobody) and per client IP
in the shared cache. After ``ACCOUNT_FAILURES`` failures for an address within ``WINDOW_SECONDS``
that address is locked for ``LOCK_SECONDS``, whether or not an account has it; after
``IP_FAILURES`` from one address the IP is locked. While locked, even the right password is
refused with the same message, so an attacker learns nothing from the lock.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.core.cache import cache

ACCOUNT_FAILURES = 5
IP_FAILURES = 20
WINDOW_SECONDS = 15 * 60
LOCK_SECONDS = 15 * 60


def _now() -> float:
    return time.time()


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"sealpost:signin:{kind}:{digest}"


@dataclass(frozen=True)
class Lock:
    until: float

    @property
    def minutes_left(self) -> int:
        return max(1, int((self.until - _now() + 59) // 60))


def _locked(key: str) -> Lock | None:
    state = cache.get(key)
    if state and state.get("locked_until", 0) > _now():
        return Lock(state["locked_until"])
    return None


def current_lock(email: str, ip: str) -> Lock | None:
    """With no email (a passkey sign-in without a username) only the IP can be locked."""
    account = _locked(_key("account", email)) if email else None
    return account or (_locked(_key("ip", ip)) if ip else None)


def _count_failure(key: str, limit: int) -> bool:
    """Count one failure; True when this one starts a lock."""
    now = _now()
    state = cache.get(key) or {}
    if state.get("window_start", 0) + WINDOW_SECONDS < now:
        state = {"window_start": now, "failures": 0}
    state["failures"] = state.get("failures", 0) + 1
    started = state["failures"] >= limit and state.get("locked_until", 0) <= now
    if started:
        state["locked_until"] = now + LOCK_SECONDS
    cache.set(key, state, timeout=WINDOW_SECONDS + LOCK_SECONDS)
    return started


def record_failure(email: str, ip: str) -> bool:
    """Returns True when the address (or the IP) has just been locked."""
    account_locked = _count_failure(_key("account", email), ACCOUNT_FAILURES) if email else False
    ip_locked = _count_failure(_key("ip", ip), IP_FAILURES) if ip else False
    return account_locked or ip_locked


def record_success(email: str) -> None:
    cache.delete(_key("account", email))
