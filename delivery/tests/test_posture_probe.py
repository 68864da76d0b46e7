"""The SMTP probe against real servers on loopback (aiosmtpd with STARTTLS from a test CA): what
counts as verified TLS, and the reason given for everything that does not."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta

import pytest

from delivery.posture import TlsPosture, mx_allowed_by_policy, probe_domain
from delivery.testing import (
    CertificateAuthority,
    FakeResolver,
    server_context,
    smtp_server,
    tls10_only_context,
    use_resolver,
)

DOMAIN = "clinic.example.test"
MX = "mx.clinic.example.test"


@pytest.fixture
def ca(tmp_path):
    return CertificateAuthority(tmp_path / "ca")


@pytest.fixture(autouse=True)
def resolver():
    with use_resolver(FakeResolver()) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _delivery_settings(settings, ca):
    settings.DELIVERY_TLS_CA_FILE = str(ca.ca_file)
    settings.DELIVERY_PROBE_TIMEOUT_SECONDS = 5
    settings.DELIVERY_MX_OVERRIDES = {}
    settings.DELIVERY_MTA_STS_OVERRIDES = {}


def _probe(settings, server, domain: str = DOMAIN, mx: str = MX) -> TlsPosture:
    settings.DELIVERY_MX_OVERRIDES = {domain: f"{mx}:{server.port}"}
    return probe_domain(domain)


def test_valid_certificate_for_the_mx_name_is_verified_tls(settings, ca):
    with smtp_server(tls_context=server_context(ca.issue(MX))) as server:
        posture = _probe(settings, server)
    assert posture.tls == "verified"
    assert posture.verification == "webpki"
    assert posture.tls_version in ("1.2", "1.3")
    assert posture.mx_hosts == (MX,) and posture.mx_host == MX
    assert posture.certificate is not None and posture.certificate.subject_names == (MX,)
    assert "Sealpost Test CA" in posture.certificate.issuer
    assert posture.cipher
    assert posture.reasons == ()
    assert posture.delivery_refused is False
    assert posture.mta_sts_mode == "none" and posture.dane is False
    # Verified by WebPKI, but the MX name came from (unsigned) DNS: not MX-authenticated.
    assert posture.mx_authenticated is False
    assert mx_allowed_by_policy(posture, MX)


def test_a_wildcard_certificate_covers_one_label(settings, ca):
    with smtp_server(tls_context=server_context(ca.issue("*.clinic.example.test"))) as server:
        assert _probe(settings, server).tls == "verified"
    with smtp_server(tls_context=server_context(ca.issue("*.example.test"))) as server:
        posture = _probe(settings, server)
    assert posture.tls == "unverified"
    assert posture.reasons == ("certificate is for *.example.test, not mx.clinic.example.test",)


def test_tls_13_is_recorded_as_13(settings, ca):
    context = server_context(ca.issue(MX), minimum=ssl.TLSVersion.TLSv1_3)
    with smtp_server(tls_context=context) as server:
        posture = _probe(settings, server)
    assert (posture.tls, posture.tls_version, posture.protocol) == ("verified", "1.3", "TLSv1.3")


def test_tls_12_is_recorded_as_12(settings, ca):
    context = server_context(ca.issue(MX), maximum=ssl.TLSVersion.TLSv1_2)
    with smtp_server(tls_context=context) as server:
        posture = _probe(settings, server)
    assert (posture.tls, posture.tls_version, posture.protocol) == ("verified", "1.2", "TLSv1.2")


def test_a_server_without_starttls_means_no_tls(settings):
    with smtp_server() as server:
        posture = _probe(settings, server)
    assert posture.tls == "none"
    assert posture.tls_version is None and posture.protocol is None and posture.certificate is None
    assert posture.reasons == ("the server does not offer STARTTLS",)
    assert posture.mx_host == MX
    assert posture.delivery_refused is False


def test_an_expired_certificate_is_unverified_with_its_date(settings, ca):
    expired = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    issued = ca.issue(MX, not_before=expired - timedelta(days=90), not_after=expired)
    with smtp_server(tls_context=server_context(issued)) as server:
        posture = _probe(settings, server)
    assert posture.tls == "unverified"
    assert posture.tls_version in ("1.2", "1.3")
    assert posture.reasons == ("certificate expired on 2024-03-01",)
    assert posture.verification is None


def test_a_certificate_for_another_name_is_unverified(settings, ca):
    with smtp_server(tls_context=server_context(ca.issue("mx.other.test"))) as server:
        posture = _probe(settings, server)
    assert posture.tls == "unverified"
    assert posture.reasons == ("certificate is for mx.other.test, not mx.clinic.example.test",)


def test_the_name_checked_is_the_mx_hosts_not_the_recipient_domains(settings, ca):
    # A certificate for the recipient domain itself does not cover its MX host (RFC 7672 / 8461).
    with smtp_server(tls_context=server_context(ca.issue(DOMAIN))) as server:
        posture = _probe(settings, server)
    assert posture.tls == "unverified"
    assert posture.reasons == (f"certificate is for {DOMAIN}, not {MX}",)


def test_a_certificate_from_an_untrusted_ca_is_unverified(settings, ca, tmp_path):
    stranger = CertificateAuthority(tmp_path / "stranger", name="Unknown CA")
    with smtp_server(tls_context=server_context(stranger.issue(MX))) as server:
        posture = _probe(settings, server)
    assert posture.tls == "unverified"
    (reason,) = posture.reasons
    assert reason.startswith("certificate is not trusted (")


def test_without_the_ca_file_the_test_ca_is_not_trusted(settings, ca):
    settings.DELIVERY_TLS_CA_FILE = None
    with smtp_server(tls_context=server_context(ca.issue(MX))) as server:
        posture = _probe(settings, server)
    assert posture.tls == "unverified"
    assert posture.reasons[0].startswith("certificate is not trusted")


def test_a_tls_10_only_server_is_unverified(settings, ca):
    # OpenSSL 3 refuses TLS 1.0 at its default security level; the test server and the probe's
    # learning handshake both drop to level 0, as an old server would be configured.
    with smtp_server(tls_context=tls10_only_context(ca.issue(MX))) as server:
        posture = _probe(settings, server)
    assert posture.tls == "unverified"
    assert posture.protocol == "TLSv1"
    assert posture.tls_version is None
    assert posture.reasons == ("TLS 1.0 only",)
    assert posture.certificate is not None and posture.certificate.subject_names == (MX,)


def test_a_tls_10_only_server_with_a_bad_certificate_gets_both_reasons(settings, ca):
    with smtp_server(tls_context=tls10_only_context(ca.issue("mx.other.test"))) as server:
        posture = _probe(settings, server)
    assert posture.reasons == ("TLS 1.0 only", "certificate is for mx.other.test, not mx.clinic.example.test")


def test_an_mx_that_does_not_answer_means_no_tls(settings, resolver):
    from tests.free_port import free_port

    settings.DELIVERY_MX_OVERRIDES = {DOMAIN: f"{MX}:{free_port()}"}
    posture = probe_domain(DOMAIN)
    assert posture.tls == "none"
    assert posture.mx_host is None
    assert posture.reasons[-1] == "no MX host could be reached"
    assert posture.reasons[0].startswith(f"could not connect to MX {MX}")
    assert posture.delivery_refused is False


def test_the_probe_says_ehlo_with_the_configured_name_and_quits(settings, ca):
    settings.DELIVERY_EHLO_NAME = "probe.sealpost.test"
    seen: list[str] = []
    context = server_context(ca.issue(MX))
    with smtp_server(tls_context=context) as server:
        handler = server.handler

        async def handle_EHLO(server_, session, envelope, hostname, responses):
            seen.append(hostname)
            return responses

        handler.handle_EHLO = handle_EHLO  # type: ignore[attr-defined]
        posture = _probe(settings, server)
    assert posture.tls == "verified"
    # EHLO before and after STARTTLS, in each of the two sessions (learning, verifying).
    assert seen == ["probe.sealpost.test"] * 4
    assert server.handler.messages == []  # a probe never sends mail


def test_a_refused_posture_is_never_verified():
    now = datetime.now(UTC)
    with pytest.raises(ValueError, match="never verified"):
        TlsPosture(
            domain=DOMAIN,
            mx_hosts=(MX,),
            mx_host=MX,
            tls="verified",
            tls_version="1.3",
            protocol="TLSv1.3",
            cipher=None,
            certificate=None,
            verification="webpki",
            mta_sts_mode="enforce",
            mta_sts_policy=None,
            dane=False,
            delivery_refused=True,
            reasons=(),
            checked_at=now,
            expires_at=now,
        )
    with pytest.raises(ValueError, match="tls_version"):
        TlsPosture(
            domain=DOMAIN,
            mx_hosts=(),
            mx_host=None,
            tls="unverified",
            tls_version="1.0",
            protocol="TLSv1",
            cipher=None,
            certificate=None,
            verification=None,
            mta_sts_mode="none",
            mta_sts_policy=None,
            dane=False,
            delivery_refused=False,
            reasons=(),
            checked_at=now,
            expires_at=now,
        )
