"""Key rotation runs as a chain of small tasks: each re-encrypts one batch and enqueues the
next, so progress is visible and a crashed worker loses at most one batch (which is retried)."""

from __future__ import annotations

from celery import shared_task

from encryption.models import KeyRotation
from tenants.tasks import runs_as_tenant


@shared_task(name="encryption.rotate", acks_late=True)
@runs_as_tenant
def rotate_task(tenant, rotation_id: str) -> None:  # type: ignore[no-untyped-def]
    from encryption.services import rotation_step

    rotation = KeyRotation.objects.for_tenant(tenant).filter(pk=rotation_id).first()
    if rotation is None:
        return
    if not rotation_step(tenant=tenant, rotation=rotation):
        rotate_task.delay(tenant.pk, rotation_id)


@shared_task(name="encryption.erase_unused_keys")
@runs_as_tenant
def erase_unused_keys_task(tenant) -> None:  # type: ignore[no-untyped-def]
    from encryption.services import erase_unused_versions

    # A version still used by rows stays retired (readable) until a later rotation moves them.
    erase_unused_versions(tenant=tenant)


@shared_task(name="encryption.escrow_expire")
def escrow_expire_task() -> int:
    """Delete the content of escrowed messages past their expiry, every organisation (beat)."""
    from encryption.escrow import escrow_expire_all

    return escrow_expire_all()


# The recipient portal's tasks (code emails, reply notices): imported so workers register them.
from encryption import portal_tasks  # noqa: E402, F401
