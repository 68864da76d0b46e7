"""The inbound SMTP listener for bounce reports and complaints (``manage.py inbound_smtp``).

A small aiosmtpd server that the MX of the bounce domain points at (or that a front MTA relays
that domain's mail to). It accepts mail for the configured domains only (``550 5.1.2`` for any
other; all domains when none is configured) and hands each message to
``inbound_services.inbound_report_receive``, which stores it encrypted under the organisation's
key and queues the Celery task by id. The raw message never travels further than that: not in
a task argument, not in a log.

Replies: ``250`` once the report is stored, and also when it is dropped (a report that names no
message of ours): refusing it would only make the reporting MTA bounce a bounce. ``451`` when
it could not be stored (the database is down): the reporting MTA keeps it and tries again.

STARTTLS is offered when a certificate is configured (reports return the original message, so
PHI); it is not required, because a reporting MTA that cannot do TLS would otherwise keep its
report. Database work runs on a worker thread (the ORM is synchronous) and closes its
connection after each message: reports are few, and the listener holds no idle connection.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from delivery.inbound_services import Intake, inbound_report_receive

logger = logging.getLogger(__name__)

# A fixed name: aiosmtpd's default getfqdn() can stall without working reverse DNS.
SERVER_HOSTNAME = "sealpost-inbound.localhost"
# aiosmtpd logs envelope addresses at INFO and DATA lines at DEBUG: only its warnings may through.
AIOSMTPD_LOGGER = "mail.log"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
STORED_REPLY = "250 2.0.0 Report stored"
DROPPED_REPLY = "250 2.0.0 Accepted"
RETRY_REPLY = "451 4.3.0 Report not stored; try again later"
UNKNOWN_DOMAIN_REPLY = "550 5.1.2 This server accepts reports for its bounce domains only"


def _ensure_bindable(host: str, port: int) -> None:
    # aiosmtpd reports a bind failure only after its whole ready timeout; this fails at once.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().rstrip(".").lower()


class InboundReportHandler:
    """aiosmtpd handler: each message is one ``inbound_report_receive`` call. ``counts`` holds
    ``stored``, ``dropped_<reason>``, ``refused_domain`` and ``failed``."""

    def __init__(
        self, *, domains: Iterable[str] = (), intake: Callable[[bytes], Intake] = inbound_report_receive
    ) -> None:
        self.domains = frozenset(d.strip().rstrip(".").lower() for d in domains if d.strip())
        self.intake = intake
        self.counts: Counter[str] = Counter()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.domains and _domain_of(address) not in self.domains:
            self.counts["refused_domain"] += 1
            return UNKNOWN_DOMAIN_REPLY
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        try:
            result = await asyncio.to_thread(self._receive, bytes(content))
        except Exception as exc:  # never the message or a traceback: either could hold PHI
            self.counts["failed"] += 1
            logger.error("inbound report not stored", extra={"error": type(exc).__name__})
            return RETRY_REPLY
        if result.stored:
            self.counts["stored"] += 1
            logger.info("inbound report stored", extra={"report_id": result.report_id, "kind": result.kind})
            return STORED_REPLY
        self.counts[f"dropped_{result.reason}"] += 1
        logger.info("inbound report dropped", extra={"reason": result.reason, "kind": result.kind})
        return DROPPED_REPLY

    def _receive(self, content: bytes) -> Intake:
        from django.db import connection

        try:
            return self.intake(content)
        finally:
            connection.close()  # this worker thread's own connection


def start_inbound_listener(
    host: str,
    port: int,
    *,
    domains: Iterable[str] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
    tls_context: ssl.SSLContext | None = None,
    intake: Callable[[bytes], Intake] = inbound_report_receive,
) -> Controller:
    """Starts the listener on a background thread and returns its controller (``stop()`` ends
    it; ``controller.handler.counts`` counts what it did). Raises ``OSError`` when the address
    cannot be bound."""
    logging.getLogger(AIOSMTPD_LOGGER).setLevel(logging.WARNING)  # it logs addresses at INFO
    _ensure_bindable(host, port)
    options: dict[str, Any] = {"data_size_limit": max_bytes, "enable_SMTPUTF8": True}
    if tls_context is not None:
        options.update(tls_context=tls_context, require_starttls=False)
    controller = Controller(
        InboundReportHandler(domains=domains, intake=intake),
        hostname=host,
        port=port,
        server_hostname=SERVER_HOSTNAME,
        **options,
    )
    controller.start()
    return controller


def tls_context_from_files(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server context for STARTTLS (TLS 1.2 or later) from a PEM certificate chain and key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context
