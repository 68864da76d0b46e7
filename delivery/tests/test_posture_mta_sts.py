"""MTA-STS (RFC 8461): the TXT record, the policy fetched over HTTPS from a real local server with
a test-CA certificate, enforce and testing modes, and the policy cache."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from delivery.posture import (
    MtaStsError,
    mx_allowed_by_policy,
    name_matches,
    parse_policy,
    parse_sts_record,
    probe_domain,
)
from delivery.testing import (
    CertificateAuthority,
    FakeResolver,
    HttpsResponse,
    mta_sts_policy,
    server_context,
    smtp_server,
    start_https_server,
    use_resolver,
)

DOMAIN = "clinic.example.test"
MX = "mx.clinic.example.test"
POLICY_PATH = "/.well-known/mta-sts.txt"
TXT_NAME = f"_mta-sts.{DOMAIN}"


@pytest.fixture
def ca(tmp_path):
    return CertificateAuthority(tmp_path / "ca")


@pytest.fixture
def resolver():
    fake = FakeResolver(txt_records={TXT_NAME: (["v=STSv1; id=20260101T000000"], False)})
    with use_resolver(fake):
        yield fake


@pytest.fixture(autouse=True)
def _delivery_settings(settings, ca, resolver):
    settings.DELIVERY_TLS_CA_FILE = str(ca.ca_file)
    settings.DELIVERY_PROBE_TIMEOUT_SECONDS = 5
    settings.DELIVERY_MX_OVERRIDES = {}
    settings.DELIVERY_MTA_STS_OVERRIDES = {}


@pytest.fixture
def policy_server(settings, ca):
    """Serves whatever a test puts in ``routes`` at https://mta-sts.clinic.example.test/."""
    server = start_https_server(ca.issue(f"mta-sts.{DOMAIN}"), {})
    settings.DELIVERY_MTA_STS_OVERRIDES = {DOMAIN: server.address}
    yield server
    server.stop()


@pytest.fixture
def mx_server(settings, ca):
    sessions: list[str] = []
    with smtp_server(tls_context=server_context(ca.issue(MX))) as server:

        async def handle_EHLO(server_, session, envelope, hostname, responses):
            sessions.append(hostname)
            return responses

        server.handler.handle_EHLO = handle_EHLO  # type: ignore[attr-defined]
        server.sessions = sessions  # type: ignore[attr-defined]
        settings.DELIVERY_MX_OVERRIDES = {DOMAIN: f"{MX}:{server.port}"}
        yield server


def test_enforce_with_a_matching_mx_and_a_valid_certificate_is_verified(policy_server, mx_server):
    policy_server.routes[POLICY_PATH] = mta_sts_policy("enforce", MX, "*.backup.example.test", max_age=604800)
    posture = probe_domain(DOMAIN)
    assert posture.tls == "verified"
    assert posture.mta_sts_mode == "enforce"
    assert posture.mx_patterns == (MX, "*.backup.example.test")
    assert posture.mta_sts_max_age == 604800
    assert posture.mta_sts_policy is not None and posture.mta_sts_policy.policy_id == "20260101T000000"
    assert posture.delivery_refused is False
    assert posture.mx_authenticated is True
    assert posture.reasons == ()
    assert policy_server.hits == [POLICY_PATH]


def test_enforce_with_a_mismatched_mx_refuses_delivery_without_connecting(policy_server, mx_server):
    policy_server.routes[POLICY_PATH] = mta_sts_policy("enforce", "mx.other.test")
    posture = probe_domain(DOMAIN)
    assert posture.delivery_refused is True
    assert posture.tls == "none"
    assert posture.mx_host is None
    assert posture.reasons[0] == f"MX {MX} is not allowed by the domain's MTA-STS policy (enforce)"
    assert "delivery refused" in posture.reasons[-1]
    assert mx_allowed_by_policy(posture, MX) is False
    assert mx_allowed_by_policy(posture, "mx.other.test") is True
    assert mx_server.sessions == []  # the disallowed MX was never contacted


def test_enforce_with_an_invalid_certificate_on_an_allowed_mx_refuses_delivery(settings, ca, policy_server):
    policy_server.routes[POLICY_PATH] = mta_sts_policy("enforce", MX)
    with smtp_server(tls_context=server_context(ca.issue("mx.other.test"))) as server:
        settings.DELIVERY_MX_OVERRIDES = {DOMAIN: f"{MX}:{server.port}"}
        posture = probe_domain(DOMAIN)
    assert posture.tls == "unverified"
    assert posture.delivery_refused is True
    assert posture.reasons[0] == f"certificate is for mx.other.test, not {MX}"
    assert posture.reasons[-1].startswith("the domain's MTA-STS policy (enforce) requires TLS 1.2+")


def test_enforce_refuses_a_server_without_starttls(settings, policy_server):
    policy_server.routes[POLICY_PATH] = mta_sts_policy("enforce", MX)
    with smtp_server() as server:
        settings.DELIVERY_MX_OVERRIDES = {DOMAIN: f"{MX}:{server.port}"}
        posture = probe_domain(DOMAIN)
    assert (posture.tls, posture.delivery_refused) == ("none", True)


def test_testing_mode_reports_a_mismatch_but_does_not_refuse(policy_server, mx_server):
    policy_server.routes[POLICY_PATH] = mta_sts_policy("testing", "mx.other.test")
    posture = probe_domain(DOMAIN)
    assert posture.mta_sts_mode == "testing"
    assert posture.tls == "verified"
    assert posture.delivery_refused is False
    assert posture.reasons == (f"MX {MX} is not allowed by the domain's MTA-STS policy (testing)",)
    assert mx_allowed_by_policy(posture, MX) is True
    assert posture.mx_authenticated is False


def test_a_redirect_on_the_policy_fetch_is_refused(policy_server, mx_server):
    policy_server.routes[POLICY_PATH] = HttpsResponse(status=301, headers={"Location": "/elsewhere.txt"})
    policy_server.routes["/elsewhere.txt"] = mta_sts_policy("enforce", "mx.other.test")
    posture = probe_domain(DOMAIN)
    assert posture.mta_sts_mode == "none"
    assert posture.mta_sts_policy is None
    assert posture.reasons == ("MTA-STS policy ignored: the policy fetch was redirected (redirects are not allowed)",)
    assert policy_server.hits == [POLICY_PATH]
    assert posture.tls == "verified" and posture.delivery_refused is False


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("version: STSv1\r\nmode: enforce\r\nmx: mx.clinic.example.test\r\n", "max_age is missing or out of range"),
        (
            "version: STSv1\r\nmode: always\r\nmx: a.test\r\nmax_age: 60\r\n",
            "mode 'always' is not enforce, testing or none",
        ),
        ("version: STSv2\r\nmode: enforce\r\nmx: a.test\r\nmax_age: 60\r\n", "version is not STSv1"),
        ("version: STSv1\r\nmode: enforce\r\nmax_age: 60\r\n", "mode enforce needs at least one mx"),
        ("<html>hello</html>", "the line '<html>hello</html>' is not 'key: value'"),
    ],
)
def test_a_bad_policy_is_ignored_with_its_reason(policy_server, mx_server, body, reason):
    policy_server.routes[POLICY_PATH] = HttpsResponse(body=body.encode())
    posture = probe_domain(DOMAIN)
    assert posture.mta_sts_mode == "none"
    assert posture.reasons == (f"MTA-STS policy ignored: {reason}",)
    assert posture.delivery_refused is False


def test_a_policy_not_served_as_text_plain_is_ignored(policy_server, mx_server):
    policy_server.routes[POLICY_PATH] = HttpsResponse(
        body=mta_sts_policy("enforce", MX).body, headers={"Content-Type": "text/html"}
    )
    posture = probe_domain(DOMAIN)
    assert posture.reasons == ("MTA-STS policy ignored: the policy is served as 'text/html', not text/plain",)


def test_a_missing_policy_file_is_ignored(policy_server, mx_server):
    posture = probe_domain(DOMAIN)
    assert posture.reasons == ("MTA-STS policy ignored: the policy fetch returned HTTP 404",)


def test_an_oversized_policy_is_ignored(policy_server, mx_server):
    policy_server.routes[POLICY_PATH] = HttpsResponse(body=b"version: STSv1\r\n" + b"x: y\r\n" * 12000)
    posture = probe_domain(DOMAIN)
    assert posture.reasons == ("MTA-STS policy ignored: the policy is larger than 64 KiB",)


def test_the_policy_host_needs_a_valid_certificate_for_its_name(settings, ca, mx_server):
    server = start_https_server(ca.issue("mta-sts.other.test"), {POLICY_PATH: mta_sts_policy("enforce", MX)})
    settings.DELIVERY_MTA_STS_OVERRIDES = {DOMAIN: server.address}
    try:
        posture = probe_domain(DOMAIN)
    finally:
        server.stop()
    assert posture.mta_sts_mode == "none"
    (reason,) = posture.reasons
    assert reason.startswith(f"MTA-STS policy ignored: the certificate of mta-sts.{DOMAIN} is not valid (")


def test_no_txt_record_means_no_policy_and_no_fetch(resolver, policy_server, mx_server):
    resolver.txt_records.clear()
    posture = probe_domain(DOMAIN)
    assert posture.mta_sts_mode == "none" and posture.reasons == ()
    assert policy_server.hits == []


def test_the_policy_is_cached_by_id_and_max_age(resolver, policy_server, mx_server):
    policy_server.routes[POLICY_PATH] = mta_sts_policy("enforce", MX, max_age=3600)
    first = probe_domain(DOMAIN)
    assert first.mta_sts_mode == "enforce"
    # The policy bounds the posture's lifetime: it must be fetched again after max_age.
    assert first.expires_at <= first.mta_sts_policy.expires_at

    # Same id, unexpired: no fetch, even if the file changed.
    policy_server.routes[POLICY_PATH] = mta_sts_policy("testing", MX, max_age=3600)
    second = probe_domain(DOMAIN, previous=first)
    assert second.mta_sts_mode == "enforce" and len(policy_server.hits) == 1

    # A new id: fetched again.
    resolver.txt_records[TXT_NAME] = (["v=STSv1; id=2"], False)
    third = probe_domain(DOMAIN, previous=second)
    assert third.mta_sts_mode == "testing" and len(policy_server.hits) == 2

    # Past max_age: fetched again even with the same id.
    later = timezone.now() + timedelta(seconds=3601)
    policy_server.routes[POLICY_PATH] = mta_sts_policy("enforce", MX, max_age=3600)
    fourth = probe_domain(DOMAIN, previous=third, now=later)
    assert fourth.mta_sts_mode == "enforce" and len(policy_server.hits) == 3


def test_a_cached_policy_survives_a_blocked_record_or_fetch(resolver, policy_server, mx_server):
    policy_server.routes[POLICY_PATH] = mta_sts_policy("enforce", MX)
    first = probe_domain(DOMAIN)

    # An attacker strips the TXT record: the unexpired cached policy still applies, silently.
    resolver.txt_records.clear()
    stripped = probe_domain(DOMAIN, previous=first)
    assert stripped.mta_sts_mode == "enforce" and stripped.reasons == ()

    # The lookup fails: the cached policy applies, and the page says why.
    resolver.failing.add(TXT_NAME)
    failed = probe_domain(DOMAIN, previous=first)
    assert failed.mta_sts_mode == "enforce"
    assert failed.reasons == (
        "the MTA-STS record lookup failed (the lookup failed (SERVFAIL)); the cached policy still applies",
    )

    # A new id but the fetch is blocked: still the cached policy.
    resolver.failing.clear()
    resolver.txt_records[TXT_NAME] = (["v=STSv1; id=3"], False)
    policy_server.routes[POLICY_PATH] = HttpsResponse(status=503)
    blocked = probe_domain(DOMAIN, previous=first)
    assert blocked.mta_sts_mode == "enforce"
    assert blocked.reasons == (
        "MTA-STS policy ignored: the policy fetch returned HTTP 503; the cached policy still applies",
    )


def test_sts_txt_records_are_parsed_strictly():
    assert parse_sts_record(["v=STSv1; id=20160831085700Z;"]) == "20160831085700Z"
    assert parse_sts_record(["some other record", "v=STSv1;id=abc"]) == "abc"
    with pytest.raises(MtaStsError, match="2 v=STSv1 TXT records"):
        parse_sts_record(["v=STSv1; id=a", "v=STSv1; id=b"])
    with pytest.raises(MtaStsError, match="no valid id"):
        parse_sts_record(["v=STSv1;"])
    with pytest.raises(MtaStsError, match="no valid id"):
        parse_sts_record(["v=STSv1; id=" + "x" * 33])


def test_policies_are_parsed_with_lf_or_crlf_and_unknown_keys_ignored():
    assert parse_policy("version: STSv1\nmode: testing\nmx: a.test\nmx: *.b.test\nmax_age: 86400\nextra: 1\n") == (
        "testing",
        ("a.test", "*.b.test"),
        86400,
    )
    assert parse_policy("version: STSv1\r\nmode: none\r\nmax_age: 0\r\n") == ("none", (), 0)
    with pytest.raises(MtaStsError, match="given twice"):
        parse_policy("version: STSv1\nmode: testing\nmode: enforce\nmx: a.test\nmax_age: 1\n")
    with pytest.raises(MtaStsError, match="out of range"):
        parse_policy("version: STSv1\nmode: testing\nmx: a.test\nmax_age: 31557601\n")


def test_mx_patterns_match_one_label_for_a_wildcard():
    assert name_matches("*.example.com", "mx1.example.com")
    assert name_matches("MX.Example.COM.", "mx.example.com")
    assert not name_matches("*.example.com", "example.com")
    assert not name_matches("*.example.com", "a.b.example.com")
    assert not name_matches("mx.example.com", "mx.example.com.evil.test")


def _scripted_probes(monkeypatch, outcomes):
    """Replace the SMTP probe with scripted results per MX host; returns the hosts probed."""
    from delivery.posture import _HostResult

    probed: list[str] = []

    def probe(target, **kwargs):
        probed.append(target.host)
        tls = outcomes[target.host]
        return _HostResult(target.host, tls, protocol="TLSv1.3", verification="webpki" if tls == "verified" else None)

    monkeypatch.setattr("delivery.posture._probe_host", probe)
    return probed


def test_opportunistic_tls_takes_the_first_mx_that_answers(monkeypatch, resolver):
    resolver.txt_records.clear()
    resolver.mx_records[DOMAIN] = ([(10, "mx1.clinic.example.test"), (20, "mx2.clinic.example.test")], False)
    probed = _scripted_probes(
        monkeypatch, {"mx1.clinic.example.test": "unverified", "mx2.clinic.example.test": "verified"}
    )
    posture = probe_domain(DOMAIN)
    assert probed == ["mx1.clinic.example.test"]
    assert (posture.mx_host, posture.tls, posture.delivery_refused) == ("mx1.clinic.example.test", "unverified", False)


def test_under_enforce_the_next_allowed_mx_is_tried(monkeypatch, resolver, policy_server):
    policy_server.routes[POLICY_PATH] = mta_sts_policy("enforce", "*.clinic.example.test")
    resolver.mx_records[DOMAIN] = ([(10, "mx1.clinic.example.test"), (20, "mx2.clinic.example.test")], False)
    probed = _scripted_probes(
        monkeypatch, {"mx1.clinic.example.test": "unverified", "mx2.clinic.example.test": "verified"}
    )
    posture = probe_domain(DOMAIN)
    assert probed == ["mx1.clinic.example.test", "mx2.clinic.example.test"]
    assert (posture.mx_host, posture.tls, posture.delivery_refused) == ("mx2.clinic.example.test", "verified", False)


def test_a_probe_stops_trying_further_mx_hosts_when_its_time_is_spent(monkeypatch, resolver, settings):
    from datetime import timedelta

    from delivery.posture import _HostResult

    settings.DELIVERY_PROBE_TIMEOUT_SECONDS = 1
    resolver.txt_records.clear()
    resolver.mx_records[DOMAIN] = ([(10, "mx1.clinic.example.test"), (20, "mx2.clinic.example.test")], False)
    clock = [timezone.now()]
    monkeypatch.setattr("delivery.posture.timezone.now", lambda: clock[0])
    probed = []

    def slow_refusal(target, **kwargs):
        probed.append(target.host)
        clock[0] += timedelta(seconds=4)  # as if the session had hung until its timeouts
        return _HostResult(target.host, "unverified", refuse=True)

    monkeypatch.setattr("delivery.posture._probe_host", slow_refusal)
    posture = probe_domain(DOMAIN)
    assert probed == ["mx1.clinic.example.test"]
    assert "gave up on the remaining MX hosts after 3 seconds" in posture.reasons
