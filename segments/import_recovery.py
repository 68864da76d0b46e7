"""Ending contact imports nobody will finish (``segments.imports_reap``, every few minutes):

- an import marked as checking or importing whose worker died (nobody holds its lock,
  ``segments.import_locks``): the open transaction died with the worker, so nothing was
  imported; it ends FAILED saying so, and its encrypted upload is deleted;
- an import queued but never started for ``NEVER_STARTED_AFTER`` (its task was lost): FAILED;
- an upload left unmapped for ``ABANDONED_AFTER``: CANCELLED, and its file deleted;
- an encrypted upload file no import refers to (a request that died while uploading), once
  ``ABANDONED_AFTER`` old: deleted.

Each end is audited like any other (``contact.import_failed`` / ``contact.import_cancelled``).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from audit.services import SYSTEM, Target, record
from segments.csv_io import upload_delete, upload_path
from segments.import_locks import import_is_running
from segments.imports import ENDED, RUNNING, import_end
from segments.models import ContactImport, ImportStatus
from tenants.context import tenant_context
from tenants.models import Organisation

NEVER_STARTED_AFTER = timedelta(hours=24)
ABANDONED_AFTER = timedelta(hours=24)
WORKER_STOPPED = "The worker running this import stopped before it finished. Nothing was imported: start it again."
NEVER_STARTED = "This import was never started by a worker. Nothing was imported: start it again."


def imports_reap(*, tenant: Organisation) -> int:
    """Ends the tenant's imports that nobody will finish; returns how many."""
    now = timezone.now()
    ended = 0
    with tenant_context(tenant):
        candidates = list(ContactImport.objects.for_tenant(tenant).filter(status__in=[*RUNNING, ImportStatus.UPLOADED]))
    for contact_import in candidates:
        if contact_import.status == ImportStatus.UPLOADED:
            ended += _abandon(tenant, contact_import, now)
        elif contact_import.started_at is None:
            if contact_import.created_at < now - NEVER_STARTED_AFTER:
                ended += _fail(tenant, contact_import, NEVER_STARTED)
        elif not import_is_running(contact_import.pk, contact_import.started_at):
            ended += _fail(tenant, contact_import, WORKER_STOPPED)
    _delete_orphan_files(tenant, now)
    return ended


def _delete_orphan_files(tenant: Organisation, now: datetime) -> None:
    """Day-old partial files, and files of imports that ended or no longer exist."""
    folder = upload_path(tenant, uuid.UUID(int=0)).parent
    if not folder.exists():
        return
    cutoff = (now - ABANDONED_AFTER).timestamp()
    old = [path for path in folder.iterdir() if path.stat().st_mtime < cutoff]
    if not old:
        return
    with tenant_context(tenant):
        status_of = {
            str(pk): status for pk, status in ContactImport.objects.for_tenant(tenant).values_list("pk", "status")
        }
    for path in old:
        # A file whose import is gone counts as ended.
        if path.suffix == ".part" or status_of.get(path.stem, ImportStatus.DONE) in ENDED:
            path.unlink(missing_ok=True)


def _fail(tenant: Organisation, contact_import: ContactImport, message: str) -> int:
    import_end(tenant, contact_import.pk, ImportStatus.FAILED, message=message)
    upload_delete(tenant=tenant, import_id=contact_import.pk)
    return 1


def _abandon(tenant: Organisation, contact_import: ContactImport, now: datetime) -> int:
    if contact_import.created_at >= now - ABANDONED_AFTER:
        return 0
    with tenant_context(tenant), transaction.atomic():
        changed = (
            ContactImport.objects.for_tenant(tenant)
            .filter(pk=contact_import.pk, status=ImportStatus.UPLOADED)
            .update(status=ImportStatus.CANCELLED, finished_at=timezone.now())
        )
        if changed:
            record(
                tenant=tenant,
                action="contact.import_cancelled",
                actor=SYSTEM,
                target=Target.of(contact_import),
                details={"reason": "abandoned"},
            )
    if changed:
        upload_delete(tenant=tenant, import_id=contact_import.pk)
    return changed


@shared_task(name="segments.imports_reap")
def imports_reap_task() -> int:
    """Every few minutes (settings.CELERY_BEAT_SCHEDULE), for every organisation."""
    return sum(imports_reap(tenant=organisation) for organisation in Organisation.objects.order_by("pk"))
