"""Inbound delivery reports: parsing of DSNs (RFC 3464) and ARF complaints (RFC 5965).

``parse_report(raw)`` reads the raw bytes of one inbound message with Python's ``email``
package (``policy.default``) and never raises: anything it cannot read is a report of kind
``unknown`` with a ``problem`` code. It finds:

- a **DSN**: ``multipart/report; report-type=delivery-status`` (or ``global-delivery-status``),
  one entry per recipient block of its ``message/delivery-status`` part (``Final-Recipient``,
  ``Original-Recipient``, ``Action``, ``Status``, ``Diagnostic-Code``);
- an **ARF report**: ``multipart/report; report-type=feedback-report``, the fields of its
  ``message/feedback-report`` part (``Feedback-Type``, ``Original-Rcpt-To``);
- in both, the **returned original message** (``message/rfc822`` or ``text/rfc822-headers``):
  its ``Message-ID`` and ``To`` addresses. A Message-ID we made
  (``delivery.mime.message_id_for``) opens to the organisation and message it names
  (``message_ref_from_message_id``); any other is ignored.

Nothing here trusts what it read: ``delivery.inbound_services`` routes the report to a tenant
and checks that the recipient the report names is the message's contact before anything
changes. The values hold addresses and server text (PHI): they are compared, never logged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser, HeaderParser
from email.utils import getaddresses
from typing import Any

from delivery.mime import MessageRef, message_ref_from_message_id

DSN = "dsn"
ARF = "arf"
UNKNOWN = "unknown"

# Problem codes (kind ``unknown``, or a report we could read only in part).
NOT_A_REPORT = "not_a_report"
UNKNOWN_REPORT_TYPE = "unknown_report_type"
NO_STATUS_PART = "no_status_part"
NO_RECIPIENTS = "no_recipients"
NO_FEEDBACK_TYPE = "no_feedback_type"
MALFORMED = "malformed"

DSN_REPORT_TYPES = frozenset({"delivery-status", "global-delivery-status"})
ARF_REPORT_TYPE = "feedback-report"
STATUS_PARTS = frozenset({"message/delivery-status", "message/global-delivery-status"})
FEEDBACK_PART = "message/feedback-report"
ORIGINAL_PARTS = frozenset({"message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers"})
# A report lists a handful of recipients; more than this is not a report we act on.
MAX_RECIPIENTS = 100
# Field values longer than this are cut (they are stored encrypted in the raw message anyway).
MAX_FIELD = 998
# A report names one message; a few candidates at most are looked at.
MAX_REFS = 5

_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_ACTION = re.compile(r"^[a-z-]{1,16}$")
_FEEDBACK_TYPE = re.compile(r"^[a-z0-9-]{1,32}$")
# A msg-id as it appears in Message-ID, In-Reply-To and References.
_MSG_ID = re.compile(r"<[^<>\s@]{1,200}@[^<>\s@]{1,253}>")


@dataclass(frozen=True)
class ReportRecipient:
    """One per-recipient block of a DSN (addresses without their ``rfc822;`` type)."""

    final_recipient: str
    original_recipient: str = ""
    action: str = ""  # failed, delayed, delivered, relayed, expanded (lower case)
    status: str = ""  # the enhanced status code, e.g. "5.1.1"; "" when missing or malformed
    diagnostic_code: str = ""  # the remote server's text: may name the address; never logged

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(a for a in (self.final_recipient, self.original_recipient) if a)

    @property
    def failed(self) -> bool:
        return self.action == "failed"

    @property
    def permanent(self) -> bool:
        return self.failed and self.status.startswith("5.")


@dataclass(frozen=True)
class ParsedReport:
    kind: str  # DSN, ARF or UNKNOWN
    problem: str = ""  # a problem code for UNKNOWN (and for reports read in part)
    recipients: tuple[ReportRecipient, ...] = ()  # DSN
    feedback_type: str = ""  # ARF, lower case (abuse, fraud, not-spam, virus, other, ...)
    original_rcpt_to: tuple[str, ...] = ()  # ARF Original-Rcpt-To
    original_message_id: str = ""  # the returned original's Message-ID
    original_to: tuple[str, ...] = ()  # the returned original's To addresses
    message_refs: tuple[MessageRef, ...] = field(default=())  # ours among the ids found

    @property
    def message_ref(self) -> MessageRef | None:
        return self.message_refs[0] if self.message_refs else None

    @property
    def recipient_addresses(self) -> tuple[str, ...]:
        """Every address the report says it is about (for matching against the contact)."""
        if self.kind == DSN:
            return tuple(dict.fromkeys(a for r in self.recipients for a in r.addresses))
        if self.kind == ARF:
            return tuple(dict.fromkeys((*self.original_rcpt_to, *self.original_to)))
        return ()


def _text(value: Any) -> str:
    return " ".join(str(value or "").split())[:MAX_FIELD]


def _typed_address(value: Any) -> str:
    """``rfc822; patient@example.test`` → ``patient@example.test`` (RFC 3464 address-type)."""
    text = _text(value)
    kind, semicolon, address = text.partition(";")
    if not semicolon:
        address = kind
    elif kind.strip().lower() not in ("rfc822", "utf-8"):
        return ""
    return _bare_address(address)


def _bare_address(value: str) -> str:
    address = value.strip().strip("<>").strip()
    return address if "@" in address and " " not in address else ""


def _addresses(value: Any) -> tuple[str, ...]:
    found = [address for _, address in getaddresses([_text(value)]) if "@" in address]
    return tuple(dict.fromkeys(found))


def _status(value: Any) -> str:
    match = _STATUS.match(_text(value))
    return ".".join(match.groups()) if match else ""


def _blocks(part: Message) -> list[Message]:
    """The header blocks of a ``message/delivery-status`` or ``message/feedback-report`` part.
    The email package parses known ones itself; others are read here, block by block."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8", "replace")
    text = str(payload or "").replace("\r\n", "\n")
    parser = HeaderParser(policy=policy.default)
    return [parser.parsestr(chunk.strip("\n") + "\n") for chunk in re.split(r"\n\s*\n", text) if chunk.strip()]


def _original_headers(part: Message) -> Message | None:
    if part.get_content_type() in ("text/rfc822-headers", "message/global-headers"):
        payload = part.get_payload(decode=True)
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(part.get_payload())
        return HeaderParser(policy=policy.default).parsestr(text)
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    return None


def _message_refs(original: Message | None, report: Message) -> tuple[MessageRef, ...]:
    """The messages our Message-IDs name (``delivery.mime.message_ref_from_message_id``: sealed,
    so only ids we made count): the returned original's first; then the report's own
    In-Reply-To and References (some MTAs set them)."""
    candidates: list[str] = []
    if original is not None:
        candidates.append(_text(original.get("Message-ID")))
    candidates += [_text(report.get("In-Reply-To")), _text(report.get("References"))]
    refs: list[MessageRef] = []
    for candidate in candidates:
        for match in _MSG_ID.finditer(candidate):
            ref = message_ref_from_message_id(match.group(0))
            if ref is not None and ref not in refs:
                refs.append(ref)
    return tuple(refs[:MAX_REFS])


def _find(report: Message, types: frozenset[str]) -> Message | None:
    for part in report.iter_parts() if isinstance(report, EmailMessage) else report.get_payload():
        if isinstance(part, Message) and part.get_content_type() in types:
            return part
    return None


def _dsn(report: Message, original: Message | None, refs: tuple[MessageRef, ...]) -> ParsedReport:
    status_part = _find(report, STATUS_PARTS)
    common: dict[str, Any] = {"original_message_id": _original_id(original), "original_to": _original_to(original)}
    if status_part is None:
        return ParsedReport(UNKNOWN, NO_STATUS_PART, message_refs=refs, **common)
    # The first block is about the whole message (Reporting-MTA, ...); then one per recipient.
    recipients = []
    for block in _blocks(status_part)[1 : MAX_RECIPIENTS + 1]:
        final = _typed_address(block.get("Final-Recipient"))
        if not final:
            continue  # RFC 3464 requires it; a block without one names nobody we can check
        action = _text(block.get("Action")).lower()
        recipients.append(
            ReportRecipient(
                final_recipient=final,
                original_recipient=_typed_address(block.get("Original-Recipient")),
                action=action if _ACTION.match(action) else "",
                status=_status(block.get("Status")),
                diagnostic_code=_text(block.get("Diagnostic-Code")),
            )
        )
    if not recipients:
        return ParsedReport(UNKNOWN, NO_RECIPIENTS, message_refs=refs, **common)
    return ParsedReport(DSN, recipients=tuple(recipients), message_refs=refs, **common)


def _arf(report: Message, original: Message | None, refs: tuple[MessageRef, ...]) -> ParsedReport:
    feedback_part = _find(report, frozenset({FEEDBACK_PART}))
    common: dict[str, Any] = {"original_message_id": _original_id(original), "original_to": _original_to(original)}
    blocks = _blocks(feedback_part) if feedback_part is not None else []
    if not blocks:
        return ParsedReport(UNKNOWN, NO_STATUS_PART, message_refs=refs, **common)
    fields = blocks[0]
    feedback_type = _text(fields.get("Feedback-Type")).lower()
    if not _FEEDBACK_TYPE.match(feedback_type):
        return ParsedReport(UNKNOWN, NO_FEEDBACK_TYPE, message_refs=refs, **common)
    rcpt_to = tuple(
        dict.fromkeys(a for value in fields.get_all("Original-Rcpt-To") or () if (a := _bare_address(_text(value))))
    )
    return ParsedReport(ARF, feedback_type=feedback_type, original_rcpt_to=rcpt_to, message_refs=refs, **common)


def _original_id(original: Message | None) -> str:
    return _text(original.get("Message-ID")) if original is not None else ""


def _original_to(original: Message | None) -> tuple[str, ...]:
    if original is None:
        return ()
    return tuple(dict.fromkeys(a for value in original.get_all("To") or () for a in _addresses(value)))


def parse_report(raw: bytes) -> ParsedReport:
    """What ``raw`` reports; never raises (a message it cannot read is ``UNKNOWN``)."""
    try:
        report = BytesParser(policy=policy.default).parsebytes(raw)
        if report.get_content_type() != "multipart/report" or not report.is_multipart():
            return ParsedReport(UNKNOWN, NOT_A_REPORT, message_refs=_message_refs(None, report))
        original_part = _find(report, ORIGINAL_PARTS)
        original = _original_headers(original_part) if original_part is not None else None
        refs = _message_refs(original, report)
        report_type = str(report.get_param("report-type") or "").lower()
        if report_type in DSN_REPORT_TYPES:
            return _dsn(report, original, refs)
        if report_type == ARF_REPORT_TYPE:
            return _arf(report, original, refs)
        return ParsedReport(UNKNOWN, UNKNOWN_REPORT_TYPE, message_refs=refs)
    except Exception:  # hostile input must never crash the listener
        return ParsedReport(UNKNOWN, MALFORMED)
