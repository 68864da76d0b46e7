"""Test helpers for delivery: a test CA, real SMTP servers on loopback (aiosmtpd, with or
without STARTTLS, TLS 1.0-only), an HTTPS server for MTA-STS policies, and a DNS resolver
whose answers a test chooses (including the DNSSEC "authenticated" flag).

Importable by the transport tests too. Nothing here is used outside tests and the demo.
(Named so pytest does not collect it; nothing in it is named ``Test*``.)
"""

from __future__ import annotations

import hashlib
import http.server
import logging
import socket
import ssl
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from delivery import posture
from delivery.posture import DnsAnswer, DnsNoRecords, TlsaRecord
from delivery.sink import AIOSMTPD_LOGGER

LOOPBACK = "127.0.0.1"


# --- Certificates --------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedCertificate:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_file: Path  # PEM: the certificate, then the issuing CA's when the chain is included
    key_file: Path

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def spki_sha256(self) -> bytes:
        spki = self.cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(spki).digest()

    def cert_sha256(self) -> bytes:
        return hashlib.sha256(self.der).digest()


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(directory: Path, stem: str, cert_pem: bytes, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / f"{stem}.crt", directory / f"{stem}.key"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def _leaf_builder(
    names: list[str], subject_cn: str, not_before: datetime, not_after: datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )


class CertificateAuthority:
    """A throwaway CA whose PEM (``ca_file``) tests give to ``DELIVERY_TLS_CA_FILE``."""

    def __init__(self, directory: Path, *, name: str = "Sealpost Test CA") -> None:
        self.directory = directory
        self.key = _key()
        now = datetime.now(UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.ca_file, _ = _write(directory, "ca", self.pem, self.key)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def issue(
        self,
        *names: str,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        include_chain: bool = False,
    ) -> IssuedCertificate:
        """A server certificate for ``names`` (valid from yesterday for 90 days unless told);
        ``include_chain`` puts the CA certificate after it in the PEM (for DANE-TA)."""
        now = datetime.now(UTC)
        key = _key()
        cert = (
            _leaf_builder(
                list(names), names[0], not_before or now - timedelta(days=1), not_after or now + timedelta(days=90)
            )
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        pem = cert.public_bytes(serialization.Encoding.PEM) + (self.pem if include_chain else b"")
        stem = f"{names[0]}-{cert.serial_number:x}"
        cert_file, key_file = _write(self.directory, stem, pem, key)
        return IssuedCertificate(cert, key, cert_file, key_file)


def self_signed(directory: Path, *names: str) -> IssuedCertificate:
    """A self-signed server certificate (what DANE-EE servers often present)."""
    now = datetime.now(UTC)
    key = _key()
    cert = (
        _leaf_builder(list(names), names[0], now - timedelta(days=1), now + timedelta(days=90))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .public_key(key.public_key())
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = _write(directory, f"self-{names[0]}", cert.public_bytes(serialization.Encoding.PEM), key)
    return IssuedCertificate(cert, key, cert_file, key_file)


def server_context(
    issued: IssuedCertificate,
    *,
    minimum: ssl.TLSVersion | None = None,
    maximum: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    """A server-side context presenting ``issued``, optionally limited to a TLS version range.
    Ranges below TLS 1.2 lower OpenSSL's security level to 0 (OpenSSL 3 refuses TLS 1.0 and 1.1
    otherwise), as an old server would be configured."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(issued.cert_file, issued.key_file)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSVersion.TLSv1 and TLSv1_1
        if minimum is not None:
            context.minimum_version = minimum
        if maximum is not None:
            context.maximum_version = maximum
            if maximum < ssl.TLSVersion.TLSv1_2:
                context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def tls10_only_context(issued: IssuedCertificate) -> ssl.SSLContext:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return server_context(issued, minimum=ssl.TLSVersion.TLSv1, maximum=ssl.TLSVersion.TLSv1)


# --- SMTP ----------------------------------------------------------------------------------------


def _free_port() -> int:
    # aiosmtpd's Controller cannot listen on port 0: ask the kernel for a free one first.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


class _AcceptAll:
    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 OK"


@dataclass
class SmtpServer:
    controller: Controller
    port: int
    handler: _AcceptAll

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def stop(self) -> None:
        self.controller.stop()


def start_smtp_server(*, tls_context: ssl.SSLContext | None = None, port: int | None = None) -> SmtpServer:
    """An aiosmtpd server on 127.0.0.1 that accepts everything; with ``tls_context`` it offers
    STARTTLS (without requiring it), without it it offers none. ``stop()`` ends it."""
    logging.getLogger(AIOSMTPD_LOGGER).setLevel(logging.ERROR)
    port = port or _free_port()
    handler = _AcceptAll()
    kwargs: dict[str, Any] = {"server_hostname": "mx.sealpost-test.localhost"}
    if tls_context is not None:
        kwargs.update(tls_context=tls_context, require_starttls=False)
    controller = Controller(handler, hostname=LOOPBACK, port=port, **kwargs)
    controller.start()
    return SmtpServer(controller, port, handler)


@contextmanager
def smtp_server(*, tls_context: ssl.SSLContext | None = None) -> Iterator[SmtpServer]:
    server = start_smtp_server(tls_context=tls_context)
    try:
        yield server
    finally:
        server.stop()


# --- HTTPS (MTA-STS policies) ---------------------------------------------------------------------


@dataclass
class HttpsResponse:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/plain"})


@dataclass
class HttpsServer:
    server: http.server.ThreadingHTTPServer
    thread: threading.Thread
    routes: dict[str, HttpsResponse]
    hits: list[str]

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def mta_sts_policy(mode: str, *mx: str, max_age: int = 86400) -> HttpsResponse:
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {pattern}" for pattern in mx), f"max_age: {max_age}"]
    return HttpsResponse(body=("\r\n".join(lines) + "\r\n").encode())


def start_https_server(issued: IssuedCertificate, routes: dict[str, HttpsResponse]) -> HttpsServer:
    """HTTPS on 127.0.0.1 presenting ``issued``, answering GETs from ``routes`` (path ->
    response; 404 otherwise) and recording each path asked for in ``hits``."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            response = routes.get(self.path, HttpsResponse(status=404, body=b"not found"))
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(issued.cert_file, issued.key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    return HttpsServer(server, thread, routes, hits)


# --- DNS -----------------------------------------------------------------------------------------


@dataclass
class FakeResolver:
    """Answers chosen by the test. Each table maps a name to (records, authenticated); a name
    missing from ``mx``/``txt``/``tlsa`` has no records of that type, and ``nxdomain`` names do
    not exist at all. ``addresses`` maps host names to IPs (default: 127.0.0.1 for any name,
    so MX hosts named in tests connect to loopback servers). ``queries`` records each lookup."""

    mx_records: dict[str, tuple[list[tuple[int, str]], bool]] = field(default_factory=dict)
    txt_records: dict[str, tuple[list[str], bool]] = field(default_factory=dict)
    tlsa_records: dict[str, tuple[list[TlsaRecord], bool]] = field(default_factory=dict)
    address_records: dict[str, list[str]] = field(default_factory=dict)
    default_address: str | None = LOOPBACK
    nxdomain: set[str] = field(default_factory=set)
    failing: set[str] = field(default_factory=set)
    queries: list[tuple[str, str]] = field(default_factory=list)

    def _lookup(self, rdtype: str, name: str, table: dict[str, Any]) -> DnsAnswer:
        self.queries.append((rdtype, name))
        if name in self.failing:
            raise posture.DnsLookupFailed("the lookup failed (SERVFAIL)")
        if name in self.nxdomain:
            raise DnsNoRecords(name, nxdomain=True)
        if name not in table:
            raise DnsNoRecords(name, nxdomain=False)
        records, authenticated = table[name]
        return DnsAnswer(tuple(records), authenticated)

    def mx(self, name: str) -> DnsAnswer:
        return self._lookup("MX", name, self.mx_records)

    def txt(self, name: str) -> DnsAnswer:
        return self._lookup("TXT", name, self.txt_records)

    def tlsa(self, name: str) -> DnsAnswer:
        return self._lookup("TLSA", name, self.tlsa_records)

    def addresses(self, name: str) -> list[str]:
        self.queries.append(("A", name))
        if name in self.nxdomain:
            raise DnsNoRecords(name, nxdomain=True)
        if name in self.address_records:
            return list(self.address_records[name])
        if self.default_address is None:
            raise DnsNoRecords(name, nxdomain=False)
        return [self.default_address]


@dataclass
class DnsServer:
    """A UDP DNS server on 127.0.0.1 answering from ``zone``: (name, type) -> rdata texts, with the
    AD flag when ``authenticated`` (a stand-in for a local validating resolver)."""

    sock: socket.socket
    thread: threading.Thread
    zone: dict[tuple[str, str], list[str]]
    authenticated: bool = False
    nxdomain: set[str] = field(default_factory=set)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    stopping: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.sock.close()


def start_dns_server(zone: dict[tuple[str, str], list[str]], *, authenticated: bool = False) -> DnsServer:
    import dns.flags
    import dns.message
    import dns.rcode
    import dns.rdatatype
    import dns.rrset

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOOPBACK, 0))
    sock.settimeout(0.02)  # so stop() is noticed
    server = DnsServer(sock, threading.Thread(), zone, authenticated)

    def serve() -> None:
        while not server.stopping.is_set():
            try:
                wire, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(wire)
            question = query.question[0]
            name = question.name.to_text(omit_final_dot=True)
            rdtype = dns.rdatatype.to_text(question.rdtype)
            response = dns.message.make_response(query)
            if name in server.nxdomain:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif (name, rdtype) in server.zone:
                response.answer.append(
                    dns.rrset.from_text_list(question.name, 300, "IN", rdtype, server.zone[(name, rdtype)])
                )
            if server.authenticated:
                response.flags |= dns.flags.AD
            sock.sendto(response.to_wire(), peer)

    server.thread = threading.Thread(target=serve, daemon=True)
    server.thread.start()
    return server


@contextmanager
def use_resolver(resolver: posture.Resolver) -> Iterator[posture.Resolver]:
    """Every probe inside the block asks ``resolver``."""
    previous = posture.set_resolver(resolver)
    try:
        yield resolver
    finally:
        posture.set_resolver(previous)
