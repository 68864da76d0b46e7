"""A real SMTP server in-process (aiosmtpd) that the security emails are sent to, and Celery run
eagerly, so tests assert the messages as a mail server received them."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from sealpost.celery import app as celery_app
from tests.free_port import free_port


@dataclass
class Received:
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def to(self) -> str:
        return str(self.message["To"])

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())


@dataclass
class Inbox:
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append(Received(list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[Received]:
        return [message for message in self.received if address in message.rcpt_tos]

    def recipients(self) -> list[str]:
        return sorted(address for message in self.received for address in message.rcpt_tos)


@pytest.fixture
def inbox(settings, monkeypatch) -> Iterator[Inbox]:
    """Mail goes to an SMTP server listening on a free port; tasks run when queued."""
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), server_hostname="sink.localhost")
    controller.start()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": controller.hostname, "port": controller.port, "use_tls": False, "timeout": 10},
        }
    }
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)
    try:
        yield handler
    finally:
        controller.stop()
