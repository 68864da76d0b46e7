"""Scriptable aiosmtpd servers for the transport tests (beside ``delivery.testing``'s CA and
plain servers): they record every connection and every command that reached them, and can
answer 4xx/5xx, stall or hang up after DATA, refuse STARTTLS with 454, advertise PIPELINING,
and require AUTH."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from delivery.sink import AIOSMTPD_LOGGER
from delivery.testing import LOOPBACK, _free_port

MX_NAME = "mx1.sealpost-test.localhost"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool


@dataclass
class Recorder:
    """What the server saw. ``commands`` lists MAIL/RCPT/DATA/AUTH in order (with ``tls`` as
    seen when each arrived); ``received`` the messages whose final "." arrived."""

    data_replies: list[str] = field(default_factory=list)  # popped per DATA; then "250 2.0.0 OK"
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    mail_reply: str | None = None
    stall_after_data: float = 0.0
    hang_up_after_data: bool = False
    pipelining: bool = False
    count_only: bool = False
    connections: int = 0
    commands: list[tuple[str, bool]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    received_count: int = 0
    sessions: list[SMTP] = field(default_factory=list, repr=False)

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not self.count_only:
            self.commands.append(("MAIL", session.ssl is not None))
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not self.count_only:
            self.commands.append(("RCPT", session.ssl is not None))
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.count_only:
            self.received_count += 1
            return "250 2.0.0 OK"
        self.commands.append(("DATA", session.ssl is not None))
        content = envelope.original_content or b""
        self.received.append(
            Received(envelope.mail_from or "", list(envelope.rcpt_tos), content, session.ssl is not None)
        )
        self.received_count += 1
        if self.hang_up_after_data:
            assert isinstance(server.transport, asyncio.Transport)
            server.transport.abort()
            return "250 2.0.0 OK"  # never arrives
        if self.stall_after_data:
            await asyncio.sleep(self.stall_after_data)
        return self.data_replies.pop(0) if self.data_replies else "250 2.0.0 OK"

    def authenticator(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        self.commands.append(("AUTH", session.ssl is not None))
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            b"relay-user",
            b"relay-secret",
        )
        return AuthResult(success=ok, handled=False)

    @property
    def transactions(self) -> list[tuple[str, bool]]:
        return [c for c in self.commands if c[0] in ("MAIL", "RCPT", "DATA")]


class _RecordingSMTP(SMTP):
    def __init__(self, handler: Recorder, *, refuse_starttls: bool, **kwargs: Any) -> None:
        self._refuse_starttls = refuse_starttls
        super().__init__(handler, **kwargs)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._original_transport is None:  # not the TLS layer's second call after STARTTLS
            self.event_handler.connections += 1
            self.event_handler.sessions.append(self)
        super().connection_made(transport)

    async def smtp_STARTTLS(self, arg: str) -> None:
        if self._refuse_starttls:  # advertised, then refused: what a STARTTLS-stripping box does
            await self.push("454 4.7.0 TLS not available due to temporary reason")
            return
        await super().smtp_STARTTLS(arg)


class _RecordingController(Controller):
    def __init__(self, handler: Recorder, *, refuse_starttls: bool, **kwargs: Any) -> None:
        self._refuse_starttls = refuse_starttls
        super().__init__(handler, **kwargs)

    def factory(self) -> SMTP:
        return _RecordingSMTP(self.handler, refuse_starttls=self._refuse_starttls, **self.SMTP_kwargs)


@dataclass
class RecordingServer:
    controller: Controller
    port: int
    recorder: Recorder

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def route(self, host: str = MX_NAME) -> str:
        """The ``DELIVERY_MX_OVERRIDES`` value that sends a domain here under ``host``."""
        return f"{host}:{self.port}"

    def stop(self) -> None:
        # Hang up on clients first: the server's close waits for open sessions (pooled ones too).
        def hang_up() -> None:
            for session in self.recorder.sessions:
                if isinstance(session.transport, asyncio.Transport):
                    session.transport.abort()

        self.controller.loop.call_soon_threadsafe(hang_up)
        self.controller.stop()


def start_recording_server(
    *,
    tls_context: ssl.SSLContext | None = None,
    refuse_starttls: bool = False,
    auth: bool = False,
    recorder: Recorder | None = None,
    **recorder_options: Any,
) -> RecordingServer:
    logging.getLogger(AIOSMTPD_LOGGER).setLevel(logging.CRITICAL)
    recorder = recorder or Recorder(**recorder_options)
    port = _free_port()
    kwargs: dict[str, Any] = {"server_hostname": MX_NAME, "enable_SMTPUTF8": False}
    if tls_context is not None:
        kwargs.update(tls_context=tls_context, require_starttls=False)
    if auth:
        kwargs.update(authenticator=recorder.authenticator, auth_require_tls=True, auth_required=True)
    controller = _RecordingController(recorder, refuse_starttls=refuse_starttls, hostname=LOOPBACK, port=port, **kwargs)
    controller.start()
    recorder.connections = 0  # Controller.start() connects once to check the server is up
    return RecordingServer(controller, port, recorder)


@contextmanager
def recording_server(**options: Any) -> Iterator[RecordingServer]:
    server = start_recording_server(**options)
    try:
        yield server
    finally:
        server.stop()


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
