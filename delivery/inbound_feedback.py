"""Bounces and complaints that arrive after sending, applied to their campaign message: one
service for every source (inbound DSNs and ARF reports, ``delivery.inbound_services``; Amazon
SES notifications, ``delivery.ses.ses_event_apply``).

- ``message_for_ref`` finds the message a Message-ID names (``delivery.mime.MessageRef``: the
  organisation and row, sealed so only ids we made open) and the organisation it belongs to.
- ``recipient_matching`` is the check that makes a report count: the address the report names
  must be the message's contact's (compared inside the tenant, on the decrypted and normalised
  address). A report about someone else changes nothing.
- ``bounce_record``: a permanent failure moves a ``sent`` (or ``unknown``) message to
  ``bounced``; a code that says the mailbox is gone (``smtp_replies.suppresses``: 5.1.x, 5.2.1)
  suppresses the address (``hard_bounce``).
- ``complaint_record``: an abuse complaint suppresses the address (``complaint``, which staff
  cannot lift) and is a ``complained`` event in reporting (once per message).

Suppressions are recorded with source ``delivery`` and the component as the actor. Each service
audits what it did (ids and codes, never addresses or server text) in the caller's transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from audit.services import Actor, Target, record
from campaigns.messages import message_mark
from campaigns.models import Message, MessageStatus
from delivery.mime import MessageRef
from delivery.smtp_replies import suppresses
from reporting.models import EventKind
from reporting.sources import message_event_record
from tenants.context import require_tenant_is_current
from tenants.models import Organisation
from tenants.tasks import active_organisation

if TYPE_CHECKING:
    from collections.abc import Iterable

BOUNCE_ACTION = "delivery.bounce_recorded"
COMPLAINT_ACTION = "delivery.complaint_recorded"
# Feedback types that are a complaint about the message (RFC 5965 §7.3; SES passes the ISP's).
COMPLAINT_FEEDBACK_TYPES = frozenset({"abuse", "fraud"})
_FEEDBACK_TYPE_UNSAFE = re.compile(r"[^a-z0-9-]")
# A bounce moves the message from these (RFC 3464 failures arrive after the MX said 250).
BOUNCEABLE = (MessageStatus.SENT, MessageStatus.UNKNOWN)


@dataclass(frozen=True)
class FeedbackResult:
    message_bounced: bool = False
    suppression_reason: str = ""


def organisation_for_ref(ref: MessageRef) -> Organisation | None:
    """The active organisation a Message-ID names (no tenant context needed: not tenant data)."""
    return active_organisation(ref.tenant_id)


def message_for_ref(*, tenant: Organisation, ref: MessageRef) -> Message | None:
    """The message ``ref`` names, if it is ``tenant``'s (run inside its tenant_context)."""
    require_tenant_is_current(tenant)
    if ref.tenant_id != tenant.pk:
        return None
    return Message.objects.for_tenant(tenant).select_related("contact").filter(pk=ref.message_id).first()


def _normalised(address: str) -> str:
    return address.strip().strip("<>").strip().casefold()


def recipient_matching(*, tenant: Organisation, message: Message, addresses: Iterable[str]) -> str | None:
    """The one of ``addresses`` that is the message's contact's address (None: no match, or the
    contact was removed). Compared case-insensitively on the whole address."""
    require_tenant_is_current(tenant)
    contact = message.contact
    if contact is None:
        return None
    expected = _normalised(contact.email or "")
    if not expected:
        return None
    for address in addresses:
        if _normalised(address) == expected:
            return address
    return None


def _suppress(*, tenant: Organisation, actor: Actor, email: str, reason: str) -> None:
    from consent.models import ConsentSource
    from consent.services import suppression_add

    suppression_add(tenant=tenant, actor=actor, email=email, reason=reason, source=ConsentSource.DELIVERY)


def bounce_record(
    *,
    tenant: Organisation,
    actor: Actor,
    message: Message,
    email: str,
    status: str,
    permanent: bool,
    via: str,
    suppress: bool | None = None,
) -> FeedbackResult:
    """A bounce of ``message`` to ``email`` (already matched to its contact) with the enhanced
    ``status``. ``permanent``: the message is bounced (from sent or unknown). ``suppress``
    defaults to what the status says (5.1.x, 5.2.1); SES passes its own verdict. ``via`` names
    the source (``dsn``, ``ses``) in the audit event."""
    from consent.models import SuppressionReason

    require_tenant_is_current(tenant)
    bounced = False
    if permanent:
        for from_status in BOUNCEABLE:
            if message_mark(
                tenant=tenant,
                message_id=message.pk,
                owner="",
                from_status=from_status,
                to_status=MessageStatus.BOUNCED,
                smtp_enhanced=status[:16],
            ):
                bounced = True
                break
    should_suppress = suppresses(status) if suppress is None else suppress
    if should_suppress:
        _suppress(tenant=tenant, actor=actor, email=email, reason=SuppressionReason.HARD_BOUNCE)
    result = FeedbackResult(bounced, SuppressionReason.HARD_BOUNCE if should_suppress else "")
    record(
        tenant=tenant,
        action=BOUNCE_ACTION,
        actor=actor,
        target=Target("message", str(message.pk)),
        details={
            "via": via,
            "status_code": status[:16],
            "permanent": permanent,
            "message_bounced": bounced,
            "suppressed": should_suppress,
            "campaign_id": str(message.campaign_id),
        },
    )
    return result


def complaint_record(
    *, tenant: Organisation, actor: Actor, message: Message, email: str, feedback_type: str, via: str
) -> FeedbackResult:
    """A complaint about ``message`` from ``email`` (already matched to its contact). An abuse
    (or fraud) complaint suppresses the address; other feedback (``not-spam``, ``virus``, ...)
    is recorded only."""
    from consent.models import SuppressionReason

    require_tenant_is_current(tenant)
    # SES leaves the type out when the ISP gave none: a complaint all the same.
    feedback = _FEEDBACK_TYPE_UNSAFE.sub("", feedback_type.lower())[:32] or "abuse"
    should_suppress = feedback in COMPLAINT_FEEDBACK_TYPES
    if should_suppress:
        _suppress(tenant=tenant, actor=actor, email=email, reason=SuppressionReason.COMPLAINT)
        # Reporting counts one complaint per message, however many reports name it.
        message_event_record(
            tenant=tenant, kind=EventKind.COMPLAINED, message_id=message.pk, detail=feedback, once_per_message=True
        )
    record(
        tenant=tenant,
        action=COMPLAINT_ACTION,
        actor=actor,
        target=Target("message", str(message.pk)),
        details={
            "via": via,
            "feedback_type": feedback,
            "suppressed": should_suppress,
            "campaign_id": str(message.campaign_id),
        },
    )
    return FeedbackResult(False, SuppressionReason.COMPLAINT if should_suppress else "")
