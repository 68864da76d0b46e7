"""Celery entry points of the audience app. Tasks take ids only (never PHI)."""

from __future__ import annotations

from celery import shared_task

from tenants.tasks import organisation_for_task


@shared_task(name="segments.contact_import", acks_late=True)
def contact_import_task(tenant_id: int, import_id: str) -> None:
    """Validates and applies one contact import. Not wrapped in one tenant transaction: the
    service commits progress while validating and applies in a transaction of its own."""
    from segments.imports import import_run

    import_run(tenant=organisation_for_task(tenant_id), import_id=import_id)
