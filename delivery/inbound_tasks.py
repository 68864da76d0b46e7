"""Celery entry point of inbound reports (``delivery.inbound_services``): ids only, because
the report itself (the returned original message) is PHI and is read from the database."""

from __future__ import annotations

from celery import shared_task

from tenants.tasks import UnknownTenant, organisation_for_task


@shared_task(name="delivery.inbound_report_process", acks_late=True, reject_on_worker_lost=True)
def inbound_report_process_task(tenant_id: int, report_id: str) -> str:
    """Apply one stored report (idempotent: a processed report is left as it is). Returns the
    report's outcome, or ``gone`` when the organisation or the report no longer exists."""
    from delivery.inbound_services import inbound_report_process
    from tenants.context import tenant_context

    try:
        tenant = organisation_for_task(tenant_id)
    except UnknownTenant:
        return "gone"
    with tenant_context(tenant):
        report = inbound_report_process(tenant=tenant, report_id=report_id)
        return report.outcome if report is not None else "gone"
