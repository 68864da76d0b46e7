"""The posture cache: TTLs, probing only when stale, the background refresh task, and the
pipeline's non-blocking lookup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from delivery import posture as posture_module
from delivery.models import DomainTlsPosture
from delivery.posture import (
    REFRESH_BATCH_SIZE,
    cached_posture,
    domain_posture,
    posture_from_json,
    posture_or_schedule,
    posture_to_json,
    refresh_due_postures,
)
from delivery.tasks import refresh_domain_postures_task
from delivery.testing import (
    CertificateAuthority,
    FakeResolver,
    mta_sts_policy,
    server_context,
    smtp_server,
    start_https_server,
    use_resolver,
)

pytestmark = pytest.mark.django_db

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
def _delivery_settings(settings, ca, resolver):
    settings.DELIVERY_TLS_CA_FILE = str(ca.ca_file)
    settings.DELIVERY_PROBE_TIMEOUT_SECONDS = 5
    settings.DELIVERY_MX_OVERRIDES = {}
    settings.DELIVERY_MTA_STS_OVERRIDES = {}
    settings.DELIVERY_POSTURE_TTL_SECONDS = 24 * 3600
    settings.DELIVERY_POSTURE_FAILURE_TTL_SECONDS = 3600


@pytest.fixture
def mx(settings, ca):
    """A verified-TLS MX for DOMAIN that counts the sessions opened to it."""
    sessions: list[str] = []
    with smtp_server(tls_context=server_context(ca.issue(MX))) as server:

        async def handle_EHLO(server_, session, envelope, hostname, responses):
            sessions.append(hostname)
            return responses

        server.handler.handle_EHLO = handle_EHLO  # type: ignore[attr-defined]
        server.sessions = sessions  # type: ignore[attr-defined]
        settings.DELIVERY_MX_OVERRIDES = {DOMAIN: f"{MX}:{server.port}"}
        yield server


def _age(domain: str, **delta) -> None:
    """Move a stored posture's times into the past."""
    row = DomainTlsPosture.objects.get(domain=domain)
    shift = timedelta(**delta)
    row.checked_at -= shift
    row.expires_at -= shift
    row.last_requested_at -= shift
    row.data = {**row.data, "expires_at": row.expires_at.isoformat(), "checked_at": row.checked_at.isoformat()}
    row.save()


def test_a_fresh_posture_is_served_from_the_cache(mx):
    first = domain_posture(DOMAIN)
    assert first.tls == "verified"
    opened = len(mx.sessions)
    assert opened == 4  # a learning session and a verifying one, two EHLOs each
    again = domain_posture("Clinic.Example.Test.")
    assert again == first
    assert len(mx.sessions) == opened
    row = DomainTlsPosture.objects.get(domain=DOMAIN)
    assert (row.tls, row.tls_version, row.delivery_refused) == ("verified", first.tls_version, False)


def test_verified_postures_live_for_the_ttl_and_others_for_the_failure_ttl(settings, mx):
    verified = domain_posture(DOMAIN)
    assert verified.expires_at - verified.checked_at == timedelta(hours=24)
    with smtp_server() as plain:
        settings.DELIVERY_MX_OVERRIDES = {"plain.example.test": f"mx.plain.example.test:{plain.port}"}
        none = domain_posture("plain.example.test")
    assert none.tls == "none"
    assert none.expires_at - none.checked_at == timedelta(hours=1)


def test_a_posture_never_outlives_the_certificate_it_verified(settings, ca):
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    with smtp_server(tls_context=server_context(ca.issue(MX, not_after=soon))) as server:
        settings.DELIVERY_MX_OVERRIDES = {DOMAIN: f"{MX}:{server.port}"}
        posture = domain_posture(DOMAIN)
    assert posture.tls == "verified"
    assert posture.expires_at == soon


def test_a_posture_never_outlives_its_mta_sts_policy(settings, ca, resolver, mx):
    https = start_https_server(
        ca.issue(f"mta-sts.{DOMAIN}"), {"/.well-known/mta-sts.txt": mta_sts_policy("enforce", MX, max_age=600)}
    )
    settings.DELIVERY_MTA_STS_OVERRIDES = {DOMAIN: https.address}
    resolver.txt_records[f"_mta-sts.{DOMAIN}"] = (["v=STSv1; id=1"], False)
    try:
        posture = domain_posture(DOMAIN)
    finally:
        https.stop()
    assert posture.expires_at == posture.checked_at + timedelta(seconds=600)


def test_an_expired_posture_is_probed_again(mx):
    domain_posture(DOMAIN)
    _age(DOMAIN, hours=25)
    opened = len(mx.sessions)
    fresh = domain_posture(DOMAIN)
    assert len(mx.sessions) > opened
    assert fresh.is_fresh()
    assert DomainTlsPosture.objects.get(domain=DOMAIN).expires_at == fresh.expires_at


def test_refresh_probes_even_when_fresh(mx):
    domain_posture(DOMAIN)
    opened = len(mx.sessions)
    domain_posture(DOMAIN, refresh=True)
    assert len(mx.sessions) > opened


def test_the_refresh_task_reprobes_postures_about_to_expire(settings, mx):
    domain_posture(DOMAIN)
    with smtp_server() as plain:
        settings.DELIVERY_MX_OVERRIDES = {
            **settings.DELIVERY_MX_OVERRIDES,
            "fresh.example.test": f"mx.fresh.example.test:{plain.port}",
            "forgotten.example.test": f"mx.forgotten.example.test:{plain.port}",
        }
        domain_posture("fresh.example.test")
        domain_posture("forgotten.example.test")
    # DOMAIN expires in 30 minutes: due. fresh: pushed 5 h ahead, not due. forgotten: due, but
    # nobody asked for it in over a week, so it is left to expire.
    _age(DOMAIN, hours=23, minutes=30)
    DomainTlsPosture.objects.filter(domain="fresh.example.test").update(expires_at=timezone.now() + timedelta(hours=5))
    _age("forgotten.example.test", days=8)
    before = DomainTlsPosture.objects.get(domain=DOMAIN).checked_at
    opened = len(mx.sessions)

    assert refresh_domain_postures_task() == 1
    assert len(mx.sessions) > opened
    row = DomainTlsPosture.objects.get(domain=DOMAIN)
    assert row.checked_at > before and row.tls == "verified"
    assert row.refresh_claimed_at is None  # released by the new probe
    # A background refresh is not a request: it does not keep a domain warm by itself.
    assert row.last_requested_at < row.checked_at
    assert DomainTlsPosture.objects.get(domain="forgotten.example.test").checked_at < timezone.now() - timedelta(days=7)
    # Nothing due any more.
    assert refresh_due_postures() == 0


def test_a_claimed_posture_is_not_probed_twice(mx):
    domain_posture(DOMAIN)
    _age(DOMAIN, hours=24)
    DomainTlsPosture.objects.filter(domain=DOMAIN).update(refresh_claimed_at=timezone.now() - timedelta(minutes=5))
    assert refresh_due_postures() == 0
    DomainTlsPosture.objects.filter(domain=DOMAIN).update(refresh_claimed_at=timezone.now() - timedelta(hours=1))
    assert refresh_due_postures() == 1


def test_a_full_batch_queues_the_next(monkeypatch):
    queued = []
    monkeypatch.setattr("delivery.tasks.refresh_due_postures", lambda limit: limit)
    monkeypatch.setattr(refresh_domain_postures_task, "delay", lambda: queued.append(True))
    assert refresh_domain_postures_task() == REFRESH_BATCH_SIZE
    assert queued == [True]


def test_the_pipeline_gets_none_and_a_queued_probe_for_an_unknown_domain(
    mx, django_capture_on_commit_callbacks, monkeypatch
):
    probed = []
    monkeypatch.setattr("delivery.tasks.probe_domain_posture_task.delay", lambda domain: probed.append(domain))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert posture_or_schedule(DOMAIN) is None
        assert posture_or_schedule(DOMAIN) is None  # queued once per domain for a few minutes
    assert len(callbacks) == 1 and probed == [DOMAIN]
    assert mx.sessions == []  # the caller never waits for a probe
    assert cached_posture(DOMAIN) is None

    from delivery.tasks import probe_domain_posture_task

    assert probe_domain_posture_task.run(DOMAIN) == "verified"
    ready = posture_or_schedule(DOMAIN)
    assert ready is not None and ready.tls == "verified"


def test_the_stored_posture_round_trips(mx):
    posture = domain_posture(DOMAIN)
    assert posture_from_json(posture_to_json(posture)) == posture
    assert posture_module.cached_posture(DOMAIN) == posture
