"""Recipient-domain TLS posture: can mail to this domain travel over verified TLS?

``probe_domain(domain)`` looks now: the MX hosts (DNS, or ``DELIVERY_MX_OVERRIDES``), the
domain's MTA-STS policy (TXT ``_mta-sts.<domain>`` then ``https://mta-sts.<domain>/.well-known/
mta-sts.txt``), and an SMTP probe of the most preferred MX it may use: EHLO, STARTTLS, the
protocol and cipher negotiated, the certificate chain, then the certificate checked for the MX
name, by DANE (DNSSEC-validated TLSA records) when the domain publishes them and by WebPKI (the
system trust store plus ``DELIVERY_TLS_CA_FILE``) otherwise. ``domain_posture(domain)`` is the
same through the ``DomainTlsPosture`` cache (TTL; background refresh in ``delivery.tasks``).

The answer reduces to the two values the protection policy reads:

* ``tls``: ``"verified"`` (STARTTLS at TLS 1.2 or later, and the certificate valid for the MX
  host name, by WebPKI or DANE), ``"unverified"`` (TLS, but one of those fails: ``reasons``
  says which) or ``"none"`` (no STARTTLS, no TLS handshake, no MX reachable);
* ``tls_version``: ``"1.2"``, ``"1.3"`` or ``None`` (no TLS, or older than 1.2).

``delivery_refused`` is separate and wins over both: the domain must not be delivered to at all
(null MX, a domain that does not exist, an MTA-STS ``enforce`` policy no usable MX satisfies, or
DANE records the certificate does not match). A refused posture is never ``verified``. Before
connecting to a particular MX the pipeline also asks ``mx_allowed_by_policy``.

Domains and certificates are public facts, not PHI; still, nothing here logs a domain name
(a personal domain can name a person). See docs/delivery-tls.md.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import logging
import re
import smtplib
import socket
import ssl
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from delivery.models import DomainTlsPosture, TenantRecipientDomain
from sealpost.window_counter import count_in_window

if TYPE_CHECKING:
    from encryption.protection import DomainPosture

logger = logging.getLogger(__name__)

TLS_VERIFIED = "verified"
TLS_UNVERIFIED = "unverified"
TLS_NONE = "none"
TLS_STATES = (TLS_VERIFIED, TLS_UNVERIFIED, TLS_NONE)
TLS_VERSIONS = {"TLSv1.2": "1.2", "TLSv1.3": "1.3"}
MTA_STS_MODES = ("enforce", "testing", "none")
VERIFICATION_WEBPKI = "webpki"
VERIFICATION_DANE = "dane"

SMTP_PORT = 25
# How many MX hosts one probe may try (the first that answers decides, unless MTA-STS enforce
# or DANE makes the next one worth trying).
MAX_MX_PROBED = 3
MAX_ADDRESSES_PER_HOST = 2
PROBE_BUDGET_TIMEOUTS = 3  # no further MX is tried after this many probe timeouts
MTA_STS_MAX_POLICY_BYTES = 64 * 1024
MTA_STS_MAX_AGE_LIMIT = 31_557_600  # RFC 8461 §3.2: about a year
# The refresh task: postures expiring within the lead are re-probed; a claimed row is left alone
# this long; domains nobody asked about for KEEP_WARM are left to expire.
REFRESH_BATCH_SIZE = 50
REFRESH_LEAD = timedelta(hours=1)
REFRESH_CLAIM = timedelta(minutes=30)
KEEP_WARM = timedelta(days=7)
# last_requested_at is written at most this often per domain (reads stay reads).
REQUEST_TOUCH_INTERVAL = timedelta(hours=1)

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_HOST_PORT = re.compile(r"(?:\[(?P<ip6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]+)):(?P<port>[0-9]{1,5})")
_STS_ID = re.compile(r"[A-Za-z0-9]{1,32}")
_MAX_AGE = re.compile(r"[0-9]{1,10}")
_DER = getattr(ssl, "_ssl").ENCODING_DER  # noqa: B009 - the private constant for the 3.12 chain API
# OpenSSL verify codes whose meaning the certificate itself explains (see _certificate_reasons).
_EXPLAINED_VERIFY_CODES = {9, 10, 62}  # not yet valid, expired, host name mismatch
_OLD_PROTOCOLS = {"SSLv3": "SSL 3.0", "TLSv1": "TLS 1.0", "TLSv1.1": "TLS 1.1"}


# --- Names ---------------------------------------------------------------------------------------


class InvalidDomain(ValueError):
    """Not a domain name mail can be addressed to; the message is safe to show."""


def normalise_domain(value: str) -> str:
    """``value`` as a lower-case ASCII (IDNA) domain name of at least two labels, or InvalidDomain."""
    text = value.strip().rstrip(".").lower()
    if not text:
        raise InvalidDomain("Enter a domain name, for example example.com.")
    try:
        ascii_name = text.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidDomain("That is not a valid domain name.") from None
    labels = ascii_name.split(".")
    if (
        len(ascii_name) > 253
        or len(labels) < 2
        or not all(_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()  # an IP address, not a domain
    ):
        raise InvalidDomain("That is not a valid domain name.")
    return ascii_name


def _host_name(value: str) -> str:
    return value.strip().rstrip(".").lower()


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def split_host_port(value: str) -> tuple[str, int]:
    """``"host:port"`` or ``"[v6]:port"`` as (host, port); ValueError otherwise."""
    match = _HOST_PORT.fullmatch(value.strip())
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise ValueError(f'{value!r} is not "host:port"')
    return _host_name(match["ip6"] or match["host"]), int(match["port"])


def name_matches(pattern: str, host: str) -> bool:
    """RFC 6125 / RFC 8461 matching: exact (case-insensitive), or ``*.example.com`` for exactly
    one label in front of example.com."""
    pattern, host = _host_name(pattern), _host_name(host)
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


def _override(setting: str, domain: str) -> tuple[str, int] | None:
    mapping: dict[str, str] = getattr(settings, setting, None) or {}
    raw = mapping.get(domain)
    return split_host_port(raw) if raw else None


# --- DNS -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DnsAnswer:
    """Records of one lookup, and whether the resolver says they are DNSSEC-validated (AD)."""

    records: tuple[Any, ...]
    authenticated: bool = False


@dataclass(frozen=True)
class TlsaRecord:
    usage: int
    selector: int
    matching_type: int
    data: bytes


class DnsNoRecords(LookupError):
    """The name does not exist (``nxdomain``) or has no records of the type."""

    def __init__(self, name: str, *, nxdomain: bool) -> None:
        super().__init__(name)
        self.nxdomain = nxdomain


class DnsLookupFailed(OSError):
    """The lookup did not complete (timeout, SERVFAIL, no resolver); the message names no data."""


class Resolver(Protocol):
    """What a probe asks of DNS. MX records are (preference, exchange) with "." for a null MX,
    TXT records strings, TLSA records ``TlsaRecord``; ``addresses`` gives IP address strings
    to connect to. Each raises DnsNoRecords or DnsLookupFailed."""

    def mx(self, name: str) -> DnsAnswer: ...

    def txt(self, name: str) -> DnsAnswer: ...

    def tlsa(self, name: str) -> DnsAnswer: ...

    def addresses(self, name: str) -> list[str]: ...


class DnsPythonResolver:
    """The host's resolver through dnspython, asking for DNSSEC (DO and AD bits).

    The AD flag is only as trustworthy as the path to the resolver: run a validating resolver on
    the same host (unbound on 127.0.0.1) for DANE, as Postfix's ``smtp_dns_support_level=dnssec``
    requires. ``addresses`` uses the system's getaddrinfo (so /etc/hosts applies)."""

    def __init__(self, *, timeout: float, nameservers: list[str] | None = None, port: int = 53) -> None:
        import dns.flags
        import dns.resolver

        try:
            resolver = dns.resolver.Resolver(configure=nameservers is None)
        except dns.resolver.NoResolverConfiguration:
            resolver = dns.resolver.Resolver(configure=False)
        if nameservers is not None or not resolver.nameservers:
            resolver.nameservers = nameservers or ["127.0.0.1"]
        resolver.port = port
        resolver.lifetime = timeout
        resolver.timeout = timeout
        resolver.use_edns(0, dns.flags.DO, 1232)
        resolver.flags = dns.flags.RD | dns.flags.AD
        self._resolver = resolver

    def _query(self, name: str, rdtype: str) -> tuple[list[Any], bool]:
        import dns.exception
        import dns.flags
        import dns.resolver

        try:
            answer = self._resolver.resolve(name, rdtype, search=False)
        except dns.resolver.NXDOMAIN:
            raise DnsNoRecords(name, nxdomain=True) from None
        except dns.resolver.NoAnswer:
            raise DnsNoRecords(name, nxdomain=False) from None
        except dns.exception.DNSException as exc:
            raise DnsLookupFailed(f"the {rdtype} lookup failed ({type(exc).__name__})") from None
        return list(answer), bool(answer.response.flags & dns.flags.AD)

    def mx(self, name: str) -> DnsAnswer:
        import dns.name

        rows, authenticated = self._query(name, "MX")
        records = tuple(
            (int(r.preference), "." if r.exchange == dns.name.root else r.exchange.to_text(omit_final_dot=True))
            for r in rows
        )
        return DnsAnswer(records, authenticated)

    def txt(self, name: str) -> DnsAnswer:
        rows, authenticated = self._query(name, "TXT")
        return DnsAnswer(tuple(b"".join(r.strings).decode("utf-8", "replace") for r in rows), authenticated)

    def tlsa(self, name: str) -> DnsAnswer:
        rows, authenticated = self._query(name, "TLSA")
        records = tuple(TlsaRecord(int(r.usage), int(r.selector), int(r.mtype), bytes(r.cert)) for r in rows)
        return DnsAnswer(records, authenticated)

    def addresses(self, name: str) -> list[str]:
        try:
            infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
                raise DnsNoRecords(name, nxdomain=True) from None
            raise DnsLookupFailed("the address lookup failed") from None
        return list(dict.fromkeys(str(info[4][0]) for info in infos))


_resolver: Resolver | None = None


def get_resolver() -> Resolver:
    global _resolver
    if _resolver is None:
        _resolver = DnsPythonResolver(timeout=settings.DELIVERY_PROBE_TIMEOUT_SECONDS)
    return _resolver


def set_resolver(resolver: Resolver | None) -> Resolver | None:
    """Replace the resolver every probe uses (tests; ``None`` restores the default); returns the
    previous one. ``delivery.testing.use_resolver`` wraps this."""
    global _resolver
    previous, _resolver = _resolver, resolver
    return previous


# --- MX ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MxTarget:
    host: str
    port: int
    preference: int
    overridden: bool = False  # from DELIVERY_MX_OVERRIDES: configured, so private addresses are fine


@dataclass(frozen=True)
class MxResolution:
    targets: tuple[MxTarget, ...]
    secure: bool = False  # DNSSEC-validated MX answer, or configured: DANE may be used
    refused: str | None = None  # the domain takes no mail (null MX, does not exist)
    error: str | None = None  # the lookup failed; try again later


def resolve_mx(domain: str, *, resolver: Resolver | None = None) -> MxResolution:
    """The domain's MX hosts, most preferred first (RFC 5321 §5.1): the override when
    configured; an implicit MX (the domain itself) when it has addresses but no MX; refused for
    a null MX (RFC 7505) or a domain that does not exist."""
    override = _override("DELIVERY_MX_OVERRIDES", domain)
    if override is not None:
        return MxResolution((MxTarget(override[0], override[1], 0, overridden=True),), secure=True)
    resolver = resolver or get_resolver()
    try:
        answer = resolver.mx(domain)
    except DnsNoRecords as missing:
        if missing.nxdomain:
            return MxResolution((), refused=f"the domain {domain} does not exist")
        try:
            resolver.addresses(domain)
        except DnsNoRecords:
            return MxResolution((), refused=f"the domain {domain} has no MX records and no address")
        except DnsLookupFailed as exc:
            return MxResolution((), error=f"the address lookup for the implicit MX failed: {exc}")
        return MxResolution((MxTarget(domain, SMTP_PORT, 0),))
    except DnsLookupFailed as exc:
        return MxResolution((), error=f"the MX lookup failed: {exc}")
    records = sorted({(int(preference), _host_name(host)) for preference, host in answer.records})
    real = [(preference, host) for preference, host in records if host not in ("", ".")]
    if not real:
        return MxResolution((), secure=answer.authenticated, refused=f"{domain} accepts no mail (null MX, RFC 7505)")
    targets: dict[str, MxTarget] = {}
    for preference, host in real:  # sorted: the lowest preference of a repeated host is kept
        targets.setdefault(host, MxTarget(host, SMTP_PORT, preference))
    return MxResolution(tuple(targets.values()), secure=answer.authenticated)


def _connect_addresses(host: str, *, resolver: Resolver, allow_private: bool) -> list[str]:
    """Where to connect for ``host``. Outside configured overrides only public addresses: a
    domain whose MX points into our own network must not turn probes into a port scanner."""
    if _is_ip_literal(host):
        found = [host]
    else:
        try:
            found = resolver.addresses(host)
        except DnsNoRecords:
            raise _Unreachable(f"MX {host} has no address") from None
        except DnsLookupFailed as exc:
            raise _Unreachable(f"MX {host}: {exc}") from None
    usable = found if allow_private else [a for a in found if ipaddress.ip_address(a.split("%")[0]).is_global]
    if not usable:
        raise _Unreachable(f"MX {host} resolves only to private or reserved addresses")
    return usable[:MAX_ADDRESSES_PER_HOST]


class _Unreachable(Exception):
    """No SMTP session with this MX; the message is a reason sentence."""


# --- Certificates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateInfo:
    subject_names: tuple[str, ...]  # DNS names of the subjectAltName, else the common name
    issuer: str
    not_before: datetime
    not_after: datetime
    sha256: str

    def matches(self, host: str) -> bool:
        return any(name_matches(name, host) for name in self.subject_names)


def certificate_info(der: bytes) -> CertificateInfo:
    cert = x509.load_der_x509_certificate(der)
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        subject_names = [str(name) for name in names.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        subject_names = []
    if not subject_names:
        subject_names = [str(a.value) for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    return CertificateInfo(
        subject_names=tuple(subject_names),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
    )


def _certificate_reasons(info: CertificateInfo, host: str, now: datetime) -> list[str]:
    reasons = []
    if now > info.not_after:
        reasons.append(f"certificate expired on {info.not_after:%Y-%m-%d}")
    if now < info.not_before:
        reasons.append(f"certificate is not valid until {info.not_before:%Y-%m-%d}")
    if not info.matches(host):
        reasons.append(f"certificate is for {', '.join(info.subject_names) or 'no name'}, not {host}")
    return reasons


# --- MTA-STS (RFC 8461) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MtaStsPolicy:
    policy_id: str
    mode: str  # enforce | testing | none
    mx: tuple[str, ...]
    max_age: int
    fetched_at: datetime

    @property
    def expires_at(self) -> datetime:
        return self.fetched_at + timedelta(seconds=self.max_age)

    def matches(self, host: str) -> bool:
        return any(name_matches(pattern, host) for pattern in self.mx)


class MtaStsError(ValueError):
    """The MTA-STS record or policy cannot be used; the message is a reason clause."""


def parse_sts_record(records: Sequence[str]) -> str:
    """The policy id from the ``_mta-sts`` TXT records; MtaStsError unless exactly one valid
    ``v=STSv1`` record (RFC 8461 §3.1)."""
    sts = [record for record in records if record.startswith("v=STSv1")]
    if len(sts) != 1:
        raise MtaStsError(f"{len(sts)} v=STSv1 TXT records instead of one")
    fields: dict[str, str] = {}
    for part in sts[0].split(";"):
        key, sep, value = part.strip().partition("=")
        if part.strip() and not sep:
            raise MtaStsError("the TXT record is malformed")
        if key:
            fields.setdefault(key, value.strip())
    if fields.get("v") != "STSv1" or not _STS_ID.fullmatch(fields.get("id", "")):
        raise MtaStsError("the TXT record has no valid id")
    return fields["id"]


def parse_policy(text: str) -> tuple[str, tuple[str, ...], int]:
    """(mode, mx patterns, max_age) of a policy file; MtaStsError if it is not a valid STSv1
    policy (RFC 8461 §3.2)."""
    single: dict[str, str] = {}
    mx: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise MtaStsError(f"the line {line[:40]!r} is not 'key: value'")
        if key == "mx":
            pattern = _host_name(value)
            bare = pattern[2:] if pattern.startswith("*.") else pattern
            if not bare or not all(_LABEL.fullmatch(label) for label in bare.split(".")):
                raise MtaStsError(f"mx {value[:60]!r} is not a host name pattern")
            mx.append(pattern)
        elif key in ("version", "mode", "max_age"):
            if key in single:
                raise MtaStsError(f"{key} is given twice")
            single[key] = value
    if single.get("version") != "STSv1":
        raise MtaStsError("version is not STSv1")
    mode = single.get("mode", "")
    if mode not in MTA_STS_MODES:
        raise MtaStsError(f"mode {mode[:20]!r} is not enforce, testing or none")
    max_age_text = single.get("max_age", "")
    if not _MAX_AGE.fullmatch(max_age_text) or int(max_age_text) > MTA_STS_MAX_AGE_LIMIT:
        raise MtaStsError("max_age is missing or out of range")
    if mode != "none" and not mx:
        raise MtaStsError(f"mode {mode} needs at least one mx")
    return mode, tuple(mx), int(max_age_text)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to ``host`` (SNI, certificate name and Host header) over a connection to
    ``address``: the address is chosen (and vetted) by the caller, not resolved again."""

    def __init__(self, host: str, port: int, *, address: str, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(host, port, context=context, timeout=timeout)
        self._address = address
        self._tls_context = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls_context.wrap_socket(sock, server_hostname=self.host)


def fetch_policy_text(domain: str, *, resolver: Resolver | None = None) -> str:
    """GET https://mta-sts.<domain>/.well-known/mta-sts.txt: a valid certificate for
    mta-sts.<domain>, no redirects, 200 and text/plain, at most 64 KiB. ``DELIVERY_MTA_STS_
    OVERRIDES`` changes where the request connects to, never the name checked."""
    policy_host = f"mta-sts.{domain}"
    override = _override("DELIVERY_MTA_STS_OVERRIDES", domain)
    connect_host, port = override if override is not None else (policy_host, 443)
    try:
        addresses = _connect_addresses(connect_host, resolver=resolver or get_resolver(), allow_private=bool(override))
    except _Unreachable:
        raise MtaStsError(f"{policy_host} has no usable address") from None
    timeout = float(settings.DELIVERY_PROBE_TIMEOUT_SECONDS)
    connection = _PinnedHTTPSConnection(
        policy_host, port, address=addresses[0], context=verifying_context(), timeout=timeout
    )
    try:
        connection.request("GET", "/.well-known/mta-sts.txt", headers={"User-Agent": "Sealpost MTA-STS"})
        response = connection.getresponse()
        if 300 <= response.status < 400:
            raise MtaStsError("the policy fetch was redirected (redirects are not allowed)")
        if response.status != 200:
            raise MtaStsError(f"the policy fetch returned HTTP {response.status}")
        media_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
        if media_type != "text/plain":
            raise MtaStsError(f"the policy is served as {media_type[:40] or 'no type'!r}, not text/plain")
        body = response.read(MTA_STS_MAX_POLICY_BYTES + 1)
    except ssl.SSLCertVerificationError as exc:
        raise MtaStsError(f"the certificate of {policy_host} is not valid ({exc.verify_message})") from None
    except (OSError, http.client.HTTPException) as exc:
        raise MtaStsError(f"the policy fetch failed ({type(exc).__name__})") from None
    finally:
        connection.close()
    if len(body) > MTA_STS_MAX_POLICY_BYTES:
        raise MtaStsError("the policy is larger than 64 KiB")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise MtaStsError("the policy is not UTF-8 text") from None


@dataclass(frozen=True)
class MtaStsResult:
    policy: MtaStsPolicy | None
    reasons: tuple[str, ...] = ()


def discover_mta_sts(domain: str, *, cached: MtaStsPolicy | None, resolver: Resolver, now: datetime) -> MtaStsResult:
    """The domain's policy (RFC 8461 §5.1): the cached one while its id is unchanged and it has
    not expired; a fresh fetch when the id changed; the unexpired cached policy again when the
    record or the fetch fails (so blocking DNS or HTTPS cannot downgrade a domain)."""
    cached = cached if cached is not None and cached.expires_at > now else None
    still = "; the cached policy still applies" if cached is not None else ""
    try:
        policy_id = parse_sts_record(resolver.txt(f"_mta-sts.{domain}").records)
    except DnsNoRecords:
        return MtaStsResult(cached)
    except DnsLookupFailed as exc:
        return MtaStsResult(cached, (f"the MTA-STS record lookup failed ({exc}){still}",))
    except MtaStsError as exc:
        return MtaStsResult(cached, (f"MTA-STS record ignored: {exc}{still}",))
    if cached is not None and cached.policy_id == policy_id:
        return MtaStsResult(cached)
    try:
        mode, mx, max_age = parse_policy(fetch_policy_text(domain, resolver=resolver))
    except MtaStsError as exc:
        return MtaStsResult(cached, (f"MTA-STS policy ignored: {exc}{still}",))
    return MtaStsResult(MtaStsPolicy(policy_id, mode, mx, max_age, now))


# --- TLS -----------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _verifying_context(ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def verifying_context() -> ssl.SSLContext:
    """TLS 1.2+, certificate chain to the system trust store or ``DELIVERY_TLS_CA_FILE``, host
    name checked. Also what the transport should connect with to a verified domain."""
    return _verifying_context(getattr(settings, "DELIVERY_TLS_CA_FILE", None))


@lru_cache(maxsize=1)
def _probing_context() -> ssl.SSLContext:
    """For learning what a server offers, never for sending: no verification, and TLS 1.0 and
    weak ciphers allowed (OpenSSL 3 refuses TLS 1.0 below security level 0), so a server that
    only speaks TLS 1.0 is reported as such rather than as a failed handshake."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


class _ProbeSMTP(smtplib.SMTP):
    """smtplib.SMTP that connects to a chosen address while EHLO, SNI and the certificate check
    use the MX host name."""

    def __init__(self, address: str, **kwargs: Any) -> None:
        self._address = address
        super().__init__(**kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        self._host = host  # what starttls() gives as server_hostname (connect() leaves it unset)
        return socket.create_connection((self._address, port), timeout, self.source_address)


@dataclass(frozen=True)
class _Handshake:
    offered: bool
    refused_reply: int | None = None
    protocol: str | None = None
    cipher: str | None = None
    chain: tuple[bytes, ...] = ()


def _peer_chain(sock: ssl.SSLSocket) -> tuple[bytes, ...]:
    public = getattr(sock, "get_unverified_chain", None)  # Python 3.13+
    if public is not None:
        return tuple(public() or ())
    private = getattr(getattr(sock, "_sslobj", None), "get_unverified_chain", None)  # 3.10-3.12
    if private is not None:
        return tuple(cert.public_bytes(_DER) for cert in private() or ())
    leaf = sock.getpeercert(binary_form=True)
    return (leaf,) if leaf else ()


def _starttls(target: MxTarget, address: str, context: ssl.SSLContext) -> _Handshake:
    """One SMTP session: greeting, EHLO, STARTTLS with ``context``, EHLO, QUIT. Raises
    _Unreachable without a greeting, ssl.SSLError when the handshake fails."""
    smtp = _ProbeSMTP(
        address, timeout=float(settings.DELIVERY_PROBE_TIMEOUT_SECONDS), local_hostname=settings.DELIVERY_EHLO_NAME
    )
    try:
        try:
            code, _ = smtp.connect(target.host, target.port)
        except (OSError, smtplib.SMTPException) as exc:
            raise _Unreachable(f"could not connect to MX {target.host} ({type(exc).__name__})") from None
        if code != 220:
            raise _Unreachable(f"MX {target.host} answered {code} instead of a greeting")
        try:
            code, _ = smtp.ehlo()
            if code != 250 or not smtp.has_extn("starttls"):
                return _Handshake(offered=False)
            code, _ = smtp.starttls(context=context)
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPResponseException, OSError) as exc:
            if isinstance(exc, ssl.SSLError):
                raise
            raise _Unreachable(f"MX {target.host} ended the session ({type(exc).__name__})") from None
        if code != 220:
            return _Handshake(offered=True, refused_reply=code)
        sock = smtp.sock
        if not isinstance(sock, ssl.SSLSocket):  # starttls() replied 220, so it cannot be plain
            raise _Unreachable(f"MX {target.host}: STARTTLS left the session unencrypted")
        cipher = sock.cipher()
        handshake = _Handshake(
            offered=True, protocol=sock.version(), cipher=cipher[0] if cipher else None, chain=_peer_chain(sock)
        )
        try:  # politely: the server gets a full session, not a dropped connection
            smtp.ehlo()
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            pass
        return handshake
    finally:
        smtp.close()


def _tlsa_matches(record: TlsaRecord, der: bytes) -> bool:
    if record.selector == 0:
        data = der
    elif record.selector == 1:
        try:
            data = (
                x509.load_der_x509_certificate(der)
                .public_key()
                .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            )
        except ValueError:  # a certificate (or key type) cryptography cannot read matches nothing
            return False
    else:
        return False
    if record.matching_type == 0:
        return data == record.data
    if record.matching_type == 1:
        return hashlib.sha256(data).digest() == record.data
    if record.matching_type == 2:
        return hashlib.sha512(data).digest() == record.data
    return False


def _chains_to(anchor_der: bytes, chain: tuple[bytes, ...], host: str, now: datetime) -> bool:
    """DANE-TA: the leaf chains to ``anchor`` and names ``host`` (RFC 7672 §3.1.2)."""
    try:
        certs = [x509.load_der_x509_certificate(der) for der in chain]
        verifier = (
            PolicyBuilder()
            .store(Store([x509.load_der_x509_certificate(anchor_der)]))
            .time(now)
            .build_server_verifier(x509.DNSName(host))
        )
        verifier.verify(certs[0], certs[1:])
    except (VerificationError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class _Dane:
    state: str  # absent | matched | failed
    notes: tuple[str, ...] = ()


def _dane_check(
    target: MxTarget, *, mx_secure: bool, chain: tuple[bytes, ...], resolver: Resolver, now: datetime
) -> _Dane:
    """RFC 7672: only DNSSEC-validated TLSA records for an MX reached through validated (or
    configured) MX records count; only DANE-TA (2) and DANE-EE (3) are used for SMTP."""
    if not mx_secure or not chain:
        return _Dane("absent")
    found = dane_records(target, resolver=resolver)
    if isinstance(found, _Dane):
        return found
    if dane_matches(found, chain, target.host, now):
        return _Dane("matched")
    return _Dane("failed", (f"the certificate of MX {target.host} does not match its DANE TLSA records",))


def dane_records(target: MxTarget, *, resolver: Resolver) -> tuple[TlsaRecord, ...] | _Dane:
    """The usable DNSSEC-validated TLSA records of an MX (DANE-TA and DANE-EE), or why there are
    none (an absent ``_Dane`` with notes). The caller has checked that the MX answer itself was
    validated (or configured)."""
    name = f"_{target.port}._tcp.{target.host}"
    try:
        answer = resolver.tlsa(name)
    except DnsNoRecords:
        return _Dane("absent")
    except DnsLookupFailed as exc:
        return _Dane("absent", (f"the TLSA lookup for MX {target.host} failed ({exc}); DANE was not used",))
    if not answer.authenticated:
        return _Dane("absent", (f"the TLSA records of MX {target.host} are not DNSSEC-validated; DANE was not used",))
    usable = tuple(
        r for r in answer.records if r.usage in (2, 3) and r.selector in (0, 1) and r.matching_type in (0, 1, 2)
    )
    if not usable:
        return _Dane("absent", (f"MX {target.host} has no usable TLSA records (SMTP uses DANE-TA and DANE-EE)",))
    return usable


def dane_matches(records: tuple[TlsaRecord, ...], chain: tuple[bytes, ...], host: str, now: datetime) -> bool:
    """Whether the presented chain (leaf first, DER) satisfies one of the TLSA records: DANE-EE
    matches the leaf; DANE-TA matches a certificate of the chain that the leaf chains to and
    that names ``host``."""
    if not chain:
        return False
    for record in records:
        if record.usage == 3 and _tlsa_matches(record, chain[0]):
            return True
        if record.usage == 2:
            for der in chain[1:]:
                if _tlsa_matches(record, der) and _chains_to(der, chain, host, now):
                    return True
    return False


def peer_chain(sock: ssl.SSLSocket) -> tuple[bytes, ...]:
    """The certificates the peer presented, leaf first (DER), whether or not they verified."""
    return _peer_chain(sock)


def _verify_webpki(target: MxTarget, address: str) -> tuple[int, str] | None:
    """A second session that verifies as the transport will (TLS 1.2+, trusted chain, MX name):
    None if it passes, else OpenSSL's verify code (0 if none) and message."""
    try:
        _starttls(target, address, verifying_context())
    except ssl.SSLCertVerificationError as exc:
        return int(exc.verify_code), str(exc.verify_message)
    except ssl.SSLError as exc:
        return 0, f"the verifying handshake failed: {exc.reason or exc}"
    except _Unreachable as exc:
        return 0, f"the verifying session failed: {exc}"
    return None


@dataclass(frozen=True)
class _HostResult:
    host: str
    tls: str
    protocol: str | None = None
    cipher: str | None = None
    certificate: CertificateInfo | None = None
    verification: str | None = None
    dane: bool = False
    refuse: bool = False  # DANE records exist and the certificate does not match them
    reasons: tuple[str, ...] = ()


def _probe_host(target: MxTarget, *, mx_secure: bool, resolver: Resolver, now: datetime) -> _HostResult:
    addresses = _connect_addresses(target.host, resolver=resolver, allow_private=target.overridden)
    problem = ""
    for address in addresses:
        try:
            handshake = _starttls(target, address, _probing_context())
        except _Unreachable as exc:
            problem = str(exc)
            continue
        except ssl.SSLError as exc:
            return _HostResult(
                target.host,
                TLS_NONE,
                reasons=(f"the TLS handshake with MX {target.host} failed ({exc.reason or exc})",),
            )
        break
    else:
        raise _Unreachable(problem)
    if not handshake.offered:
        return _HostResult(target.host, TLS_NONE, reasons=("the server does not offer STARTTLS",))
    if handshake.refused_reply is not None:
        return _HostResult(
            target.host,
            TLS_NONE,
            reasons=(f"the server offers STARTTLS but refused to start it (reply {handshake.refused_reply})",),
        )
    try:
        certificate = certificate_info(handshake.chain[0]) if handshake.chain else None
    except ValueError:  # unreadable: WebPKI will refuse it too, and say why
        certificate = None
    seen = _HostResult(target.host, TLS_UNVERIFIED, handshake.protocol, handshake.cipher, certificate)
    version_ok = handshake.protocol in TLS_VERSIONS
    reasons: list[str] = []
    if not version_ok:
        reasons.append(f"{_OLD_PROTOCOLS.get(handshake.protocol or '', 'an unknown TLS version')} only")
    dane = _dane_check(target, mx_secure=mx_secure, chain=handshake.chain, resolver=resolver, now=now)
    if dane.state == "matched" and version_ok:
        return replace(seen, tls=TLS_VERIFIED, verification=VERIFICATION_DANE, dane=True)
    reasons += dane.notes
    if dane.state == "failed":
        return replace(seen, refuse=True, reasons=tuple(reasons))
    if certificate is None:
        return replace(seen, reasons=(*reasons, "the server presented no readable certificate"))
    explained = _certificate_reasons(certificate, target.host, now)
    if not version_ok:
        return replace(seen, reasons=tuple(reasons + explained))
    failure = _verify_webpki(target, address)
    if failure is None:
        return replace(seen, tls=TLS_VERIFIED, verification=VERIFICATION_WEBPKI, reasons=tuple(reasons))
    code, message = failure
    if not explained or code not in _EXPLAINED_VERIFY_CODES:
        explained.append(f"certificate is not trusted ({message})")
    return replace(seen, reasons=tuple(reasons + explained))


# --- The posture ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsPosture:
    domain: str
    mx_hosts: tuple[str, ...]  # most preferred first
    mx_host: str | None  # the MX probed (the first usable that answered)
    tls: str  # verified | unverified | none
    tls_version: str | None  # "1.2" | "1.3" | None
    protocol: str | None  # as negotiated, e.g. "TLSv1" (also when too old for tls_version)
    cipher: str | None
    certificate: CertificateInfo | None
    verification: str | None  # webpki | dane | None
    mta_sts_mode: str  # enforce | testing | none
    mta_sts_policy: MtaStsPolicy | None
    dane: bool  # usable DNSSEC-validated TLSA records matched
    delivery_refused: bool
    reasons: tuple[str, ...]
    checked_at: datetime
    expires_at: datetime
    mx_secure: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if self.tls not in TLS_STATES:
            raise ValueError(f"tls must be one of {TLS_STATES}")
        if self.tls_version not in (None, *TLS_VERSIONS.values()):
            raise ValueError("tls_version must be '1.2', '1.3' or None")
        if self.mta_sts_mode not in MTA_STS_MODES:
            raise ValueError(f"mta_sts_mode must be one of {MTA_STS_MODES}")
        if self.delivery_refused and self.tls == TLS_VERIFIED:
            raise ValueError("a refused domain is never verified")

    @property
    def mx_patterns(self) -> tuple[str, ...]:
        return self.mta_sts_policy.mx if self.mta_sts_policy else ()

    @property
    def mta_sts_max_age(self) -> int | None:
        return self.mta_sts_policy.max_age if self.mta_sts_policy else None

    @property
    def mx_authenticated(self) -> bool:
        """Verified, and the MX name itself is authenticated (MTA-STS enforce or DANE), not only
        taken from unsigned DNS."""
        return self.tls == TLS_VERIFIED and (self.dane or self.mta_sts_mode == "enforce")

    def is_fresh(self, now: datetime | None = None) -> bool:
        return self.expires_at > (now or timezone.now())


def mx_allowed_by_policy(posture: TlsPosture, mx_host: str) -> bool:
    """Whether the pipeline may connect to ``mx_host`` for this domain: False only under an
    MTA-STS ``enforce`` policy whose mx patterns it does not match (``testing`` mismatches are
    reported in ``reasons``, not enforced)."""
    policy = posture.mta_sts_policy
    if policy is None or policy.mode != "enforce":
        return True
    return policy.matches(mx_host)


def _expiry(now: datetime, tls: str, policy: MtaStsPolicy | None, certificate: CertificateInfo | None) -> datetime:
    ttl = (
        settings.DELIVERY_POSTURE_TTL_SECONDS if tls == TLS_VERIFIED else settings.DELIVERY_POSTURE_FAILURE_TTL_SECONDS
    )
    candidates = [now + timedelta(seconds=ttl)]
    if policy is not None:
        candidates.append(policy.expires_at)  # then the policy must be fetched again
    if tls == TLS_VERIFIED and certificate is not None and certificate.not_after > now:
        candidates.append(certificate.not_after)  # then the certificate is no longer valid
    return min(candidates)


def probe_domain(
    domain: str, *, previous: TlsPosture | None = None, resolver: Resolver | None = None, now: datetime | None = None
) -> TlsPosture:
    """Look now (no cache; ``previous`` only lends its MTA-STS policy, as RFC 8461 caching asks)."""
    domain = normalise_domain(domain)
    now = now or timezone.now()
    resolver = resolver or get_resolver()
    started = timezone.now()
    mx = resolve_mx(domain, resolver=resolver)
    cached = previous.mta_sts_policy if previous else None
    if mx.refused is not None:
        sts = MtaStsResult(None)
    elif mx.error is not None:  # nothing to deliver to now; keep an unexpired policy for later
        sts = MtaStsResult(cached if cached is not None and cached.expires_at > now else None)
    else:
        sts = discover_mta_sts(domain, cached=cached, resolver=resolver, now=now)
    policy = sts.policy
    mode = policy.mode if policy else "none"
    reasons = list(sts.reasons)

    def posture(result: _HostResult | None, *, refused: bool = False) -> TlsPosture:
        tls = result.tls if result else TLS_NONE
        protocol = result.protocol if result else None
        certificate = result.certificate if result else None
        found = TlsPosture(
            domain=domain,
            mx_hosts=tuple(target.host for target in mx.targets),
            mx_host=result.host if result else None,
            tls=tls,
            tls_version=TLS_VERSIONS.get(protocol or "") if tls != TLS_NONE else None,
            protocol=protocol,
            cipher=result.cipher if result else None,
            certificate=certificate,
            verification=result.verification if result else None,
            mta_sts_mode=mode,
            mta_sts_policy=policy,
            dane=result.dane if result else False,
            delivery_refused=refused,
            reasons=tuple(dict.fromkeys(reasons)),
            checked_at=now,
            expires_at=_expiry(now, tls, policy, certificate),
            mx_secure=mx.secure,
        )
        logger.info(
            "recipient domain probed",
            extra={
                "tls": found.tls,
                "tls_version": found.tls_version,
                "refused": found.delivery_refused,
                "mta_sts_mode": mode,
                "dane": found.dane,
                "duration_ms": int((timezone.now() - started).total_seconds() * 1000),
            },
        )
        return found

    if mx.refused is not None:
        reasons.insert(0, mx.refused)
        return posture(None, refused=True)
    if mx.error is not None:
        reasons.insert(0, mx.error)
        return posture(None)
    enforce = mode == "enforce"
    candidates = []
    for target in mx.targets:
        if policy is not None and mode != "none" and not policy.matches(target.host):
            reasons.append(f"MX {target.host} is not allowed by the domain's MTA-STS policy ({mode})")
            if enforce:
                continue
        candidates.append(target)
    if enforce and not candidates:
        reasons.append("no MX of the domain is allowed by its MTA-STS policy (enforce): delivery refused")
        return posture(None, refused=True)
    chosen: _HostResult | None = None
    # Each session has the probe timeout; a domain of dead MX hosts must not hold a request (or
    # a worker) for minutes, so further hosts are skipped once this budget is spent.
    budget = timedelta(seconds=PROBE_BUDGET_TIMEOUTS * settings.DELIVERY_PROBE_TIMEOUT_SECONDS)
    for target in candidates[:MAX_MX_PROBED]:
        if timezone.now() - started > budget:
            reasons.append(f"gave up on the remaining MX hosts after {int(budget.total_seconds())} seconds")
            break
        try:
            result = _probe_host(target, mx_secure=mx.secure, resolver=resolver, now=now)
        except _Unreachable as exc:
            reasons.append(str(exc))
            continue
        if chosen is None or result.tls == TLS_VERIFIED:
            chosen = result
        # Opportunistic TLS takes the first MX that answers; enforce and DANE try the next.
        if result.tls == TLS_VERIFIED or not (enforce or result.refuse):
            break
    if chosen is None:
        reasons.append("no MX host could be reached")
        return posture(None)
    reasons.extend(chosen.reasons)
    refused = chosen.refuse
    if enforce and chosen.tls != TLS_VERIFIED:
        reasons.append(
            f"the domain's MTA-STS policy (enforce) requires TLS 1.2+ and a valid certificate, "
            f"which MX {chosen.host} does not offer: delivery refused"
        )
        refused = True
    elif chosen.refuse:
        reasons.append("DANE requires a matching certificate: delivery refused")
    return posture(chosen, refused=refused)


# --- Storage -------------------------------------------------------------------------------------


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def posture_to_json(posture: TlsPosture) -> dict[str, Any]:
    cert, policy = posture.certificate, posture.mta_sts_policy
    return {
        "domain": posture.domain,
        "mx_hosts": list(posture.mx_hosts),
        "mx_host": posture.mx_host,
        "mx_secure": posture.mx_secure,
        "tls": posture.tls,
        "tls_version": posture.tls_version,
        "protocol": posture.protocol,
        "cipher": posture.cipher,
        "certificate": None
        if cert is None
        else {
            "subject_names": list(cert.subject_names),
            "issuer": cert.issuer,
            "not_before": _dt(cert.not_before),
            "not_after": _dt(cert.not_after),
            "sha256": cert.sha256,
        },
        "verification": posture.verification,
        "mta_sts_mode": posture.mta_sts_mode,
        "mta_sts_policy": None
        if policy is None
        else {
            "id": policy.policy_id,
            "mode": policy.mode,
            "mx": list(policy.mx),
            "max_age": policy.max_age,
            "fetched_at": _dt(policy.fetched_at),
        },
        "dane": posture.dane,
        "delivery_refused": posture.delivery_refused,
        "reasons": list(posture.reasons),
        "checked_at": _dt(posture.checked_at),
        "expires_at": _dt(posture.expires_at),
    }


def posture_from_json(data: dict[str, Any]) -> TlsPosture:
    cert, policy = data.get("certificate"), data.get("mta_sts_policy")
    return TlsPosture(
        domain=data["domain"],
        mx_hosts=tuple(data["mx_hosts"]),
        mx_host=data["mx_host"],
        mx_secure=bool(data.get("mx_secure", False)),
        tls=data["tls"],
        tls_version=data["tls_version"],
        protocol=data["protocol"],
        cipher=data["cipher"],
        certificate=None
        if cert is None
        else CertificateInfo(
            subject_names=tuple(cert["subject_names"]),
            issuer=cert["issuer"],
            not_before=_parse_dt(cert["not_before"]),  # type: ignore[arg-type]
            not_after=_parse_dt(cert["not_after"]),  # type: ignore[arg-type]
            sha256=cert["sha256"],
        ),
        verification=data["verification"],
        mta_sts_mode=data["mta_sts_mode"],
        mta_sts_policy=None
        if policy is None
        else MtaStsPolicy(
            policy_id=policy["id"],
            mode=policy["mode"],
            mx=tuple(policy["mx"]),
            max_age=int(policy["max_age"]),
            fetched_at=_parse_dt(policy["fetched_at"]),  # type: ignore[arg-type]
        ),
        dane=bool(data["dane"]),
        delivery_refused=bool(data["delivery_refused"]),
        reasons=tuple(data["reasons"]),
        checked_at=_parse_dt(data["checked_at"]),  # type: ignore[arg-type]
        expires_at=_parse_dt(data["expires_at"]),  # type: ignore[arg-type]
    )


def _row_posture(row: DomainTlsPosture) -> TlsPosture:
    return posture_from_json(row.data)


def _store(posture: TlsPosture, *, requested: bool) -> None:
    values: dict[str, Any] = {
        "tls": posture.tls,
        "tls_version": posture.tls_version or "",
        "delivery_refused": posture.delivery_refused,
        "data": posture_to_json(posture),
        "checked_at": posture.checked_at,
        "expires_at": posture.expires_at,
        "refresh_claimed_at": None,
    }
    if requested:
        values["last_requested_at"] = posture.checked_at
    for attempt in range(2):
        try:
            with transaction.atomic():
                updated = DomainTlsPosture.objects.filter(domain=posture.domain).update(**values)
                if not updated:
                    values.setdefault("last_requested_at", posture.checked_at)
                    DomainTlsPosture.objects.create(domain=posture.domain, **values)
            return
        except IntegrityError:
            if attempt:  # created twice at once and still failing: not a race
                raise


def cached_posture(domain: str) -> TlsPosture | None:
    """The stored posture, fresh or not, without probing (None if never probed)."""
    row = DomainTlsPosture.objects.filter(domain=normalise_domain(domain)).first()
    return _row_posture(row) if row is not None else None


def domain_posture(domain: str, *, refresh: bool = False) -> TlsPosture:
    """The cached posture while fresh, else (or with ``refresh``) a probe now, stored. A probe
    takes seconds: the send pipeline should use ``posture_or_schedule`` instead."""
    domain = normalise_domain(domain)
    now = timezone.now()
    row = DomainTlsPosture.objects.filter(domain=domain).first()
    previous = _row_posture(row) if row is not None else None
    if row is not None and previous is not None and not refresh and previous.is_fresh(now):
        if row.last_requested_at < now - REQUEST_TOUCH_INTERVAL:
            DomainTlsPosture.objects.filter(pk=row.pk).update(last_requested_at=now)
        return previous
    posture = probe_domain(domain, previous=previous)
    _store(posture, requested=True)
    return posture


def posture_or_schedule(domain: str) -> TlsPosture | None:
    """For the send pipeline: the fresh cached posture, or None after queuing a background probe
    (``delivery.probe_domain_posture``, once per domain per few minutes). On None, defer the
    domain's PHI messages and retry after the probe; never guess."""
    domain = normalise_domain(domain)
    posture = cached_posture(domain)
    if posture is not None and posture.is_fresh():
        now = timezone.now()
        DomainTlsPosture.objects.filter(domain=domain, last_requested_at__lt=now - REQUEST_TOUCH_INTERVAL).update(
            last_requested_at=now
        )
        return posture
    if cache.add(f"sealpost:delivery:probe_queued:{domain}", 1, timeout=300):
        from delivery.tasks import probe_domain_posture_task

        transaction.on_commit(lambda: probe_domain_posture_task.delay(domain))
    return None


def posture_distrust(domain: str) -> None:
    """The transport could not get the TLS this domain's posture promised: the posture is
    expired now, so the next ``posture_or_schedule`` probes again instead of trusting it."""
    try:
        domain = normalise_domain(domain)
    except InvalidDomain:
        return
    row = DomainTlsPosture.objects.filter(domain=domain).first()
    if row is None:
        return
    now = timezone.now()
    data = posture_to_json(replace(_row_posture(row), expires_at=now))
    DomainTlsPosture.objects.filter(pk=row.pk).update(expires_at=now, data=data)
    cache.delete(f"sealpost:delivery:probe_queued:{domain}")


def refresh_due_postures(*, now: datetime | None = None, limit: int = REFRESH_BATCH_SIZE) -> int:
    """Re-probe up to ``limit`` stored postures that expire within REFRESH_LEAD and were asked
    for within KEEP_WARM, each claimed first (compare-and-set) so parallel runs share the work.
    Returns how many were re-probed."""
    now = now or timezone.now()
    due = list(
        DomainTlsPosture.objects.filter(expires_at__lte=now + REFRESH_LEAD, last_requested_at__gte=now - KEEP_WARM)
        .filter(Q(refresh_claimed_at__isnull=True) | Q(refresh_claimed_at__lt=now - REFRESH_CLAIM))
        .order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    refreshed = 0
    for pk in due:
        claimed = (
            DomainTlsPosture.objects.filter(pk=pk)
            .filter(Q(refresh_claimed_at__isnull=True) | Q(refresh_claimed_at__lt=now - REFRESH_CLAIM))
            .update(refresh_claimed_at=now)
        )
        if not claimed:
            continue
        row = DomainTlsPosture.objects.get(pk=pk)
        try:
            posture = probe_domain(row.domain, previous=_row_posture(row))
        except InvalidDomain:  # stored before a stricter rule: let it expire
            continue
        _store(posture, requested=False)
        refreshed += 1
    return refreshed


# --- Each organisation's recipient domains -------------------------------------------------------


class CheckRateLimited(Exception):
    """Too many check-now requests for this organisation this hour."""


@dataclass(frozen=True)
class RecipientDomainRow:
    domain: str
    last_used_at: datetime
    posture: TlsPosture | None
    checking: bool = False  # a member asked for a check and its probe has not finished


def recipient_domain_touch(*, tenant: Any, domain: str, now: datetime | None = None) -> TenantRecipientDomain:
    """Record that ``tenant`` checked or mailed ``domain`` (the pipeline calls this on send)."""
    from tenants.context import require_tenant_is_current

    require_tenant_is_current(tenant)
    now = now or timezone.now()
    domain = normalise_domain(domain)
    with transaction.atomic():
        row, created = TenantRecipientDomain.objects.for_tenant(tenant).get_or_create(
            tenant=tenant, domain=domain, defaults={"last_used_at": now}
        )
        if not created and row.last_used_at < now:
            row.last_used_at = now
            row.save(update_fields=["last_used_at"])
    return row


def recipient_domain_check_request(*, tenant: Any, user: Any, domain: str) -> TenantRecipientDomain:
    """A member asks to check ``domain`` now: the domain joins the organisation's list marked
    "checking", and a task probes it (a probe takes seconds, up to a minute for a server that
    does not answer: no request waits for it). InvalidDomain or CheckRateLimited otherwise."""
    from tenants.context import require_tenant_is_current

    require_tenant_is_current(tenant)
    domain = normalise_domain(domain)
    if count_in_window(f"sealpost:delivery:domain_checks:{tenant.pk}", 3600) > settings.DELIVERY_DOMAIN_CHECKS_PER_HOUR:
        raise CheckRateLimited
    now = timezone.now()
    with transaction.atomic():
        row = recipient_domain_touch(tenant=tenant, domain=domain, now=now)
        row.check_requested_at, row.check_requested_by = now, user
        row.save(update_fields=["check_requested_at", "check_requested_by"])
        from delivery.tasks import recipient_domain_check_task

        tenant_id, row_id = tenant.pk, row.pk
        transaction.on_commit(lambda: recipient_domain_check_task.delay(tenant_id, str(row_id)))
    return row


def recipient_domain_check_run(*, tenant: Any, row_id: Any) -> TlsPosture | None:
    """The task's body: a fresh probe of the requested domain (outside any tenant transaction:
    the posture is a public fact kept once), then, in the tenant, the result is audited for the
    member who asked (a cached answer could reveal that someone else mails there, so the time
    shown is this check's) and the request cleared. Never leaves a row "checking"."""
    from audit.services import Target, actor_for_user, record, system_actor
    from tenants.context import tenant_context

    with tenant_context(tenant):
        row = TenantRecipientDomain.objects.for_tenant(tenant).filter(pk=row_id).first()
        if row is None or row.check_requested_at is None:
            return None
        domain, requested_at = row.domain, row.check_requested_at
    posture = None
    try:
        posture = domain_posture(domain, refresh=True)
    finally:
        with tenant_context(tenant), transaction.atomic():
            row = TenantRecipientDomain.objects.for_tenant(tenant).select_for_update().filter(pk=row_id).first()
            if row is not None and row.check_requested_at == requested_at:
                user = row.check_requested_by
                row.check_requested_at, row.check_requested_by = None, None
                if posture is not None and row.last_used_at < posture.checked_at:
                    row.last_used_at = posture.checked_at
                row.save(update_fields=["check_requested_at", "check_requested_by", "last_used_at"])
                if posture is not None:
                    record(
                        tenant=tenant,
                        action="delivery.domain_checked",
                        actor=actor_for_user(user) if user is not None else system_actor("delivery.posture"),
                        target=Target.of(row),
                        details={"tls": posture.tls, "delivery_refused": posture.delivery_refused},
                    )
    return posture


def recipient_domains(*, tenant: Any, limit: int = 200) -> list[RecipientDomainRow]:
    """The organisation's own domains, most recently used first, with their stored posture
    (two queries whatever the length)."""
    from tenants.context import require_tenant_is_current

    require_tenant_is_current(tenant)
    rows = list(TenantRecipientDomain.objects.for_tenant(tenant).order_by("-last_used_at", "domain")[:limit])
    stored = {
        row.domain: _row_posture(row)
        for row in DomainTlsPosture.objects.filter(domain__in=[r.domain for r in rows]).only("domain", "data")
    }
    return [
        RecipientDomainRow(r.domain, r.last_used_at, stored.get(r.domain), r.check_requested_at is not None)
        for r in rows
    ]


def policy_posture(posture: TlsPosture) -> DomainPosture:
    """A probed posture as the protection policy reads it. A domain the pipeline must refuse
    (MTA-STS enforce mismatch, null MX, DANE mismatch) reads as no TLS: PHI then goes to
    escrow, and the transport refuses to connect anyway."""
    from encryption.protection import TLS_NONE, DomainPosture

    tls = TLS_NONE if posture.delivery_refused else posture.tls
    return DomainPosture(domain=posture.domain, tls=tls, tls_version=posture.tls_version if tls != TLS_NONE else None)


def checked_domain_posture(*, tenant: Any, domain: str) -> DomainPosture | None:
    """The stored posture of a domain this organisation checked or sent to, for the policy;
    None otherwise. Another organisation's check never shows through: the domain must be on
    this organisation's own list."""
    from tenants.context import require_tenant_is_current

    require_tenant_is_current(tenant)
    domain = normalise_domain(domain)
    if not TenantRecipientDomain.objects.for_tenant(tenant).filter(domain=domain).exists():
        return None
    stored = cached_posture(domain)
    return policy_posture(stored) if stored is not None else None
