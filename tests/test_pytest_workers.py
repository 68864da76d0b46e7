"""Parallel test workers do not share Redis or the var directory (sealpost.pytest_workers)."""

from __future__ import annotations

import os

from sealpost.pytest_workers import isolate_worker, redis_url_for_worker, worker_index


def test_worker_index_is_read_from_the_xdist_name():
    assert worker_index("gw0") == 0
    assert worker_index("gw11") == 11
    assert worker_index("") is None
    assert worker_index("master") is None


def test_each_worker_gets_its_own_redis_database_on_the_same_server():
    assert redis_url_for_worker("redis://127.0.0.1:6379/8", 0) == "redis://127.0.0.1:6379/8"
    assert redis_url_for_worker("redis://127.0.0.1:6379/8", 1) == "redis://127.0.0.1:6379/9"
    assert redis_url_for_worker("redis://127.0.0.1:6379/15", 1) == "redis://127.0.0.1:6379/0"
    assert redis_url_for_worker("redis://127.0.0.1:6379", 2) == "redis://127.0.0.1:6379/2"


def test_outside_a_worker_nothing_changes():
    environ = {"REDIS_URL": "redis://127.0.0.1:6379/15", "SEALPOST_VAR_DIR": "/srv/var"}
    isolate_worker(environ)
    assert environ == {"REDIS_URL": "redis://127.0.0.1:6379/15", "SEALPOST_VAR_DIR": "/srv/var"}


def test_a_worker_moves_redis_and_the_var_directory():
    environ = {"PYTEST_XDIST_WORKER": "gw1", "REDIS_URL": "redis://127.0.0.1:6379/15", "SEALPOST_VAR_DIR": "/srv/var"}
    isolate_worker(environ)
    assert environ["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert environ["SEALPOST_VAR_DIR"] == os.path.join("/srv/var", "worker-1")


def test_this_process_settings_follow_its_worker():
    """Whether run alone or under -n, the cache, the broker and the var directory in use are this
    process's own: the plugin ran before Django read its settings."""
    from django.conf import settings

    from sealpost.celery import app

    assert settings.CACHES["default"]["LOCATION"] == os.environ["REDIS_URL"]
    assert app.conf.broker_url == os.environ["REDIS_URL"]
    assert str(settings.VAR_DIR) == os.environ["SEALPOST_VAR_DIR"]
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        assert os.environ["SEALPOST_VAR_DIR"].endswith(f"worker-{worker_index(worker)}")
