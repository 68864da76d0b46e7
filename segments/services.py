from __future__ import annotations

from collections.abc import Sequence

from audit.services import Actor, Target, record
from segments.models import Contact
from tenants.context import require_tenant_is_current
from tenants.models import Organisation


def contact_view_record(*, tenant: Organisation, actor: Actor, contact: Contact) -> None:
    """Showing a contact shows PHI (being a patient here is itself health information)."""
    require_tenant_is_current(tenant)
    record(tenant=tenant, action="contact.phi_viewed", actor=actor, target=Target.of(contact))


def contact_list_view_record(
    *, tenant: Organisation, actor: Actor, contacts: Sequence[Contact], revealed: bool = False
) -> None:
    """``revealed``: names and emails were shown in full (after a step-up), not masked."""
    require_tenant_is_current(tenant)
    if contacts:
        record(
            tenant=tenant,
            action="contact.list_viewed",
            actor=actor,
            details={"contact_ids": [str(contact.pk) for contact in contacts], "revealed": revealed},
        )
