"""DANE (RFC 7672): TLSA records count only when DNSSEC-validated; DANE-EE matches the server's
own certificate or key (no CA, name or expiry check), DANE-TA a CA in the chain it presents."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from delivery.posture import MxTarget, TlsaRecord, _dane_check, probe_domain
from delivery.testing import (
    CertificateAuthority,
    FakeResolver,
    self_signed,
    server_context,
    smtp_server,
    use_resolver,
)

DOMAIN = "clinic.example.test"
MX = "mx.clinic.example.test"


@pytest.fixture
def ca(tmp_path):
    return CertificateAuthority(tmp_path / "ca")


@pytest.fixture
def resolver():
    with use_resolver(FakeResolver()) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _delivery_settings(settings, resolver):
    settings.DELIVERY_TLS_CA_FILE = None  # nothing but DANE can vouch for these certificates
    settings.DELIVERY_PROBE_TIMEOUT_SECONDS = 5
    settings.DELIVERY_MTA_STS_OVERRIDES = {}


def _serve(settings, resolver, issued, records, *, authenticated=True):
    server = smtp_server(tls_context=server_context(issued))
    running = server.__enter__()
    settings.DELIVERY_MX_OVERRIDES = {DOMAIN: f"{MX}:{running.port}"}
    resolver.tlsa_records[f"_{running.port}._tcp.{MX}"] = (records, authenticated)
    sessions: list[str] = []

    async def handle_EHLO(server_, session, envelope, hostname, responses):
        sessions.append(hostname)
        session.host_name = hostname  # what aiosmtpd does without this hook: MAIL needs it
        return responses

    running.handler.handle_EHLO = handle_EHLO  # type: ignore[attr-defined]
    running.sessions = sessions  # type: ignore[attr-defined]
    return server, running


@pytest.fixture
def serve(settings, resolver):
    started = []

    def _start(issued, records, *, authenticated=True):
        server, running = _serve(settings, resolver, issued, records, authenticated=authenticated)
        started.append(server)
        return running

    yield _start
    for server in started:
        server.__exit__(None, None, None)


def test_dane_ee_verifies_a_self_signed_certificate_when_dnssec_validated(tmp_path, serve):
    issued = self_signed(tmp_path, MX)
    server = serve(issued, [TlsaRecord(3, 1, 1, issued.spki_sha256())])
    posture = probe_domain(DOMAIN)
    assert posture.tls == "verified"
    assert posture.verification == "dane"
    assert posture.dane is True
    assert posture.mx_authenticated is True
    assert posture.reasons == ()
    assert len(server.sessions) == 2  # one session (EHLO, STARTTLS, EHLO): no WebPKI session needed


def test_dane_records_that_are_not_dnssec_validated_are_ignored(tmp_path, serve):
    issued = self_signed(tmp_path, MX)
    serve(issued, [TlsaRecord(3, 1, 1, issued.spki_sha256())], authenticated=False)
    posture = probe_domain(DOMAIN)
    assert posture.tls == "unverified"
    assert posture.dane is False and posture.verification is None
    assert posture.delivery_refused is False
    assert posture.reasons[0] == f"the TLSA records of MX {MX} are not DNSSEC-validated; DANE was not used"
    assert posture.reasons[1].startswith("certificate is not trusted (")


@pytest.mark.parametrize(
    ("selector", "matching_type", "data"),
    [
        (0, 1, lambda issued: issued.cert_sha256()),
        (0, 2, lambda issued: hashlib.sha512(issued.der).digest()),
        (0, 0, lambda issued: issued.der),
        (1, 1, lambda issued: issued.spki_sha256()),
    ],
)
def test_dane_ee_selectors_and_matching_types(tmp_path, serve, selector, matching_type, data):
    issued = self_signed(tmp_path, MX)
    serve(issued, [TlsaRecord(3, selector, matching_type, data(issued))])
    assert probe_domain(DOMAIN).verification == "dane"


def test_dane_ee_ignores_the_name_and_the_expiry(ca, serve):
    # RFC 7672 §3.1.1: with DANE-EE the key is what is pinned; names and dates are not checked.
    past = datetime.now(UTC) - timedelta(days=10)
    issued = ca.issue("whatever.invalid", not_before=past - timedelta(days=30), not_after=past)
    serve(issued, [TlsaRecord(3, 1, 1, issued.spki_sha256())])
    posture = probe_domain(DOMAIN)
    assert (posture.tls, posture.verification) == ("verified", "dane")


def test_a_certificate_not_matching_validated_tlsa_records_refuses_delivery(tmp_path, serve):
    issued = self_signed(tmp_path, MX)
    serve(issued, [TlsaRecord(3, 1, 1, b"\x00" * 32)])
    posture = probe_domain(DOMAIN)
    assert posture.tls == "unverified"
    assert posture.delivery_refused is True
    assert posture.reasons == (
        f"the certificate of MX {MX} does not match its DANE TLSA records",
        "DANE requires a matching certificate: delivery refused",
    )


def test_dane_ta_verifies_a_chain_to_the_published_ca(ca, serve):
    issued = ca.issue(MX, include_chain=True)
    serve(issued, [TlsaRecord(2, 0, 1, hashlib.sha256(ca.der).digest())])
    posture = probe_domain(DOMAIN)
    assert (posture.tls, posture.verification, posture.dane) == ("verified", "dane", True)


def test_dane_ta_still_checks_the_mx_name(ca, serve):
    issued = ca.issue("mx.other.test", include_chain=True)
    serve(issued, [TlsaRecord(2, 0, 1, hashlib.sha256(ca.der).digest())])
    posture = probe_domain(DOMAIN)
    assert posture.tls == "unverified" and posture.delivery_refused is True


def test_pkix_usages_are_not_used_for_smtp(settings, ca, serve):
    # RFC 7672 §3.1.3: PKIX-TA (0) and PKIX-EE (1) are unusable; WebPKI decides instead.
    settings.DELIVERY_TLS_CA_FILE = str(ca.ca_file)
    issued = ca.issue(MX)
    serve(issued, [TlsaRecord(1, 1, 1, issued.spki_sha256())])
    posture = probe_domain(DOMAIN)
    assert (posture.tls, posture.verification, posture.dane) == ("verified", "webpki", False)
    assert posture.reasons == (f"MX {MX} has no usable TLSA records (SMTP uses DANE-TA and DANE-EE)",)


def test_tlsa_records_are_not_consulted_for_an_mx_from_unsigned_dns(tmp_path, resolver):
    # DANE needs the MX records themselves validated; an unsigned MX answer could be forged.
    issued = self_signed(tmp_path, MX)
    resolver.tlsa_records[f"_25._tcp.{MX}"] = ([TlsaRecord(3, 1, 1, issued.spki_sha256())], True)
    outcome = _dane_check(
        MxTarget(MX, 25, 10), mx_secure=False, chain=(issued.der,), resolver=resolver, now=timezone.now()
    )
    assert outcome.state == "absent"
    assert ("TLSA", f"_25._tcp.{MX}") not in resolver.queries
    outcome = _dane_check(
        MxTarget(MX, 25, 10), mx_secure=True, chain=(issued.der,), resolver=resolver, now=timezone.now()
    )
    assert outcome.state == "matched"


# --- The transport honours DANE (RFC 7672 §3): TLSA records, not WebPKI, authenticate the MX ------

MESSAGE = b"From: a@org.example\r\nTo: p@clinic.example.test\r\nSubject: t\r\n\r\nhello\r\n"


def _envelope(*, dane: bool):
    from delivery.transport import Envelope

    return Envelope(
        mail_from="a@org.example", rcpt_to=f"p@{DOMAIN}", data=MESSAGE, tls="verified", domain=DOMAIN, dane=dane
    )


def _send(envelope):
    from delivery.transport import SmtpTransport

    with SmtpTransport(timeout=5, data_timeout=5) as transport:
        return transport.send(envelope)


def test_the_transport_delivers_to_a_dane_ee_server_whose_certificate_webpki_rejects(tmp_path, serve):
    issued = self_signed(tmp_path, MX)
    server = serve(issued, [TlsaRecord(3, 1, 1, issued.spki_sha256())])
    assert probe_domain(DOMAIN).dane is True
    # By WebPKI alone the self-signed certificate fails: without DANE nothing would ever be sent.
    assert _send(_envelope(dane=False)).status == "tls_failed"
    outcome = _send(_envelope(dane=True))
    assert outcome.status == "sent", outcome
    assert outcome.tls_version in ("TLSv1.2", "TLSv1.3")
    assert len(server.handler.messages) == 1


def test_the_transport_refuses_a_certificate_that_no_longer_matches_the_tlsa_records(tmp_path, serve, resolver):
    issued = self_signed(tmp_path, MX)
    server = serve(issued, [TlsaRecord(3, 1, 1, issued.spki_sha256())])
    for name in list(resolver.tlsa_records):  # the server's key changed since the probe
        resolver.tlsa_records[name] = ([TlsaRecord(3, 1, 1, b"\x01" * 32)], True)
    outcome = _send(_envelope(dane=True))
    assert outcome.status == "tls_failed"
    assert "does not match the MX host's DANE TLSA records" in outcome.detail
    assert server.handler.messages == []


@pytest.mark.parametrize("change", ["records_gone", "records_unsigned"])
def test_the_transport_sends_nothing_when_the_tlsa_records_can_no_longer_be_trusted(tmp_path, serve, resolver, change):
    issued = self_signed(tmp_path, MX)
    server = serve(issued, [TlsaRecord(3, 1, 1, issued.spki_sha256())])
    for name in list(resolver.tlsa_records):
        if change == "records_gone":
            del resolver.tlsa_records[name]
        else:
            resolver.tlsa_records[name] = ([TlsaRecord(3, 1, 1, issued.spki_sha256())], False)
    outcome = _send(_envelope(dane=True))
    assert outcome.status == "tls_failed"
    assert server.handler.messages == []


def test_the_transport_with_dane_ta_checks_the_chain_and_the_mx_name(ca, serve):
    issued = ca.issue("other.example.test", include_chain=True)
    server = serve(issued, [TlsaRecord(2, 0, 1, hashlib.sha256(ca.der).digest())])
    assert _send(_envelope(dane=True)).status == "tls_failed"  # the chain is right, the name is not
    assert server.handler.messages == []
