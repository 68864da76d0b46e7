"""Read side of the dev SMTP sink's Maildir, for the dev mailbox pages and tests."""

from __future__ import annotations

import mailbox
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path
from typing import cast

from django.conf import settings

from delivery.sink import ENVELOPE_FROM_HEADER, ENVELOPE_TO_HEADER, TRANSPORT_SECURITY_HEADER

# Keys made by mailbox.Maildir: "<seconds>.M<microseconds>P<pid>Q<counter>.<hostname>". Only
# characters a key can hold are accepted, so nothing path-like reaches the Maildir.
_MESSAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
_KEY_TIME = re.compile(r"(\d+)\.M(\d+)P")
DEFAULT_LIST_LIMIT = 200


class MessageNotFound(LookupError):
    """No message with that id in the dev Maildir."""


@dataclass(frozen=True, slots=True)
class MessageSummary:
    id: str
    sender: str
    recipients: str
    subject: str
    date: datetime | None
    size: int
    envelope_from: str
    envelope_to: str
    # How it reached the sink: "TLSv1.3 <cipher>", "none" (plaintext), or "" (stored before
    # the sink recorded it).
    transport_security: str = ""

    @property
    def over_tls(self) -> bool:
        return self.transport_security.startswith("TLS")


@dataclass(frozen=True, slots=True)
class MessageDetail:
    summary: MessageSummary
    headers: list[tuple[str, str]]
    text: str | None
    html: str | None


def is_valid_message_id(value: str) -> bool:
    return _MESSAGE_ID.fullmatch(value) is not None


def _open(maildir: Path | None) -> mailbox.Maildir | None:
    path = settings.SMTP_SINK_MAILDIR if maildir is None else maildir
    try:
        return mailbox.Maildir(path, factory=None, create=False)
    except mailbox.NoSuchMailboxError:
        return None  # the sink has not received anything yet


def _newest_first(key: str) -> tuple[int, int, str]:
    # The key records when the message arrived; sorting on it needs no file reads.
    match = _KEY_TIME.match(key)
    if match is None:
        return (0, 0, key)
    return (int(match.group(1)), int(match.group(2)), key)


def _date(message: EmailMessage) -> datetime | None:
    header = message["Date"]
    value: datetime | None = getattr(header, "datetime", None)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # "-0000" parses as naive: RFC 5322 says it is UTC
    return value


def _summary(key: str, raw: bytes, message: EmailMessage) -> MessageSummary:
    return MessageSummary(
        id=key,
        sender=str(message["From"] or ""),
        recipients=str(message["To"] or ""),
        subject=str(message["Subject"] or ""),
        date=_date(message),
        size=len(raw),
        envelope_from=str(message[ENVELOPE_FROM_HEADER] or ""),
        envelope_to=str(message[ENVELOPE_TO_HEADER] or ""),
        transport_security=str(message[TRANSPORT_SECURITY_HEADER] or ""),
    )


def mailbox_list(*, maildir: Path | None = None, limit: int = DEFAULT_LIST_LIMIT) -> list[MessageSummary]:
    """The newest ``limit`` messages, newest first (headers only are parsed)."""
    box = _open(maildir)
    if box is None:
        return []
    keys = sorted((key for key in box.iterkeys() if is_valid_message_id(key)), key=_newest_first, reverse=True)
    parser = BytesHeaderParser(policy=policy.default)
    summaries = []
    for key in keys[:limit]:
        try:
            raw = box.get_bytes(key)
        except KeyError:
            continue  # removed between listing and reading
        message = cast(EmailMessage, parser.parsebytes(raw))  # policy.default makes EmailMessage
        summaries.append(_summary(key, raw, message))
    return summaries


def _part_text(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or not isinstance(part, EmailMessage):
        return None
    try:
        content = part.get_content()
    except (LookupError, UnicodeError):
        # An unknown or lying charset: show the bytes as Latin-1 rather than nothing.
        payload = part.get_payload(decode=True)
        return payload.decode("latin-1") if isinstance(payload, bytes) else None
    return content if isinstance(content, str) else None


def mailbox_get(*, message_id: str, maildir: Path | None = None) -> MessageDetail:
    """One message: headers in order, its text part and its HTML part (either may be None)."""
    if not is_valid_message_id(message_id):
        raise MessageNotFound(message_id)
    box = _open(maildir)
    if box is None:
        raise MessageNotFound(message_id)
    try:
        raw = box.get_bytes(message_id)
    except KeyError:
        raise MessageNotFound(message_id) from None
    message = cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(raw))
    return MessageDetail(
        summary=_summary(message_id, raw, message),
        headers=[(name, str(value)) for name, value in message.items()],
        text=_part_text(message, "plain"),
        html=_part_text(message, "html"),
    )
