"""Which contact imports are being worked on right now, as PostgreSQL advisory locks.

The task running an import holds a session-level advisory lock named after it for as long as it
runs; if its worker dies, the connection closes and the lock goes with it. So an import that is
marked as running but whose lock anyone can take is one nobody is running any more
(``segments.import_recovery`` ends it). SQLite (the embedded default) has no such locks: there,
an import counts as running for ``STALE_AFTER`` after it started.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

STALE_AFTER = timedelta(hours=6)


def _key(import_id: Any) -> str:
    return f"sealpost.contact_import.{import_id}"


def _locks() -> bool:
    return connection.vendor == "postgresql"


@contextmanager
def import_lock(import_id: Any) -> Iterator[bool]:
    """Holds the import's lock while the block runs; yields False if another process has it."""
    if not _locks():
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [_key(import_id)])
        (taken,) = cursor.fetchone()
    try:
        yield bool(taken)
    finally:
        if taken:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [_key(import_id)])


def import_is_running(import_id: Any, started_at: datetime | None) -> bool:
    """Whether some process still works on the import (PostgreSQL: holds its lock)."""
    if not _locks():
        return started_at is not None and started_at > timezone.now() - STALE_AFTER
    with import_lock(import_id) as free:
        return not free
