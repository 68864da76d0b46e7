"""SMTP delivery: direct to the recipient domain's MX hosts (``SmtpTransport``) or through a
smart host (``RelayTransport``), with TLS enforced as the pipeline decided.

TLS modes (``Envelope.tls``):

* ``"verified"``: STARTTLS is mandatory, TLS 1.2 or later, the certificate must chain to the
  system trust store or ``DELIVERY_TLS_CA_FILE`` and be valid for the MX host name
  (``delivery.posture.verifying_context``). If any of that fails the outcome is ``tls_failed``
  and not one byte of the message, nor even ``MAIL FROM``/``RCPT TO``, is written: the
  session is closed right after the failed STARTTLS or handshake. The pipeline then asks the
  protection policy (retry later, or escrow).
* ``"opportunistic"``: STARTTLS when offered, any certificate, any TLS version; when the
  handshake fails the session is redone in plaintext (RFC 7435). Only here is plaintext allowed.

One call to ``send_batch`` sends envelopes in order over pooled connections, one pool per
(MX host, port, TLS mode): ``RSET`` before the next message after a transaction that did not
complete (a completed one resets the session by itself, RFC 5321 §4.1.1.4), a cap on connections per host and on
messages per connection, idle connections closed after ``idle_timeout``. Commands are
pipelined (RFC 2920: ``RSET``/``MAIL``/``RCPT``/``DATA`` in one write) when the server offers
PIPELINING. ``on_handed_off(envelope)`` runs after the message body is written and before the
final ``"\\r\\n.\\r\\n"``: from then on, a lost connection or a missing reply is ``unknown``
(never resent blindly); if the callback raises, the dot is not sent and the session is dropped,
so the message is not delivered (``deferred``).

Nothing here logs an address, a host name or server text (see ``smtp_replies.scrub``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
import smtplib
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

from django.conf import settings

from delivery import posture
from delivery.mime import InvalidHeader, check_address
from delivery.smtp_replies import Outcome, Status, classify_reply

logger = logging.getLogger(__name__)

TlsMode = Literal["verified", "opportunistic"]
TLS_MODES: tuple[str, ...] = ("verified", "opportunistic")
MODERN_TLS = frozenset({"TLSv1.2", "TLSv1.3"})
MODE_DANE = "dane"  # a pool mode, never an Envelope.tls value: verified by TLSA records

DEFAULT_TIMEOUT = 30.0  # connect and each command (RFC 5321 §4.5.3.2 allows minutes; we move on)
DEFAULT_DATA_TIMEOUT = 600.0  # the reply to the final ".": RFC 5321 §4.5.3.2.6, 10 minutes
DEFAULT_MAX_PER_HOST = 4
DEFAULT_MAX_MESSAGES_PER_CONNECTION = 1000
DEFAULT_IDLE_TIMEOUT = 30.0
MX_CACHE_SECONDS = 300.0

_BARE_EOL = re.compile(rb"\r\n|\n|\r")
_LEADING_DOT = re.compile(rb"(?m)^\.")

HandOff = Callable[["Envelope"], None]
PoolKey = tuple[str, int, str]
# Records the hand-off of several messages at once: one bool per envelope, True for those that
# may be sent (their hand-off is committed), False for those that must not be.
HandOffMany = Callable[[Sequence["Envelope"]], Sequence[bool]]
DEFAULT_LANES = 4


def _smtp_data(data: bytes) -> bytes:
    """The message as DATA carries it: CRLF line endings and leading dots doubled (RFC 5321
    §4.5.2). A message that already has only CRLFs and no line starting with a dot (what
    ``delivery.mime`` builds, almost always) is returned as is, found by counting, not by
    rewriting it."""
    crlf = data.count(b"\r\n")
    if crlf != data.count(b"\n") or crlf != data.count(b"\r"):
        data = _BARE_EOL.sub(b"\r\n", data)
    if data.startswith(b".") or b"\n." in data:
        data = _LEADING_DOT.sub(b"..", data)
    return data


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message to one recipient. ``data`` is the signed message (CRLF line endings);
    ``domain`` the recipient domain (MX lookup); ``ref`` the pipeline's id for it (never PHI);
    ``mx_patterns`` (MTA-STS ``mx:`` lines) restricts which MX hosts may be used; ``dane``
    (the domain's posture was verified by DANE) makes a ``verified`` envelope authenticate each
    MX by its DNSSEC-validated TLSA records instead of WebPKI, as RFC 7672 asks."""

    mail_from: str
    rcpt_to: str
    data: bytes
    tls: TlsMode
    domain: str
    ref: Any = None
    mx_patterns: tuple[str, ...] = ()
    dane: bool = False  # ``verified`` by DANE (RFC 7672): the MX certificate must match its TLSA records

    def __post_init__(self) -> None:
        if self.tls not in TLS_MODES:
            raise ValueError(f"Envelope.tls must be one of {TLS_MODES}")


class _HostFailure(Exception):
    """No usable session with this host; ``outcome`` says why (deferred or tls_failed)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.detail)
        self.outcome = outcome


class _StaleConnection(Exception):
    """A reused connection broke before the message was handed off: safe to try a new one."""


@dataclass(slots=True)
class _Held:
    """A message whose body is written on ``connection`` (held out of the pool), waiting for its
    hand-off to be recorded before the final dot is sent."""

    key: PoolKey
    connection: SmtpConnection
    envelope: Envelope


# --- TLS contexts -------------------------------------------------------------------------------


def verified_context() -> ssl.SSLContext:
    """TLS 1.2+, chain to the system store or DELIVERY_TLS_CA_FILE, host name checked."""
    return posture.verifying_context()


@lru_cache(maxsize=1)
def dane_context() -> ssl.SSLContext:
    """TLS 1.2+ without WebPKI: with DANE the TLSA records, checked after the handshake, are what
    authenticates the server (RFC 7672 §3.1), so a self-signed DANE-EE certificate is fine."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@lru_cache(maxsize=1)
def opportunistic_context() -> ssl.SSLContext:
    """Encrypt with whatever the server has (any certificate, TLS 1.0 and up): better than the
    plaintext this mode would otherwise use. Never used for a ``verified`` envelope."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


# --- One SMTP session ---------------------------------------------------------------------------


class SmtpConnection(smtplib.SMTP):
    """smtplib.SMTP connected to a chosen IP address while EHLO, SNI and the certificate check
    use the MX host name; knows its TLS state and how many messages it carried."""

    def __init__(self, address: str, *, timeout: float, local_hostname: str) -> None:
        self._address = address
        self.tls_version: str | None = None
        self.messages = 0
        self.last_used = time.monotonic()
        self.needs_rset = False
        super().__init__(timeout=timeout, local_hostname=local_hostname)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        self._host = host  # what starttls() gives as server_hostname
        sock = socket.create_connection((self._address, port), timeout, self.source_address)
        # The body and the final dot are separate writes (the hand-off callback runs between
        # them): without NODELAY, Nagle holds the dot until the body is acknowledged (~40 ms).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    @property
    def encrypted(self) -> bool:
        return isinstance(self.sock, ssl.SSLSocket)

    def abort(self) -> None:
        """Drop the session without QUIT (mid-DATA this makes the server discard the message)."""
        with contextlib.suppress(OSError):
            self.close()

    def quit_quietly(self) -> None:
        try:
            self.quit()
        except (OSError, smtplib.SMTPException):
            self.abort()


def _fail(status: Status, detail: str, host: str, code: int | None = None) -> _HostFailure:
    return _HostFailure(Outcome(status, code, None, detail, mx_host=host))


def _addresses(target: posture.MxTarget, resolver: posture.Resolver) -> list[str]:
    """Where to connect for an MX host: public addresses only, unless the target is a configured
    override (a domain whose MX points into our network must not reach internal services)."""
    try:
        ipaddress.ip_address(target.host)
        found = [target.host]
    except ValueError:
        try:
            found = resolver.addresses(target.host)
        except (posture.DnsNoRecords, posture.DnsLookupFailed):
            raise _fail(Status.DEFERRED, "MX host address lookup failed", target.host) from None
    usable = found if target.overridden else [a for a in found if ipaddress.ip_address(a.split("%")[0]).is_global]
    if not usable:
        raise _fail(Status.DEFERRED, "MX host has no usable public address", target.host)
    return usable[: posture.MAX_ADDRESSES_PER_HOST]


# --- The transport ------------------------------------------------------------------------------


class SmtpTransport:
    """Direct delivery to MX hosts. Thread-safe; one instance per worker process is enough."""

    #: "relay" in RelayTransport: verified TLS and AUTH whatever the envelope says
    mode_override: str | None = None

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        data_timeout: float = DEFAULT_DATA_TIMEOUT,
        max_connections_per_host: int = DEFAULT_MAX_PER_HOST,
        max_messages_per_connection: int = DEFAULT_MAX_MESSAGES_PER_CONNECTION,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        pipelining: bool = True,
        resolver: posture.Resolver | None = None,
        ehlo_name: str | None = None,
        lanes: int = DEFAULT_LANES,
    ) -> None:
        self.timeout = timeout
        self.data_timeout = data_timeout
        self.max_connections_per_host = max_connections_per_host
        self.max_messages_per_connection = max_messages_per_connection
        self.idle_timeout = idle_timeout
        self.pipelining = pipelining
        self.lanes = max(1, min(lanes, max_connections_per_host))
        self._resolver = resolver
        self.ehlo_name = ehlo_name or getattr(settings, "DELIVERY_EHLO_NAME", None) or "localhost"
        self._idle: dict[PoolKey, list[SmtpConnection]] = {}
        self._open_count: dict[PoolKey, int] = {}
        self._available = threading.Condition()
        self._mx_cache: dict[str, tuple[float, posture.MxResolution]] = {}
        self.connections_opened = 0  # for tests and benchmarks

    # -- public ---------------------------------------------------------------------------------

    def send_batch(
        self,
        envelopes: Sequence[Envelope],
        *,
        on_handed_off: HandOff | None = None,
        on_handed_off_many: HandOffMany | None = None,
    ) -> list[Outcome]:
        """One Outcome per envelope, in order. Never raises for a delivery problem.

        With ``on_handed_off_many``, up to ``lanes`` messages are in flight at once, each on its
        own pooled connection: each body is written, then the hand-off of all of them is
        recorded in one call, then their final dots go and their replies are read. Every
        message's hand-off is still recorded after its body and before its dot; a message the
        callback refuses gets no dot (its session is dropped) and is ``deferred``."""
        failed_hosts: dict[PoolKey, Outcome] = {}  # hosts that would not talk, for this batch
        if on_handed_off_many is None:
            return [self._sent(self._send_one(envelope, on_handed_off, failed_hosts)) for envelope in envelopes]
        outcomes: list[Outcome | None] = [None] * len(envelopes)
        held: list[tuple[int, _Held]] = []
        for index, envelope in enumerate(envelopes):
            result = self._send_one(envelope, None, failed_hosts, hold=True)
            if isinstance(result, _Held):
                held.append((index, result))
                if len(held) < self.lanes:
                    continue
                self._finish_held(held, on_handed_off_many, outcomes)
                held = []
            else:
                outcomes[index] = result
        if held:
            self._finish_held(held, on_handed_off_many, outcomes)
        return [outcome for outcome in outcomes if outcome is not None]

    @staticmethod
    def _sent(result: Outcome | _Held) -> Outcome:
        if isinstance(result, _Held):  # pragma: no cover - only hold=True returns one
            raise TypeError("a held message needs its hand-off")
        return result

    def _finish_held(
        self, held: list[tuple[int, _Held]], on_handed_off_many: HandOffMany, outcomes: list[Outcome | None]
    ) -> None:
        """Record the hand-off of the held messages in one call, then send each accepted one's
        final dot and read the replies; a refused one's session is dropped without its dot."""
        try:
            accepted = list(on_handed_off_many([h.envelope for _, h in held]))
            if len(accepted) != len(held):
                raise ValueError("one answer per envelope expected")
        except Exception as exc:
            logger.warning("on_handed_off_many failed (%s); the messages were not sent", type(exc).__name__)
            accepted = [False] * len(held)
        dotted: list[tuple[int, _Held]] = []
        for (index, h), ok in zip(held, accepted, strict=True):
            if not ok:
                self._discard(h.key, h.connection)  # no terminating dot: the server discards it
                outcomes[index] = Outcome(Status.DEFERRED, None, None, "hand-off could not be recorded; not sent")
                continue
            failure = self._send_dot(h.connection)
            if failure is not None:
                self._discard(h.key, h.connection)
                outcomes[index] = failure
                continue
            dotted.append((index, h))
        for index, h in dotted:
            outcome, keep = self._end_reply(h.connection)
            if keep:
                self._release(h.key, h.connection)
            else:
                self._discard(h.key, h.connection)
            outcomes[index] = outcome

    def send(self, envelope: Envelope, *, on_handed_off: HandOff | None = None) -> Outcome:
        return self.send_batch([envelope], on_handed_off=on_handed_off)[0]

    def close(self) -> None:
        """QUIT every idle connection."""
        with self._available:
            idle, self._idle = self._idle, {}
            for key, connections in idle.items():
                self._open_count[key] = self._open_count.get(key, 0) - len(connections)
            self._available.notify_all()
        for connections in idle.values():
            for connection in connections:
                connection.quit_quietly()

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- routing --------------------------------------------------------------------------------

    def _mode(self, envelope: Envelope) -> str:
        """``verified``, ``opportunistic``, or ``dane`` (verified by TLSA records); the pool keeps
        connections per mode, so a session is only reused for what it was checked for."""
        if self.mode_override:
            return self.mode_override
        if envelope.tls == "verified" and envelope.dane:
            return MODE_DANE
        return envelope.tls

    def _targets(self, envelope: Envelope) -> list[posture.MxTarget] | Outcome:
        now = time.monotonic()
        cached = self._mx_cache.get(envelope.domain)
        if cached is not None and cached[0] > now:
            resolution = cached[1]
        else:
            resolution = posture.resolve_mx(envelope.domain, resolver=self._resolver)
            if resolution.error is None:
                self._mx_cache[envelope.domain] = (now + MX_CACHE_SECONDS, resolution)
        if resolution.refused is not None:  # null MX or no such domain: the address cannot work
            return Outcome(Status.BOUNCED, None, "5.1.10", "the recipient domain accepts no mail", suppress=True)
        if resolution.error is not None or not resolution.targets:
            return Outcome(Status.DEFERRED, None, None, "MX lookup failed")
        targets = list(resolution.targets)
        if self._mode(envelope) == MODE_DANE and not resolution.secure:
            return Outcome(
                Status.TLS_FAILED, None, None, "the MX records are not DNSSEC-validated: DANE cannot be used"
            )
        if envelope.mx_patterns:
            targets = [t for t in targets if any(posture.name_matches(p, t.host) for p in envelope.mx_patterns)]
            if not targets:
                return Outcome(Status.TLS_FAILED, None, None, "no MX host matches the domain's MTA-STS policy")
        return targets

    # -- sending --------------------------------------------------------------------------------

    def _send_one(
        self, envelope: Envelope, on_handed_off: HandOff | None, failed: dict[PoolKey, Outcome], *, hold: bool = False
    ) -> Outcome | _Held:
        try:
            check_address(envelope.mail_from, "envelope sender")
            check_address(envelope.rcpt_to, "envelope recipient")
        except InvalidHeader as exc:
            return Outcome(Status.BOUNCED, None, None, str(exc))
        targets = self._targets(envelope)
        if isinstance(targets, Outcome):
            return targets
        mode = self._mode(envelope)
        failures: list[Outcome] = []
        for target in targets:
            key: PoolKey = (target.host, target.port, mode)
            if key in failed:
                failures.append(failed[key])
                continue
            for _attempt in range(2):  # a reused connection that went stale gets one fresh retry
                try:
                    connection, reused = self._acquire(key, target)
                except _HostFailure as exc:
                    failed[key] = exc.outcome
                    failures.append(exc.outcome)
                    break
                try:
                    done = self._transact(connection, envelope, on_handed_off, reused, hold=hold)
                except _StaleConnection:
                    self._discard(key, connection)
                    continue
                if done is None:  # the body is written; the dot waits for the hand-off
                    return _Held(key, connection, envelope)
                outcome, keep = done
                if keep:
                    self._release(key, connection)
                else:
                    self._discard(key, connection)
                return outcome
            else:
                failures.append(
                    Outcome(Status.DEFERRED, None, None, "the connection kept failing", mx_host=target.host)
                )
        tls = [f for f in failures if f.status == Status.TLS_FAILED]
        return tls[0] if tls else failures[-1]

    def _transact(
        self,
        connection: SmtpConnection,
        envelope: Envelope,
        on_handed_off: HandOff | None,
        reused: bool,
        *,
        hold: bool = False,
    ) -> tuple[Outcome, bool] | None:
        """One transaction; (outcome, whether the connection may be reused), or None when
        ``hold`` and the body is written (the caller records the hand-off and ends it)."""
        host = connection._host
        tls = connection.tls_version
        commands = [
            f"MAIL FROM:<{envelope.mail_from}>".encode("ascii"),
            f"RCPT TO:<{envelope.rcpt_to}>".encode("ascii"),
            b"DATA",
        ]
        if connection.needs_rset:
            commands.insert(0, b"RSET")
        names = [c.split(b" ", 1)[0].split(b":", 1)[0].decode("ascii") for c in commands]
        expected = {"RSET": 250, "MAIL": 250, "RCPT": 250, "DATA": 354}
        connection.needs_rset = True
        try:
            if self.pipelining and connection.does_esmtp and connection.has_extn("pipelining"):
                connection.send(b"".join(c + b"\r\n" for c in commands))
                replies = [connection.getreply() for _ in commands]
            else:
                replies = []
                for command in commands:
                    connection.send(command + b"\r\n")
                    reply = connection.getreply()
                    replies.append(reply)
                    if reply[0] != expected[command.split(b" ", 1)[0].split(b":", 1)[0].decode("ascii")]:
                        break
        except smtplib.SMTPServerDisconnected:
            if reused:
                raise _StaleConnection from None
            return Outcome(
                Status.DEFERRED, None, None, "connection lost before the message was sent", mx_host=host
            ), False
        for name, (code, text) in zip(names, replies, strict=False):
            if code == expected[name]:
                continue
            if name == "RSET" and reused:
                raise _StaleConnection
            outcome = classify_reply(code, text, step=name)
            outcome = Outcome(
                outcome.status, outcome.code, outcome.enhanced, outcome.detail, outcome.suppress, tls, host
            )
            if code == 421 or replies[-1][0] == 354:
                # 421: the server is closing. 354 after a failed MAIL/RCPT (pipelined): the
                # server wants data for a failed transaction; dropping the session aborts it.
                return outcome, False
            return outcome, True
        return self._send_data(connection, envelope, on_handed_off, hold=hold)

    def _send_data(
        self, connection: SmtpConnection, envelope: Envelope, on_handed_off: HandOff | None, *, hold: bool = False
    ) -> tuple[Outcome, bool] | None:
        tls = connection.tls_version
        data = _smtp_data(envelope.data)
        if data.endswith(b"\r\n"):
            data = data[:-2]
        sock = connection.sock
        if sock is None:
            return Outcome(Status.DEFERRED, None, None, "connection lost before the message was sent"), False
        if self._mode(envelope) != "opportunistic" and not connection.encrypted:  # pragma: no cover - defence
            connection.abort()
            return Outcome(Status.TLS_FAILED, None, None, "refusing to send over an unencrypted session"), False
        try:
            sock.sendall(data)
        except OSError:
            connection.abort()
            return Outcome(Status.DEFERRED, None, None, "connection lost while sending data", tls_version=tls), False
        if hold:
            return None
        if on_handed_off is not None:
            try:
                on_handed_off(envelope)
            except Exception as exc:
                connection.abort()  # no terminating dot: the server discards the message
                logger.warning("on_handed_off failed (%s); the message was not sent", type(exc).__name__)
                return Outcome(Status.DEFERRED, None, None, "hand-off could not be recorded; not sent"), False
        failure = self._send_dot(connection)
        if failure is not None:
            return failure, False
        return self._end_reply(connection)

    @staticmethod
    def _no_reply(connection: SmtpConnection) -> Outcome:
        connection.abort()
        return Outcome(
            Status.UNKNOWN,
            None,
            None,
            "no reply after the end of data: the message may have been accepted",
            tls_version=connection.tls_version,
            mx_host=connection._host,
        )

    def _send_dot(self, connection: SmtpConnection) -> Outcome | None:
        """The final dot (after the hand-off): None once written, else ``unknown`` (part of it
        may have gone) with the session dropped."""
        sock = connection.sock
        try:
            if sock is None:
                raise OSError("no socket")
            sock.sendall(b"\r\n.\r\n")
        except OSError:
            return self._no_reply(connection)
        return None

    def _end_reply(self, connection: SmtpConnection) -> tuple[Outcome, bool]:
        """The reply to the final dot: (outcome, whether the connection may be reused)."""
        host = connection._host
        tls = connection.tls_version
        sock = connection.sock
        try:
            if sock is None:
                raise OSError("no socket")
            sock.settimeout(self.data_timeout)
            code, text = connection.getreply()
        except (OSError, smtplib.SMTPServerDisconnected):
            return self._no_reply(connection), False
        sock.settimeout(self.timeout)
        connection.messages += 1
        connection.needs_rset = False  # a completed transaction resets the session (RFC 5321 §4.1.1.4)
        outcome = classify_reply(code, text, step="end of data")
        outcome = Outcome(outcome.status, outcome.code, outcome.enhanced, outcome.detail, outcome.suppress, tls, host)
        return outcome, code != 421

    # -- the pool -------------------------------------------------------------------------------

    def _acquire(self, key: PoolKey, target: posture.MxTarget) -> tuple[SmtpConnection, bool]:
        deadline = time.monotonic() + self.timeout
        with self._available:
            while True:
                idle = self._idle.get(key)
                while idle:
                    connection = idle.pop()
                    if time.monotonic() - connection.last_used <= self.idle_timeout:
                        return connection, True
                    self._open_count[key] -= 1
                    threading.Thread(target=connection.quit_quietly, daemon=True).start()
                if self._open_count.get(key, 0) < self.max_connections_per_host:
                    self._open_count[key] = self._open_count.get(key, 0) + 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _fail(Status.DEFERRED, "connection limit for this host reached", target.host)
                self._available.wait(remaining)
        try:
            connection = self._open(target, key[2])
        except BaseException:
            with self._available:
                self._open_count[key] -= 1
                self._available.notify()
            raise
        self.connections_opened += 1
        return connection, False

    def _release(self, key: PoolKey, connection: SmtpConnection) -> None:
        if connection.messages >= self.max_messages_per_connection:
            self._discard(key, connection, polite=True)
            return
        connection.last_used = time.monotonic()
        with self._available:
            self._idle.setdefault(key, []).append(connection)
            self._available.notify()

    def _discard(self, key: PoolKey, connection: SmtpConnection, *, polite: bool = False) -> None:
        if polite:
            connection.quit_quietly()
        else:
            connection.abort()
        with self._available:
            self._open_count[key] -= 1
            self._available.notify()

    # -- opening a session ----------------------------------------------------------------------

    def _open(self, target: posture.MxTarget, mode: str) -> SmtpConnection:
        resolver = self._resolver or posture.get_resolver()
        last: _HostFailure | None = None
        for address in _addresses(target, resolver):
            try:
                return self._open_at(target, address, mode, starttls=True)
            except _HostFailure as exc:
                if exc.outcome.status == Status.TLS_FAILED:
                    raise  # a certificate or TLS problem is the host's, not one address's
                last = exc
        raise last or _fail(Status.DEFERRED, "MX host has no usable address", target.host)

    def _open_at(self, target: posture.MxTarget, address: str, mode: str, *, starttls: bool) -> SmtpConnection:
        connection = SmtpConnection(address, timeout=self.timeout, local_hostname=self.ehlo_name)
        host = target.host
        try:
            try:
                code, text = connection.connect(host, target.port)
            except (OSError, smtplib.SMTPException):
                raise _fail(Status.DEFERRED, "could not connect to the MX host", host) from None
            if code != 220:
                outcome = classify_reply(code, text, step="greeting")
                # A 5xx greeting refuses the session, not this recipient: retry later.
                raise _fail(Status.DEFERRED, outcome.detail, host, code)
            code, _ = connection.ehlo()
            if code != 250:
                raise _fail(Status.DEFERRED, f"EHLO: {code}", host, code)
            if mode == "opportunistic":
                if starttls and connection.has_extn("starttls"):
                    try:
                        self._starttls(connection, host, opportunistic_context())
                    except _HostFailure:
                        connection.abort()  # RFC 7435: the session is redone in plaintext
                        return self._open_at(target, address, mode, starttls=False)
            else:
                if not connection.has_extn("starttls"):
                    raise _fail(Status.TLS_FAILED, "the MX host does not offer STARTTLS", host)
                if mode == MODE_DANE:
                    self._starttls_dane(connection, target)
                else:
                    self._starttls(connection, host, verified_context())
                if connection.tls_version not in MODERN_TLS:  # the context forbids it; belt and braces
                    raise _fail(Status.TLS_FAILED, "TLS older than 1.2 negotiated", host)
            self._after_tls(connection, host)
            return connection
        except _HostFailure:
            connection.abort()
            raise
        except (OSError, smtplib.SMTPException):
            connection.abort()
            raise _fail(Status.DEFERRED, "the MX host ended the session", host) from None

    def _starttls(self, connection: SmtpConnection, host: str, context: ssl.SSLContext) -> None:
        try:
            code, _ = connection.starttls(context=context)
        except ssl.SSLCertVerificationError as exc:
            raise _fail(Status.TLS_FAILED, f"certificate not valid: {exc.verify_message}", host) from None
        except ssl.SSLError as exc:
            raise _fail(Status.TLS_FAILED, f"TLS handshake failed: {exc.reason or 'error'}", host) from None
        except smtplib.SMTPResponseException as exc:
            raise _fail(Status.TLS_FAILED, f"STARTTLS refused ({exc.smtp_code})", host, exc.smtp_code) from None
        except (OSError, smtplib.SMTPException):
            raise _fail(Status.TLS_FAILED, "the session ended during STARTTLS", host) from None
        sock = connection.sock
        if code != 220 or not isinstance(sock, ssl.SSLSocket):
            raise _fail(Status.TLS_FAILED, f"STARTTLS refused ({code})", host, code)
        connection.tls_version = sock.version()
        code, _ = connection.ehlo()
        if code != 250:
            raise _fail(Status.DEFERRED, f"EHLO after STARTTLS: {code}", host, code)

    def _starttls_dane(self, connection: SmtpConnection, target: posture.MxTarget) -> None:
        """STARTTLS authenticated by DANE (RFC 7672 §3): the TLSA records are looked up first (none
        usable: no session; the posture is stale), the handshake does not ask WebPKI, and the
        presented chain must match a record before anything is sent."""
        records = posture.dane_records(target, resolver=self._resolver or posture.get_resolver())
        if not isinstance(records, tuple):
            raise _fail(Status.TLS_FAILED, "the MX host has no usable DNSSEC-validated TLSA records", target.host)
        self._starttls(connection, target.host, dane_context())
        sock = connection.sock
        chain = posture.peer_chain(sock) if isinstance(sock, ssl.SSLSocket) else ()
        if not posture.dane_matches(records, chain, target.host, datetime.now(UTC)):
            raise _fail(
                Status.TLS_FAILED, "the certificate does not match the MX host's DANE TLSA records", target.host
            )

    def _after_tls(self, connection: SmtpConnection, host: str) -> None:
        """Hook for RelayTransport (AUTH)."""


class RelayTransport(SmtpTransport):
    """Everything through one smart host (``DELIVERY_RELAY_HOST``/``_PORT``/``_USERNAME``/
    ``_PASSWORD``): STARTTLS always required and verified against the relay's name, AUTH only
    after it. Whether the relay then delivers onward over verified TLS is the relay's
    configuration (see docs/delivery-transport.md)."""

    mode_override = "verified"

    def __init__(
        self,
        *,
        host: str | None = None,
        port: int | None = None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.host = host or getattr(settings, "DELIVERY_RELAY_HOST", None) or ""
        self.port = int(port or getattr(settings, "DELIVERY_RELAY_PORT", None) or 587)
        self.username = username if username is not None else getattr(settings, "DELIVERY_RELAY_USERNAME", None)
        self.password = password if password is not None else getattr(settings, "DELIVERY_RELAY_PASSWORD", None)
        if not self.host:
            raise ValueError("RelayTransport needs DELIVERY_RELAY_HOST")

    def _targets(self, envelope: Envelope) -> list[posture.MxTarget] | Outcome:
        return [posture.MxTarget(self.host, self.port, 0, overridden=True)]

    def _after_tls(self, connection: SmtpConnection, host: str) -> None:
        if not self.username:
            return
        if not connection.encrypted:  # unreachable: mode_override makes STARTTLS mandatory
            raise _fail(Status.TLS_FAILED, "refusing to authenticate without TLS", host)
        try:
            connection.login(self.username, self.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise _fail(
                Status.DEFERRED, f"relay authentication failed ({exc.smtp_code})", host, exc.smtp_code
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise _fail(Status.DEFERRED, "the relay does not offer AUTH", host) from None
        except smtplib.SMTPException:
            raise _fail(Status.DEFERRED, "relay authentication failed", host) from None
