"""The local SMTP sink of the embedded default: accepts every message and files it in a Maildir.

It stands in for the outside world in development and demos, so the dev mailbox page can show
what Sealpost would have sent. Messages carry PHI, so only counts and Maildir keys are logged.

The embedded default runs two listeners into one Maildir (``delivery.demo``): one offering
STARTTLS with a certificate from the local demo CA (``delivery.demo_tls``), standing for a
recipient domain with verified TLS, and one without STARTTLS. Each stored message records how it
arrived (``X-Sealpost-Sink-TLS``: the protocol and cipher, or ``none``), so the dev mailbox shows
which messages travelled encrypted.
"""

from __future__ import annotations

import logging
import mailbox
import socket
import ssl
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

logger = logging.getLogger(__name__)

ENVELOPE_FROM_HEADER = "X-Sealpost-Envelope-From"
ENVELOPE_TO_HEADER = "X-Sealpost-Envelope-To"
# How the message reached the sink: "TLSv1.3 TLS_AES_256_GCM_SHA384", or "none" (plaintext).
TRANSPORT_SECURITY_HEADER = "X-Sealpost-Sink-TLS"
NO_TLS = "none"
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


def with_envelope_headers(
    content: bytes, mail_from: str, rcpt_tos: list[str], transport_security: str = NO_TLS
) -> bytes:
    """``content`` with the envelope (and how it arrived) prepended as headers and LF line
    endings (the Maildir convention; SMTP delivers CRLF)."""
    lines = [
        ENVELOPE_FROM_HEADER.encode("ascii") + b": " + _header_value(mail_from or "<>"),
        ENVELOPE_TO_HEADER.encode("ascii") + b": " + _header_value(", ".join(rcpt_tos)),
        TRANSPORT_SECURITY_HEADER.encode("ascii") + b": " + _header_value(transport_security),
    ]
    return b"\n".join(lines) + b"\n" + content.replace(b"\r\n", b"\n")


def transport_security(session: Session) -> str:
    """The TLS protocol and cipher of the session (after STARTTLS), or ``"none"``."""
    extra = session.ssl
    ssl_object = extra.get("ssl_object") if isinstance(extra, dict) else None
    if not isinstance(ssl_object, ssl.SSLObject):
        return NO_TLS
    cipher = ssl_object.cipher()
    return f"{ssl_object.version()} {cipher[0] if cipher else ''}".strip()


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
            stored = with_envelope_headers(content, mail_from, list(envelope.rcpt_tos), transport_security(session))
            key = self._maildir.add(stored)
        except OSError as exc:
            # The error names a path at most, never the message; no traceback, which could.
            logger.error("smtp sink could not store a message", extra={"error": type(exc).__name__})
            return "451 Requested action aborted: local error in processing"
        self.stored_count += 1
        logger.info(
            "smtp sink stored a message",
            extra={
                "maildir_key": key,
                "recipient_count": len(envelope.rcpt_tos),
                "size_bytes": len(content),
                "tls": session.ssl is not None,
            },
        )
        return "250 Message accepted for delivery"


def _ensure_bindable(host: str, port: int) -> None:
    # aiosmtpd reports a bind failure only after its whole ready timeout (5 s); a probe with the
    # same socket options asyncio uses fails at once, with the usual OSError.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def starttls_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A server context presenting the certificate (TLS 1.2 or later, as a current MX would)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


def start_sink(
    host: str, port: int, maildir: Path, *, tls_context: ssl.SSLContext | None = None, **smtp_parameters: Any
) -> Controller:
    """Starts the sink on a background thread and returns its controller; ``stop()`` ends it.
    With ``tls_context`` it offers STARTTLS (without requiring it, as MX hosts do); without, it
    offers none.

    Raises ``OSError`` (or aiosmtpd's start-up error) when the address cannot be bound.
    """
    logging.getLogger(AIOSMTPD_LOGGER).setLevel(logging.WARNING)
    _ensure_bindable(host, port)
    if tls_context is not None:
        smtp_parameters.update(tls_context=tls_context, require_starttls=False)
    controller = Controller(
        MaildirSinkHandler(maildir),
        hostname=host,
        port=port,
        server_hostname=SERVER_HOSTNAME,
        **smtp_parameters,
    )
    controller.start()
    return controller
