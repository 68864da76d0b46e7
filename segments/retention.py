"""Data retention: an organisation's policy removes contacts inactive (``last_activity_at``)
for longer than ``inactive_days``. Admins set it after a step-up, see a preview (a count and a
masked sample), and can remove now; Celery beat runs every tenant's policy daily
(``segments.retention_run_all`` in settings.CELERY_BEAT_SCHEDULE).

Removal walks the expired contacts in keyset batches (by primary key), one transaction per batch
with its own audit event, so a large first run neither holds one huge lock nor loses its record
if it stops half-way: the next run continues where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.models import ActorType
from audit.services import Actor, Target, record, system_actor
from segments.models import Contact, RetentionPolicy
from tenants.context import require_tenant_is_current, tenant_context
from tenants.models import Organisation
from tenants.tasks import organisation_for_task

RETENTION_BATCH_SIZE = 1000
PREVIEW_SAMPLE_SIZE = 10
AUDIT_ID_CAP = 1000  # contact ids listed in one retention.contacts_removed event
MIN_INACTIVE_DAYS = 30
MAX_INACTIVE_DAYS = 36500


class RetentionError(ValueError):
    pass


def retention_policy_for(*, tenant: Organisation) -> RetentionPolicy:
    """The tenant's policy; an unsaved one that keeps everyone when none was set."""
    policy = RetentionPolicy.objects.for_tenant(tenant).first()
    return policy if policy is not None else RetentionPolicy(tenant=tenant, inactive_days=None)


def retention_policy_update(
    *, tenant: Organisation, actor: Actor, inactive_days: int | None, user: Any = None
) -> RetentionPolicy:
    """Admins only, after a step-up (checked by the view)."""
    require_tenant_is_current(tenant)
    if inactive_days is not None and not MIN_INACTIVE_DAYS <= inactive_days <= MAX_INACTIVE_DAYS:
        raise RetentionError(f"Between {MIN_INACTIVE_DAYS} and {MAX_INACTIVE_DAYS} days, or empty to keep contacts.")
    with transaction.atomic():
        policy = RetentionPolicy.objects.for_tenant(tenant).select_for_update().first()
        before = policy.inactive_days if policy is not None else None
        if policy is None:
            policy = RetentionPolicy(tenant=tenant)
        if policy.pk is not None and before == inactive_days:
            return policy
        policy.inactive_days = inactive_days
        policy.updated_by = user if actor.type == ActorType.USER else None
        policy.save()
        record(
            tenant=tenant,
            action="retention.policy_changed",
            actor=actor,
            target=Target.of(policy),
            details={"inactive_days_from": before, "inactive_days_to": inactive_days},
        )
    return policy


def _cutoff(policy: RetentionPolicy, now: datetime | None = None) -> datetime | None:
    if policy.inactive_days is None:
        return None
    return (now or timezone.now()) - timedelta(days=policy.inactive_days)


def _expired(tenant: Organisation, cutoff: datetime) -> QuerySet[Contact]:
    return Contact.objects.for_tenant(tenant).filter(last_activity_at__lt=cutoff)


@dataclass(frozen=True)
class RetentionPreview:
    inactive_days: int | None
    cutoff: datetime | None
    count: int
    sample: list[Contact]  # shown masked (initials, first letter and domain)


def retention_preview(*, tenant: Organisation, now: datetime | None = None) -> RetentionPreview:
    policy = retention_policy_for(tenant=tenant)
    cutoff = _cutoff(policy, now)
    if cutoff is None:
        return RetentionPreview(None, None, 0, [])
    expired = _expired(tenant, cutoff)
    sample = list(expired.order_by("last_activity_at", "pk")[:PREVIEW_SAMPLE_SIZE])
    return RetentionPreview(policy.inactive_days, cutoff, expired.count(), sample)


def retention_run(*, tenant: Organisation, actor: Actor, now: datetime | None = None) -> int:
    """Removes the contacts inactive beyond the policy, in keyset batches; returns how many."""
    require_tenant_is_current(tenant)
    policy = retention_policy_for(tenant=tenant)
    cutoff = _cutoff(policy, now)
    if cutoff is None:
        return 0
    removed = 0
    last: Any = None
    while True:
        with transaction.atomic():
            batch = _expired(tenant, cutoff).order_by("pk")
            if last is not None:
                batch = batch.filter(pk__gt=last)
            ids = list(batch.select_for_update(skip_locked=True).values_list("pk", flat=True)[:RETENTION_BATCH_SIZE])
            if not ids:
                break
            _, by_model = Contact.objects.for_tenant(tenant).filter(pk__in=ids, last_activity_at__lt=cutoff).delete()
            deleted = by_model.get(Contact._meta.label, 0)
            details: dict[str, Any] = {
                "count": deleted,
                "inactive_days": policy.inactive_days,
                "contact_ids": [str(pk) for pk in ids[:AUDIT_ID_CAP]],
            }
            if len(ids) > AUDIT_ID_CAP:
                details["contact_ids_truncated"] = True
            record(tenant=tenant, action="retention.contacts_removed", actor=actor, details=details)
            removed += deleted
            last = ids[-1]
    return removed


# --- Celery -------------------------------------------------------------------------------------


@shared_task(name="segments.retention_run_tenant")
def retention_run_tenant_task(tenant_id: int) -> int:
    tenant = organisation_for_task(tenant_id)
    with tenant_context(tenant):
        return retention_run(tenant=tenant, actor=system_actor("retention"))


@shared_task(name="segments.retention_run_all")
def retention_run_all_task() -> int:
    """Daily (settings.CELERY_BEAT_SCHEDULE): one task per tenant that has a policy."""
    queued = 0
    for organisation in Organisation.objects.filter(is_active=True).order_by("pk"):
        # Row-level security admits a tenant's policy only inside its context.
        with tenant_context(organisation):
            has_policy = RetentionPolicy.objects.for_tenant(organisation).filter(inactive_days__isnull=False).exists()
        if has_policy:
            retention_run_tenant_task.delay(organisation.pk)
            queued += 1
    return queued
