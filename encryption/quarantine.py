"""Quarantine: messages the protection policy held for a compliance officer's review.

The delivery pipeline (issue 10) calls ``quarantine_hold`` when ``protection_decide`` answers
``quarantine``; a compliance officer then releases the message (it may be sent) or rejects it
(it is never sent). Decisions are compare-and-set from ``held``, so two officers cannot both
decide, and every step is audited. Audit details hold ids, finding types and reason codes only;
subject and bodies are stored encrypted and appear nowhere else.

A campaign item (``source = campaign``, ``source_ref`` = the ``campaigns.Message`` id) is moved
on in the decision's own transaction (``campaigns.messages.message_quarantine_decided``):
released → the message is ``queued`` again, due now, and its campaign is dispatched once this
commits; the pipeline renders it afresh and sends it only if the content is still what was
reviewed, its freshly signed links aside (``delivery.pipeline``); rejected → ``blocked``
(``quarantine_rejected``), so the campaign can complete. The stored copy is what the officer
reviews and what the pipeline compares with; it is never sent itself (the send is re-rendered,
DKIM-signed and protected as decided at send time).
"""

from __future__ import annotations

from functools import partial

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import Actor, Target, actor_for_user, record, system_actor
from authn.models import User
from encryption.dlp.findings import LEVELS, Classification
from encryption.models import QuarantinedMessage, QuarantineSource, QuarantineStatus
from encryption.protection import QUARANTINE, ProtectionDecision
from segments.models import Contact
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

PIPELINE = system_actor("encryption.protection")
MAX_NOTE_LENGTH = 1000


class QuarantineError(ValidationError):
    """A review step that is not allowed (already decided); the message holds no PHI."""


def quarantine_hold(
    *,
    tenant: Organisation,
    contact: Contact | None,
    subject: str,
    text: str,
    html: str | None,
    classification: Classification,
    decision: ProtectionDecision,
    source_ref: str = "",
    source: str = QuarantineSource.CAMPAIGN,
    purpose: str = "",
    actor: Actor = PIPELINE,
) -> QuarantinedMessage:
    """Store a held message, encrypted. ``classification`` is of ``text`` (the plain-text
    body): its findings are kept as offsets into it. Only a ``quarantine`` decision is held."""
    require_tenant_is_current(tenant)
    if decision.action != QUARANTINE:
        raise ValueError(f"Only a quarantine decision is held, not {decision.action!r}.")
    if classification.level not in LEVELS:
        raise ValueError("Unknown classification level.")
    if source not in QuarantineSource.values:
        raise ValueError("Unknown quarantine source.")
    if len(source_ref) > 64:
        raise ValueError("source_ref is an id of at most 64 characters.")
    if contact is not None and contact.tenant_id != tenant.pk:
        raise ValueError("The contact belongs to another organisation.")
    findings = [finding.as_json() for finding in classification.findings]
    if any(not 0 <= item["start"] < item["end"] <= len(text) for item in findings):
        raise ValueError("A finding's offsets fall outside the text it was found in.")
    with transaction.atomic():
        item = QuarantinedMessage(
            tenant=tenant,
            contact=contact,
            source=source,
            source_ref=source_ref,
            purpose=purpose,
            subject=subject,
            text=text,
            html=html,
            level=classification.level,
            findings=findings,
            reasons=[reason.as_json() for reason in decision.reasons],
        )
        item.save()
        record(
            tenant=tenant,
            action="quarantine.held",
            actor=actor,
            target=Target.of(item),
            details={
                "level": classification.level,
                "finding_types": sorted(classification.types),
                "reasons": list(decision.codes),
                "source": source,
            },
        )
    return item


def quarantine_view_record(*, tenant: Organisation, actor: Actor, item: QuarantinedMessage) -> None:
    """Every showing of a held message's content is audited (the item id only)."""
    require_tenant_is_current(tenant)
    record(tenant=tenant, action="quarantine.viewed", actor=actor, target=Target.of(item))


def _decide(
    *, tenant: Organisation, actor: User, item: QuarantinedMessage, note: str, status: str, action: str
) -> QuarantinedMessage:
    require_tenant_is_current(tenant)
    note = (note or "").strip()
    if len(note) > MAX_NOTE_LENGTH:
        raise QuarantineError(f"The note is at most {MAX_NOTE_LENGTH} characters.")
    now = timezone.now()
    with transaction.atomic():
        claimed = (
            QuarantinedMessage.objects.for_tenant(tenant)
            .filter(pk=item.pk, status=QuarantineStatus.HELD)
            .update(status=status, decided_by=actor, decided_at=now, decision_note=note)
        )
        if claimed != 1:
            raise QuarantineError("This message was already released or rejected.")
        details = _move_campaign_message(tenant, item, released=status == QuarantineStatus.RELEASED)
        record(tenant=tenant, action=action, actor=actor_for_user(actor), target=Target.of(item), details=details)
    item.status, item.decided_by, item.decided_at, item.decision_note = status, actor, now, note
    return item


def _move_campaign_message(tenant: Organisation, item: QuarantinedMessage, *, released: bool) -> dict[str, int | str]:
    """The campaign message behind ``item`` follows the decision (inside the caller's
    transaction); its campaign is dispatched after commit, so a released message goes out (and
    a campaign whose last held message was rejected completes) without waiting for the
    every-minute ``delivery.dispatch_due``. Returns the audit details (ids and a status)."""
    if item.source != QuarantineSource.CAMPAIGN or not (item.source_ref.isascii() and item.source_ref.isdigit()):
        return {}
    from campaigns.dispatch import campaign_dispatch
    from campaigns.messages import message_quarantine_decided

    moved = message_quarantine_decided(tenant=tenant, message_id=int(item.source_ref), released=released)
    if moved is None:
        return {}
    campaign_id, message_status = moved
    transaction.on_commit(partial(campaign_dispatch, tenant_id=tenant.pk, campaign_id=campaign_id))
    return {"message": int(item.source_ref), "message_status": message_status}


def quarantine_release(
    *, tenant: Organisation, actor: User, item: QuarantinedMessage, note: str = ""
) -> QuarantinedMessage:
    """Release a held message: it may now be sent. A campaign message is queued again; the
    delivery pipeline sends it as ``protection_decide(..., released=True)`` decides: the hold no
    longer applies, every other rule (verified TLS or escrow, a block) still does."""
    return _decide(
        tenant=tenant,
        actor=actor,
        item=item,
        note=note,
        status=QuarantineStatus.RELEASED,
        action="quarantine.released",
    )


def quarantine_reject(
    *, tenant: Organisation, actor: User, item: QuarantinedMessage, note: str = ""
) -> QuarantinedMessage:
    """Reject a held message: it is never sent (a campaign message becomes ``blocked``)."""
    return _decide(
        tenant=tenant,
        actor=actor,
        item=item,
        note=note,
        status=QuarantineStatus.REJECTED,
        action="quarantine.rejected",
    )
