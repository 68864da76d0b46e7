"""Demo data for ``seed_demo``: each demo organisation has a signed, active BAA and two
sub-processors, so ``make run`` can send PHI. Idempotent."""

from __future__ import annotations

from datetime import date

from audit.services import actor_for_user, system_actor
from authn.models import User
from baa.models import BaaStatus
from baa.selectors import agreement_in_force, document_current, subprocessor_list
from baa.services import SubProcessorInput, agreement_draft_create, agreement_sign, subprocessor_add
from tenants.models import Organisation

DEMO_SUBPROCESSORS = [
    SubProcessorInput(
        name="Amazon Web Services (SES account, demo)",
        purpose="Outbound email delivery",
        handles_phi=True,
        baa_status=BaaStatus.SIGNED,
        baa_date=date(2026, 1, 15),
    ),
    SubProcessorInput(
        name="Hosting provider (demo)",
        purpose="Application and database hosting",
        handles_phi=True,
        baa_status=BaaStatus.SIGNED,
        baa_date=date(2026, 1, 10),
    ),
]


def seed_demo_baa(*, tenant: Organisation, admin: User) -> bool:
    """Inside ``tenant_context(tenant)``. Returns whether an agreement was signed now."""
    names = set(subprocessor_list(tenant=tenant).values_list("name", flat=True))
    for data in DEMO_SUBPROCESSORS:
        if data.name not in names:
            subprocessor_add(tenant=tenant, actor=system_actor("seed_demo"), data=data)
    if agreement_in_force(tenant=tenant) is not None or document_current() is None:
        return False
    actor = actor_for_user(admin)
    draft = agreement_draft_create(tenant=tenant, actor=actor, created_by=admin)
    agreement_sign(
        tenant=tenant,
        actor=actor,
        agreement=draft,
        signed_by=admin,
        signer_name=admin.full_name or admin.email,
        signer_title="Practice administrator (demo)",
        signer_organisation=tenant.name,
        document_sha256=draft.document.sha256,
        ip=None,
    )
    return True
