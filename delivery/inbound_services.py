"""Inbound DSNs and ARF complaints: stored encrypted, then applied to their campaign message.

1. ``inbound_report_receive(raw)`` (the SMTP listener, ``delivery.inbound_smtp``): parse
   (``delivery.inbound.parse_report``, never raises), find the organisation the report's
   Message-ID names (sealed: only ids we made open), store the raw message encrypted under that
   organisation's key (``InboundReport``; audited ``delivery.inbound_report_received``), and on
   commit queue ``delivery.inbound_report_process`` with ids only. A report that names no
   message of ours, or an organisation that is gone, is **dropped**: nothing is stored (there
   is no key to store it under) and only the reason is counted and logged.
2. ``inbound_report_process`` (the Celery task): read the report again from its stored raw
   message, check that the recipient it names is the message's contact
   (``inbound_feedback.recipient_matching``), and apply it with the services the SES path uses
   (``inbound_feedback.bounce_record`` / ``complaint_record``). Audited
   ``delivery.inbound_report_processed`` with the outcome and codes.

What a report does:

- DSN, a recipient with ``Action: failed`` and a 5.x.x status: the message is bounced (from
  ``sent`` or ``unknown``); 5.1.x (and 5.2.1) also suppress the address (``hard_bounce``).
- DSN, ``delayed`` (4.x.x), ``delivered``, ``relayed``, ``expanded``, or a failure without a
  5.x.x status: stored only.
- ARF with ``Feedback-Type: abuse`` (or ``fraud``): the address is suppressed (``complaint``).
  Other feedback types: stored only.
- Anything else that names one of our messages (a reply, a report we cannot read): stored as
  ``unrecognised``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import Target, record, system_actor
from delivery import inbound
from delivery.inbound_feedback import (
    FeedbackResult,
    bounce_record,
    complaint_record,
    message_for_ref,
    organisation_for_ref,
    recipient_matching,
)
from delivery.models import InboundReport, InboundReportKind, InboundReportOutcome
from tenants.context import require_tenant_is_current, tenant_context
from tenants.models import Organisation

logger = logging.getLogger(__name__)

INBOUND_ACTOR = system_actor("delivery.inbound")
RECEIVED_ACTION = "delivery.inbound_report_received"
PROCESSED_ACTION = "delivery.inbound_report_processed"

# Why a report was dropped (counted and logged; the report itself is gone).
NO_MESSAGE_REF = "no_message_ref"
UNKNOWN_ORGANISATION = "unknown_organisation"

Outcome = InboundReportOutcome


@dataclass(frozen=True)
class Intake:
    """What became of one inbound message: stored (``tenant_id``, ``report_id``) or dropped."""

    stored: bool
    reason: str = ""
    tenant_id: int | None = None
    report_id: str | None = None
    kind: str = ""


def _first(parsed: inbound.ParsedReport) -> inbound.ReportRecipient | None:
    return parsed.recipients[0] if parsed.recipients else None


def inbound_report_receive(raw: bytes, *, received_at: datetime | None = None, enqueue: bool = True) -> Intake:
    """Store one inbound message as a report of the organisation it names, or drop it."""
    parsed = inbound.parse_report(raw)
    ref = parsed.message_ref
    if ref is None:
        return Intake(False, NO_MESSAGE_REF, kind=parsed.kind)
    tenant = organisation_for_ref(ref)
    if tenant is None:
        return Intake(False, UNKNOWN_ORGANISATION, kind=parsed.kind)
    first = _first(parsed)
    with tenant_context(tenant):
        report = InboundReport(
            tenant=tenant,
            kind=parsed.kind,
            outcome=Outcome.PENDING if parsed.kind != InboundReportKind.UNKNOWN else Outcome.UNRECOGNISED,
            problem=parsed.problem,
            action=first.action if first else "",
            status_code=first.status if first else "",
            feedback_type=parsed.feedback_type,
            recipient_count=min(len(parsed.recipient_addresses), 32767),
            raw=InboundReport.raw_text(raw),
            size_bytes=len(raw),
            received_at=received_at or timezone.now(),
        )
        report.save()
        record(
            tenant=tenant,
            action=RECEIVED_ACTION,
            actor=INBOUND_ACTOR,
            target=Target.of(report),
            details={"kind": report.kind, "size_bytes": report.size_bytes, "problem": report.problem},
        )
        if enqueue and report.outcome == Outcome.PENDING:
            tenant_id, report_id = tenant.pk, str(report.pk)
            transaction.on_commit(lambda: _enqueue(tenant_id, report_id))
    return Intake(True, tenant_id=tenant.pk, report_id=str(report.pk), kind=parsed.kind)


def _enqueue(tenant_id: int, report_id: str) -> None:
    from delivery.inbound_tasks import inbound_report_process_task

    inbound_report_process_task.delay(tenant_id, report_id)


def inbound_report_get(*, tenant: Organisation, report_id: str) -> InboundReport | None:
    """One of ``tenant``'s reports, or None (another organisation's is the same as none)."""
    require_tenant_is_current(tenant)
    return InboundReport.objects.for_tenant(tenant).filter(pk=report_id).first()


def inbound_report_process(*, tenant: Organisation, report_id: str) -> InboundReport | None:
    """Check a pending report against its message and apply it (one transaction). A report
    that is not pending (processed already, unrecognised) is left as it is."""
    require_tenant_is_current(tenant)
    with transaction.atomic():
        report = InboundReport.objects.for_tenant(tenant).select_for_update().filter(pk=report_id).first()
        if report is None or report.outcome != Outcome.PENDING:
            return report
        parsed = inbound.parse_report(report.raw_bytes)
        _apply(tenant, report, parsed)
        report.processed_at = timezone.now()
        report.save(
            update_fields=[
                "outcome",
                "action",
                "status_code",
                "message",
                "message_bounced",
                "suppression_reason",
                "processed_at",
            ]
        )
        record(
            tenant=tenant,
            action=PROCESSED_ACTION,
            actor=INBOUND_ACTOR,
            target=Target.of(report),
            details=_processed_details(report),
        )
    return report


def _processed_details(report: InboundReport) -> dict[str, Any]:
    return {
        "kind": report.kind,
        "outcome": report.outcome,
        "status_code": report.status_code,
        "dsn_action": report.action,
        "feedback_type": report.feedback_type,
        "message_id": str(report.message_id) if report.message_id else None,
        "message_bounced": report.message_bounced,
        "suppression_reason": report.suppression_reason,
    }


def _apply(tenant: Organisation, report: InboundReport, parsed: inbound.ParsedReport) -> None:
    ref = parsed.message_ref
    message = message_for_ref(tenant=tenant, ref=ref) if ref is not None else None
    if message is None:
        report.outcome = Outcome.MESSAGE_NOT_FOUND
        return
    if parsed.kind == inbound.DSN:
        _apply_dsn(tenant, report, parsed, message)
    elif parsed.kind == inbound.ARF:
        _apply_arf(tenant, report, parsed, message)
    else:
        report.outcome = Outcome.UNRECOGNISED


def _apply_dsn(tenant: Organisation, report: InboundReport, parsed: inbound.ParsedReport, message: Any) -> None:
    # The block about our recipient; the others (a forward's, a list member's) are not ours.
    for recipient in parsed.recipients:
        email = recipient_matching(tenant=tenant, message=message, addresses=recipient.addresses)
        if email is not None:
            break
    else:
        report.outcome = Outcome.RECIPIENT_MISMATCH
        return
    report.message = message
    report.action, report.status_code = recipient.action, recipient.status
    if not recipient.permanent:
        report.outcome = Outcome.STORED_ONLY  # delayed, delivered, relayed, or no 5.x.x status
        return
    _record(
        report,
        bounce_record(
            tenant=tenant,
            actor=INBOUND_ACTOR,
            message=message,
            email=email,
            status=recipient.status,
            permanent=True,
            via="dsn",
        ),
    )


def _apply_arf(tenant: Organisation, report: InboundReport, parsed: inbound.ParsedReport, message: Any) -> None:
    email = recipient_matching(tenant=tenant, message=message, addresses=parsed.recipient_addresses)
    if email is None:
        # ISPs often redact the recipient (RFC 6590): such a complaint cannot be checked, so it
        # suppresses nobody; it stays stored for the organisation to see.
        report.outcome = Outcome.RECIPIENT_MISMATCH
        return
    report.message = message
    _record(
        report,
        complaint_record(
            tenant=tenant,
            actor=INBOUND_ACTOR,
            message=message,
            email=email,
            feedback_type=parsed.feedback_type,
            via="arf",
        ),
    )


def _record(report: InboundReport, result: FeedbackResult) -> None:
    report.message_bounced = result.message_bounced
    report.suppression_reason = result.suppression_reason
    changed = result.message_bounced or bool(result.suppression_reason)
    report.outcome = Outcome.APPLIED if changed else Outcome.STORED_ONLY
