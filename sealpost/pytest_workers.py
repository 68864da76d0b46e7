"""Isolation of parallel test workers (pytest-xdist), loaded with ``-p`` before Django reads settings.

Each worker process gets its own PostgreSQL test database from pytest-django. This module gives it
its own Redis database and var directory as well, so one worker's ``cache.clear()``, broker flush
or upload directory never touches another's. It runs at import, in each worker, before settings
are read: ``PYTEST_XDIST_WORKER`` is set by then, and nothing is changed outside a worker.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

REDIS_DATABASES = 16


def worker_index(worker: str) -> int | None:
    """``gw3`` -> 3; None outside a pytest-xdist worker."""
    if worker.startswith("gw") and worker[2:].isdigit():
        return int(worker[2:])
    return None


def redis_url_for_worker(url: str, index: int) -> str:
    """The same server, database number moved on by the worker's index (wrapping at 16)."""
    parts = urlsplit(url)
    database = int(parts.path.lstrip("/") or 0)
    moved = (database + index) % REDIS_DATABASES
    return urlunsplit(parts._replace(path=f"/{moved}"))


def isolate_worker(environ: os._Environ[str] | dict[str, str]) -> None:
    index = worker_index(environ.get("PYTEST_XDIST_WORKER", ""))
    if index is None:
        return
    if environ.get("REDIS_URL"):
        environ["REDIS_URL"] = redis_url_for_worker(environ["REDIS_URL"], index)
    if environ.get("SEALPOST_VAR_DIR"):
        environ["SEALPOST_VAR_DIR"] = os.path.join(environ["SEALPOST_VAR_DIR"], f"worker-{index}")


isolate_worker(os.environ)
