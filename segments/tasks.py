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


@shared_task(name="segments.attribute_delete", acks_late=True)
def attribute_delete_task(tenant_id: int, definition_id: str) -> str:
    """One batch of an attribute's deletion (``segments.dictionary``), then the next: queued
    again at once after a batch, a little later when it had to wait. A worker lost mid-batch
    (acks late) gets the same batch again, from the last committed cursor."""
    from segments.dictionary import DELETE_RETRY_SECONDS, DeleteStep, attribute_delete_step

    step = attribute_delete_step(tenant=organisation_for_task(tenant_id), definition_id=definition_id)
    if step == DeleteStep.MORE:
        attribute_delete_task.delay(tenant_id, definition_id)
    elif step == DeleteStep.WAIT:
        attribute_delete_task.apply_async((tenant_id, definition_id), countdown=DELETE_RETRY_SECONDS)
    return str(step)
