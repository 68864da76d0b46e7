"""The local SMTP sink of the embedded default: accepts every message and files it in a Maildir.

It stands in for the outside world in development and demos, so the dev mailbox page can show
what Sealpost would have sent. Messages carry PHI, so only counts and Maildir keys are logged.
"""

from __future__ import annotations

import logging
import mailbox
import socket
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

logger = logging.getLogger(__name__)

ENVELOPE_FROM_HEADER = "X-Sealpost-Envelope-From"
ENVELOPE_TO_HEADER = "X-Sealpost-Envelope-To"
# The name the sink gives itself in its greeting; a fixed name skips aiosmtpd's getfqdn(),
# which can stall for seconds on machines without working reverse DNS.
SERVER_HOSTNAME = "sealpost-sink.localhost"
# aiosmtpd logs envelope addresses at INFO and every DATA line at DEBUG: PHI, so only its
# warnings (peer address and protocol errors) may through.
AIOSMTPD_LOGGER = "mail.log"


def open_maildir(path: Path) -> mailbox.Maildir:
    """The Maildir at ``path``, created (owner-only, it holds PHI) along with its parents."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return mailbox.Maildir(path, factory=None, create=True)


def _header_value(text: str) -> bytes:
    # SMTP commands are single lines already; stripping CR/LF again keeps a header injection
    # impossible whatever the client sent.
    return text.replace("\r", "").replace("\n", "").encode("utf-8", errors="replace")


def with_envelope_headers(content: bytes, mail_from: str, rcpt_tos: list[str]) -> bytes:
    """``content`` with the envelope prepended as headers and LF line endings (the Maildir
    convention; SMTP delivers CRLF)."""
    lines = [
        ENVELOPE_FROM_HEADER.encode("ascii") + b": " + _header_value(mail_from or "<>"),
        ENVELOPE_TO_HEADER.encode("ascii") + b": " + _header_value(", ".join(rcpt_tos)),
    ]
    return b"\n".join(lines) + b"\n" + content.replace(b"\r\n", b"\n")


class MaildirSinkHandler:
    """aiosmtpd handler: every accepted message becomes one Maildir entry."""

    def __init__(self, maildir: Path) -> None:
        self.maildir_path = maildir
        self._maildir = open_maildir(maildir)
        self.stored_count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        mail_from = envelope.mail_from or ""
        try:
            # Writing one small file is quicker than a thread hand-off; the sink is a dev tool.
            key = self._maildir.add(with_envelope_headers(content, mail_from, list(envelope.rcpt_tos)))
        except OSError as exc:
            # The error names a path at most, never the message; no traceback, which could.
            logger.error("smtp sink could not store a message", extra={"error": type(exc).__name__})
            return "451 Requested action aborted: local error in processing"
        self.stored_count += 1
        logger.info(
            "smtp sink stored a message",
            extra={"maildir_key": key, "recipient_count": len(envelope.rcpt_tos), "size_bytes": len(content)},
        )
        return "250 Message accepted for delivery"


def _ensure_bindable(host: str, port: int) -> None:
    # aiosmtpd reports a bind failure only after its whole ready timeout (5 s); a probe with the
    # same socket options asyncio uses fails at once, with the usual OSError.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def start_sink(host: str, port: int, maildir: Path, **smtp_parameters: Any) -> Controller:
    """Starts the sink on a background thread and returns its controller; ``stop()`` ends it.

    Raises ``OSError`` (or aiosmtpd's start-up error) when the address cannot be bound.
    """
    logging.getLogger(AIOSMTPD_LOGGER).setLevel(logging.WARNING)
    _ensure_bindable(host, port)
    controller = Controller(
        MaildirSinkHandler(maildir),
        hostname=host,
        port=port,
        server_hostname=SERVER_HOSTNAME,
        **smtp_parameters,
    )
    controller.start()
    return controller
