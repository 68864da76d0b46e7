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
