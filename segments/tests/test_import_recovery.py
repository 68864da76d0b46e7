"""Imports nobody will finish end on their own: a dead worker's (its lock is free), a lost
task's, an abandoned upload's; a running import (its lock held elsewhere) is left alone."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from audit.services import actor_for_user
from audit.tests.helpers import events, head_seq
from segments.csv_io import upload_path
from segments.import_recovery import NEVER_STARTED, WORKER_STOPPED, imports_reap, imports_reap_task
from segments.imports import import_create, import_run, import_start
from segments.models import ContactImport, ImportStatus
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db


def _started(world, *, status=ImportStatus.IMPORTING, started=True, age=timedelta(0)):
    tenant = world.a.tenant
    user = world.a.users[Role.MARKETER]
    data = b"email\nreap.synthetic@example.com\n"
    with tenant_context(tenant):
        contact_import = import_create(
            tenant=tenant, actor=actor_for_user(user), user=user, chunks=[data], size=len(data)
        )
        ContactImport.objects.for_tenant(tenant).filter(pk=contact_import.pk).update(
            status=status,
            mapping={"email": "email"},
            match_on="email",
            started_at=timezone.now() - age if started else None,
            created_at=timezone.now() - age,
        )
    return contact_import


def _state(world, contact_import):
    with tenant_context(world.a.tenant):
        return ContactImport.objects.for_tenant(world.a.tenant).get(pk=contact_import.pk)


def _hold_lock_elsewhere(import_id):
    """Another database session holds the import's lock, as a live worker would."""
    settings = connection.settings_dict
    other = psycopg.connect(
        host=settings["HOST"], port=settings["PORT"], dbname=settings["NAME"], user=settings["USER"], autocommit=True
    )
    other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [f"sealpost.contact_import.{import_id}"])
    return other


def test_an_import_whose_worker_died_fails_saying_nothing_was_imported(world):
    stuck = _started(world)
    since = head_seq(world.a.tenant)
    assert imports_reap(tenant=world.a.tenant) == 1
    ended = _state(world, stuck)
    assert ended.status == ImportStatus.FAILED and ended.errors[0]["message"] == WORKER_STOPPED
    assert not upload_path(world.a.tenant, stuck.pk).exists()
    assert events(world.a.tenant, since)[-1] == ("contact.import_failed", {"reason": "failed", "error_count": 1})


def test_a_running_import_is_left_alone(world):
    running = _started(world, status=ImportStatus.VALIDATING, age=timedelta(hours=30))
    other = _hold_lock_elsewhere(running.pk)
    try:
        assert imports_reap(tenant=world.a.tenant) == 0
        assert _state(world, running).status == ImportStatus.VALIDATING
        # A second delivery of the task does not run it twice either.
        import_run(tenant=world.a.tenant, import_id=running.pk)
        assert _state(world, running).status == ImportStatus.VALIDATING
    finally:
        other.close()
    assert imports_reap(tenant=world.a.tenant) == 1  # its worker is gone now


def test_a_queued_import_waits_a_day_before_it_counts_as_lost(world):
    queued = _started(world, status=ImportStatus.VALIDATING, started=False, age=timedelta(hours=2))
    assert imports_reap(tenant=world.a.tenant) == 0
    lost = _started(world, status=ImportStatus.VALIDATING, started=False, age=timedelta(hours=25))
    assert imports_reap(tenant=world.a.tenant) == 1
    assert _state(world, queued).status == ImportStatus.VALIDATING
    assert _state(world, lost).errors[0]["message"] == NEVER_STARTED


def test_an_abandoned_upload_is_cancelled_and_its_file_deleted(world):
    fresh = _started(world, status=ImportStatus.UPLOADED, started=False)
    abandoned = _started(world, status=ImportStatus.UPLOADED, started=False, age=timedelta(hours=25))
    since = head_seq(world.a.tenant)
    assert imports_reap_task() == 1
    assert _state(world, abandoned).status == ImportStatus.CANCELLED
    assert not upload_path(world.a.tenant, abandoned.pk).exists()
    assert _state(world, fresh).status == ImportStatus.UPLOADED and upload_path(world.a.tenant, fresh.pk).exists()
    assert events(world.a.tenant, since) == [("contact.import_cancelled", {"reason": "abandoned"})]


def test_a_normal_run_releases_its_lock(world):
    tenant = world.a.tenant
    contact_import = _started(world, status=ImportStatus.UPLOADED, started=False)
    with tenant_context(tenant):
        import_start(
            tenant=tenant,
            actor=actor_for_user(world.a.users[Role.MARKETER]),
            contact_import=_state(world, contact_import),
            mapping={"email": "email"},
            match_on="email",
        )
    import_run(tenant=tenant, import_id=contact_import.pk)
    assert _state(world, contact_import).status == ImportStatus.DONE
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        assert cursor.fetchone()[0] == 0


def test_the_reaper_is_scheduled():
    from django.conf import settings

    assert settings.CELERY_BEAT_SCHEDULE["segments-imports-reap"] == {"task": "segments.imports_reap", "schedule": 300}


def test_upload_files_no_live_import_refers_to_go_after_a_day(world):
    import os

    tenant = world.a.tenant
    kept = _started(world, status=ImportStatus.UPLOADED, started=False)
    folder = upload_path(tenant, kept.pk).parent
    orphan = folder / "01a00000-0000-7000-8000-000000000001.enc"
    partial = folder / "01a00000-0000-7000-8000-000000000002.part"
    recent = folder / "01a00000-0000-7000-8000-000000000003.enc"
    for path in (orphan, partial, recent):
        path.write_bytes(b"sealed")
    day_old = (timezone.now() - timedelta(hours=25)).timestamp()
    for path in (orphan, partial, upload_path(tenant, kept.pk)):
        os.utime(path, (day_old, day_old))
    imports_reap(tenant=tenant)
    assert not orphan.exists() and not partial.exists()
    assert recent.exists() and upload_path(tenant, kept.pk).exists()  # the import still waits for a mapping
    recent.unlink()
