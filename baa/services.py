"""Writing agreements and the sub-processor register. Each service runs in one transaction and
records its audit event inside it; details carry ids, versions, hashes and field names only.

An agreement moves draft → signed → active → expired or terminated:

- ``agreement_draft_create``: an admin prepares an agreement on the latest published version.
- ``agreement_sign``: the admin signs it (the view requires a fresh passkey step-up), with name,
  title, organisation, time, IP and the SHA-256 of the text they were shown.
- ``agreement_countersign``: Sealpost countersigns and the agreement becomes active. Called by
  ``agreement_sign`` in the same transaction, as a separate step with its own event
  (``baa.activated``, system actor): Sealpost offers one standard text that it has already
  approved by publishing it, so there is nothing for a person to review, and waiting for a
  command would only hold back an organisation that has done everything the law asks of it.
- ``agreement_terminate``: an admin ends it with a reason; activating a newer agreement ends the
  previous one the same way ("superseded"), keeping one active agreement per organisation.
- ``agreement_expire_due``: the hourly beat task marks active agreements past their expiry date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import Actor, Target, record, system_actor
from authn.models import User
from baa.models import Agreement, AgreementStatus, BaaStatus, SubProcessor
from baa.selectors import document_current, utc_date
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

COUNTERSIGN_ACTOR = "baa_countersign"
EXPIRY_ACTOR = "baa_expiry"
SUPERSEDED_REASON = "Superseded by a newer agreement."
MAX_REASON_LENGTH = 2000


class BaaError(ValueError):
    """A refused agreement or sub-processor change; ``field`` names the form field at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


# --- Agreements ---------------------------------------------------------------------------------


def _locked(tenant: Organisation, agreement: Agreement) -> Agreement:
    return (
        Agreement.objects.for_tenant(tenant)
        .select_for_update(of=("self",))
        .select_related("document")
        .get(pk=agreement.pk)
    )


def agreement_draft_create(*, tenant: Organisation, actor: Actor, created_by: User | None) -> Agreement:
    """A draft on the latest published version; the organisation's existing draft if it has one
    (moved to the latest version if a newer one was published since)."""
    require_tenant_is_current(tenant)
    document = document_current()
    if document is None:
        raise BaaError("No agreement text is published yet.")
    with transaction.atomic():
        pending = (
            Agreement.objects.for_tenant(tenant)
            .select_for_update()
            .filter(status__in=[AgreementStatus.DRAFT, AgreementStatus.SIGNED])
            .first()
        )
        if pending is not None and pending.status == AgreementStatus.SIGNED:
            raise BaaError("An agreement is already signed and awaits Sealpost's countersignature.")
        if pending is not None and pending.document_id == document.pk:
            return pending
        if pending is None:
            agreement = Agreement(tenant=tenant, document=document, created_by=created_by)
        else:
            agreement = pending
            agreement.document = document
        agreement.save()
        record(
            tenant=tenant,
            action="baa.drafted",
            actor=actor,
            target=Target.of(agreement),
            details={"document_version": document.version, "document_sha256": document.sha256},
        )
    return agreement


def _clean_signature_text(value: str, field: str, label: str) -> str:
    value = " ".join((value or "").split())
    if not value:
        raise BaaError(f"Give the {label}.", field)
    if len(value) > 200:
        raise BaaError(f"The {label} is too long (200 characters at most).", field)
    return value


def agreement_sign(
    *,
    tenant: Organisation,
    actor: Actor,
    agreement: Agreement,
    signed_by: User,
    signer_name: str,
    signer_title: str,
    signer_organisation: str,
    document_sha256: str,
    ip: str | None,
    now: datetime | None = None,
) -> Agreement:
    """The covered entity's electronic signature; Sealpost countersigns in the same transaction
    (``agreement_countersign``). Returns the agreement, active. ``document_sha256`` is the hash
    of the text the signer was shown: a mismatch (a newer version was published meanwhile) is
    refused rather than signing a text they did not see."""
    require_tenant_is_current(tenant)
    name = _clean_signature_text(signer_name, "signer_name", "signer's name")
    title = _clean_signature_text(signer_title, "signer_title", "signer's title")
    organisation = _clean_signature_text(signer_organisation, "signer_organisation", "organisation's name")
    now = now or timezone.now()
    with transaction.atomic():
        agreement = _locked(tenant, agreement)
        if agreement.status != AgreementStatus.DRAFT:
            raise BaaError("This agreement is already signed; it cannot be signed again.")
        if document_sha256 != agreement.document.sha256:
            raise BaaError("The agreement text changed since the page was opened; read it again and sign.")
        agreement.status = AgreementStatus.SIGNED
        agreement.signed_by = signed_by
        agreement.signer_name = name
        agreement.signer_title = title
        agreement.signer_organisation = organisation
        agreement.signed_at = now
        agreement.signer_ip = ip or None
        agreement.signed_sha256 = agreement.document.sha256
        agreement.save()
        record(
            tenant=tenant,
            action="baa.signed",
            actor=actor,
            target=Target.of(agreement),
            details={"document_version": agreement.document.version, "document_sha256": agreement.signed_sha256},
        )
        return agreement_countersign(tenant=tenant, agreement=agreement, now=now)


def _add_term(start: date) -> date:
    return start + timedelta(days=settings.BAA_TERM_DAYS)


def agreement_countersign(*, tenant: Organisation, agreement: Agreement, now: datetime | None = None) -> Agreement:
    """Sealpost's countersignature: signed → active, effective today for ``BAA_TERM_DAYS``.
    The organisation's previously active agreement, if any, is terminated as superseded first
    (one active agreement per organisation is also a database constraint)."""
    require_tenant_is_current(tenant)
    now = now or timezone.now()
    actor = system_actor(COUNTERSIGN_ACTOR)
    with transaction.atomic():
        agreement = _locked(tenant, agreement)
        if agreement.status != AgreementStatus.SIGNED:
            raise BaaError("Only a signed agreement can be countersigned.")
        previous = (
            Agreement.objects.for_tenant(tenant)
            .select_for_update()
            .filter(status=AgreementStatus.ACTIVE)
            .exclude(pk=agreement.pk)
            .first()
        )
        if previous is not None:
            _terminate(tenant, actor, previous, SUPERSEDED_REASON, None, now, superseded_by=agreement)
        today = utc_date(now)
        agreement.status = AgreementStatus.ACTIVE
        agreement.countersigner_name = settings.BAA_COUNTERSIGNER_NAME
        agreement.countersigner_title = settings.BAA_COUNTERSIGNER_TITLE
        agreement.countersigned_at = now
        agreement.effective_date = today
        agreement.expiry_date = _add_term(today)
        agreement.save()
        record(
            tenant=tenant,
            action="baa.activated",
            actor=actor,
            target=Target.of(agreement),
            details={
                "document_version": agreement.document.version,
                "effective_date": agreement.effective_date.isoformat(),
                "expiry_date": agreement.expiry_date.isoformat(),
            },
        )
    return agreement


def _terminate(
    tenant: Organisation,
    actor: Actor,
    agreement: Agreement,
    reason: str,
    user: User | None,
    now: datetime,
    superseded_by: Agreement | None = None,
) -> Agreement:
    agreement.status = AgreementStatus.TERMINATED
    agreement.terminated_at = now
    agreement.termination_date = utc_date(now)
    agreement.termination_reason = reason
    agreement.terminated_by = user
    agreement.save()
    details: dict[str, Any] = {"document_version": agreement.document.version, "superseded": superseded_by is not None}
    if superseded_by is not None:
        details["superseded_by"] = str(superseded_by.pk)
    # The reason is free text written by a person: it stays on the agreement, not in the log.
    record(tenant=tenant, action="baa.terminated", actor=actor, target=Target.of(agreement), details=details)
    return agreement


def agreement_terminate(
    *,
    tenant: Organisation,
    actor: Actor,
    agreement: Agreement,
    reason: str,
    terminated_by: User | None,
    now: datetime | None = None,
) -> Agreement:
    """An admin ends an active agreement (the view requires a fresh passkey step-up). PHI stops
    at once: the gate only admits active agreements."""
    require_tenant_is_current(tenant)
    reason = (reason or "").strip()
    if not reason:
        raise BaaError("Say why the agreement is terminated.", "reason")
    if len(reason) > MAX_REASON_LENGTH:
        raise BaaError(f"The reason is too long ({MAX_REASON_LENGTH} characters at most).", "reason")
    with transaction.atomic():
        agreement = _locked(tenant, agreement)
        if agreement.status != AgreementStatus.ACTIVE:
            raise BaaError("Only an active agreement can be terminated.")
        return _terminate(tenant, actor, agreement, reason, terminated_by, now or timezone.now())


def agreement_expire_due(*, tenant: Organisation, now: datetime | None = None) -> int:
    """Marks the organisation's active agreement expired once its expiry date has come; returns
    how many were marked (0 or 1). The gate refuses by date already; this keeps the status and
    the audit log in step with it."""
    require_tenant_is_current(tenant)
    now = now or timezone.now()
    today = utc_date(now)
    expired = 0
    with transaction.atomic():
        due = (
            Agreement.objects.for_tenant(tenant)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("document")
            .filter(status=AgreementStatus.ACTIVE, expiry_date__lte=today)
        )
        for agreement in due:
            agreement.status = AgreementStatus.EXPIRED
            agreement.expired_at = now
            agreement.save(update_fields=["status", "expired_at", "updated_at"])
            record(
                tenant=tenant,
                action="baa.expired",
                actor=system_actor(EXPIRY_ACTOR),
                target=Target.of(agreement),
                details={
                    "document_version": agreement.document.version,
                    "expiry_date": agreement.expiry_date.isoformat() if agreement.expiry_date else None,
                },
            )
            expired += 1
    return expired


def agreement_download_record(*, tenant: Organisation, actor: Actor, agreement: Agreement) -> None:
    """The signed copy was downloaded."""
    require_tenant_is_current(tenant)
    record(
        tenant=tenant,
        action="baa.downloaded",
        actor=actor,
        target=Target.of(agreement),
        details={"document_version": agreement.document.version, "status": agreement.status},
    )


# --- Sub-processors -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SubProcessorInput:
    name: str
    purpose: str
    handles_phi: bool
    baa_status: str
    baa_date: date | None


SUBPROCESSOR_FIELDS = ("name", "purpose", "handles_phi", "baa_status", "baa_date")


def _clean_subprocessor(tenant: Organisation, data: SubProcessorInput, exclude_pk: Any = None) -> SubProcessorInput:
    name = " ".join((data.name or "").split())
    purpose = " ".join((data.purpose or "").split())
    if not name:
        raise BaaError("Give the sub-processor's name.", "name")
    if len(name) > 200:
        raise BaaError("The name is too long (200 characters at most).", "name")
    if not purpose:
        raise BaaError("Say what the sub-processor does for you.", "purpose")
    if len(purpose) > 300:
        raise BaaError("The purpose is too long (300 characters at most).", "purpose")
    if data.baa_status not in BaaStatus.values:
        raise BaaError("Choose a BAA status from the list.", "baa_status")
    if data.handles_phi and data.baa_status == BaaStatus.NOT_REQUIRED:
        raise BaaError(
            "A sub-processor that handles PHI needs a business associate agreement (45 CFR 164.502(e)).", "baa_status"
        )
    if data.baa_status in (BaaStatus.SIGNED, BaaStatus.PENDING) and data.baa_date is None:
        raise BaaError("Give the date the agreement was signed (or, while pending, requested).", "baa_date")
    baa_date = data.baa_date if data.baa_status in (BaaStatus.SIGNED, BaaStatus.PENDING) else None
    taken = SubProcessor.objects.for_tenant(tenant).filter(name__iexact=name)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise BaaError("A sub-processor with this name is already listed.", "name")
    return SubProcessorInput(name, purpose, data.handles_phi, data.baa_status, baa_date)


def subprocessor_add(*, tenant: Organisation, actor: Actor, data: SubProcessorInput) -> SubProcessor:
    require_tenant_is_current(tenant)
    with transaction.atomic():
        clean = _clean_subprocessor(tenant, data)
        subprocessor = SubProcessor(tenant=tenant, **{field: getattr(clean, field) for field in SUBPROCESSOR_FIELDS})
        subprocessor.save()
        record(
            tenant=tenant,
            action="subprocessor.added",
            actor=actor,
            target=Target.of(subprocessor),
            details={"handles_phi": clean.handles_phi, "baa_status": clean.baa_status},
        )
    return subprocessor


def subprocessor_update(
    *, tenant: Organisation, actor: Actor, subprocessor: SubProcessor, data: SubProcessorInput
) -> SubProcessor:
    require_tenant_is_current(tenant)
    with transaction.atomic():
        subprocessor = SubProcessor.objects.for_tenant(tenant).select_for_update().get(pk=subprocessor.pk)
        clean = _clean_subprocessor(tenant, data, exclude_pk=subprocessor.pk)
        changed = [field for field in SUBPROCESSOR_FIELDS if getattr(subprocessor, field) != getattr(clean, field)]
        if not changed:
            return subprocessor
        for field in changed:
            setattr(subprocessor, field, getattr(clean, field))
        subprocessor.save(update_fields=[*changed, "updated_at"])
        record(
            tenant=tenant,
            action="subprocessor.updated",
            actor=actor,
            target=Target.of(subprocessor),
            details={"fields": changed, "handles_phi": clean.handles_phi, "baa_status": clean.baa_status},
        )
    return subprocessor


def subprocessor_remove(*, tenant: Organisation, actor: Actor, subprocessor: SubProcessor) -> None:
    require_tenant_is_current(tenant)
    with transaction.atomic():
        target = Target.of(subprocessor)
        deleted, _ = SubProcessor.objects.for_tenant(tenant).filter(pk=subprocessor.pk).delete()
        if deleted:
            record(tenant=tenant, action="subprocessor.removed", actor=actor, target=target)
