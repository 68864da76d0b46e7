"""Small functions that create BAA objects for tests, each inside its tenant's context."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from audit.services import actor_for_user
from baa.models import Agreement, AgreementStatus, BaaStatus, SubProcessor
from baa.services import (
    SubProcessorInput,
    agreement_draft_create,
    agreement_sign,
    agreement_terminate,
    subprocessor_add,
)
from tenants.context import tenant_context
from tenants.roles import Role

SIGNER = {"signer_name": "Avery Signer", "signer_title": "Practice administrator", "signer_organisation": "Org A"}


def make_draft(fixture: Any) -> Agreement:
    admin = fixture.users[Role.ADMIN]
    with tenant_context(fixture.tenant):
        return agreement_draft_create(tenant=fixture.tenant, actor=actor_for_user(admin), created_by=admin)


def make_active(fixture: Any, now: datetime | None = None) -> Agreement:
    """A draft signed by the tenant's admin and countersigned: active from ``now``'s date."""
    admin = fixture.users[Role.ADMIN]
    draft = make_draft(fixture)
    with tenant_context(fixture.tenant):
        return agreement_sign(
            tenant=fixture.tenant,
            actor=actor_for_user(admin),
            agreement=draft,
            signed_by=admin,
            document_sha256=draft.document.sha256,
            ip="192.0.2.10",
            now=now,
            **SIGNER,
        )


def make_subprocessor(fixture: Any, name: str = "Amazon SES", **overrides: Any) -> SubProcessor:
    values: dict[str, Any] = {
        "name": name,
        "purpose": "Email delivery",
        "handles_phi": True,
        "baa_status": BaaStatus.SIGNED,
        "baa_date": date(2026, 1, 15),
    }
    values.update(overrides)
    with tenant_context(fixture.tenant):
        return subprocessor_add(
            tenant=fixture.tenant, actor=actor_for_user(fixture.users[Role.ADMIN]), data=SubProcessorInput(**values)
        )


def reload_agreement(fixture: Any, agreement_id: Any) -> Agreement | None:
    with tenant_context(fixture.tenant):
        return Agreement.objects.for_tenant(fixture.tenant).select_related("document").filter(pk=agreement_id).first()


def reload_subprocessor(fixture: Any, subprocessor_id: Any) -> SubProcessor | None:
    with tenant_context(fixture.tenant):
        return SubProcessor.objects.for_tenant(fixture.tenant).filter(pk=subprocessor_id).first()


def status_of(fixture: Any, agreement_id: Any) -> str | None:
    agreement = reload_agreement(fixture, agreement_id)
    return None if agreement is None else AgreementStatus(agreement.status).value


def terminate(fixture: Any, agreement: Agreement, reason: str = "We stopped using Sealpost.") -> Agreement:
    admin = fixture.users[Role.ADMIN]
    with tenant_context(fixture.tenant):
        return agreement_terminate(
            tenant=fixture.tenant, actor=actor_for_user(admin), agreement=agreement, reason=reason, terminated_by=admin
        )
