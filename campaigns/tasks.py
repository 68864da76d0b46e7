"""Celery entry points of campaigns."""

from __future__ import annotations

from celery import shared_task

from audit.services import system_actor
from campaigns.services import campaigns_start_due
from tenants.context import tenant_context
from tenants.models import Organisation


@shared_task(name="campaigns.dispatch_due")
def dispatch_due_task() -> int:
    """Every minute (settings.CELERY_BEAT_SCHEDULE): start scheduled campaigns whose first
    message is due, in every active organisation; returns how many started."""
    started = 0
    for organisation in Organisation.objects.filter(is_active=True).order_by("pk"):
        with tenant_context(organisation):
            started += len(campaigns_start_due(tenant=organisation, actor=system_actor("campaigns-scheduler")))
    return started


@shared_task(name="campaigns.due_work_tick")
def due_work_tick_task() -> int:
    """Every few seconds (settings.CELERY_BEAT_SCHEDULE): claim the due work of every active
    organisation (``campaigns.scheduling``) and queue a run per batch. Returns how many rows
    were claimed."""
    from campaigns.scheduling import due_work_tick

    return due_work_tick(enqueue=due_work_run_task.delay)


@shared_task(name="campaigns.due_work_run", acks_late=True, reject_on_worker_lost=True)
def due_work_run_task(tenant_id: int, ids: list[int], claim: str) -> int:
    """Run one claimed batch of due work (ids and the claim's token; never PHI). Safe to run
    twice or late: rows the claim no longer holds run nothing. Returns how many ran."""
    from campaigns.scheduling import due_work_run
    from tenants.tasks import UnknownTenant, organisation_for_task

    try:
        tenant = organisation_for_task(tenant_id)
    except UnknownTenant:
        return 0
    return due_work_run(tenant=tenant, ids=ids, claim=claim)
