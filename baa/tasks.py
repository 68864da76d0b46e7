"""Celery entry points of the BAA app."""

from __future__ import annotations

from celery import shared_task

from baa.services import agreement_expire_due
from tenants.context import tenant_context
from tenants.models import Organisation


@shared_task(name="baa.expire_agreements")
def expire_agreements_task() -> int:
    """Hourly (settings.CELERY_BEAT_SCHEDULE): marks every organisation's active agreement past
    its expiry date as expired, audited. The gate does not wait for it: it judges by date."""
    expired = 0
    for organisation in Organisation.objects.filter(is_active=True).order_by("pk"):
        # Row-level security admits an organisation's agreements only inside its context.
        with tenant_context(organisation):
            expired += agreement_expire_due(tenant=organisation)
    return expired
