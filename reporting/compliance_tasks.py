"""Celery entry points of the compliance report exports (ids only, never data). Listed in
``CELERY_IMPORTS`` so workers register them."""

from __future__ import annotations

from celery import shared_task

from tenants.context import tenant_context
from tenants.tasks import organisation_for_task


@shared_task(name="reporting.compliance_export", acks_late=True)
def compliance_export_task(tenant_id: int, export_id: str) -> str:
    """Generate one export. Not wrapped in one tenant transaction: the service commits its
    progress chunk by chunk. A redelivered task finds the export done (and skips) or stale (and
    starts it again)."""
    from reporting.compliance_exports import report_export_run

    return report_export_run(tenant=organisation_for_task(tenant_id), export_id=export_id)


@shared_task(name="reporting.compliance_exports_expire")
def compliance_exports_expire_task() -> int:
    """Every organisation's expired exports lose their file (beat)."""
    from reporting.compliance_exports import report_exports_expire
    from tenants.models import Organisation

    expired = 0
    for organisation in Organisation.objects.filter(is_active=True).order_by("pk"):
        with tenant_context(organisation):
            expired += report_exports_expire(tenant=organisation)
    return expired
