"""Shared set-up for the send-pipeline tests (``test_pipeline*.py``; no tests in here).

Two real aiosmtpd servers on loopback stand for two recipient domains: ``TLS_DOMAIN``'s MX offers
STARTTLS with a certificate from a throwaway test CA (trusted through ``DELIVERY_TLS_CA_FILE``),
``PLAIN_DOMAIN``'s offers no STARTTLS. ``DELIVERY_MX_OVERRIDES`` routes each domain to its server;
both domains are probed for real before a test sends, so the pipeline finds a fresh posture.

Run as a module (``python -m delivery.tests.test_pipeline_support``) it is the crash test's
worker: it sends batches of one campaign until told to stop (or SIGKILLed).
"""

from __future__ import annotations

import email
import itertools
import os
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

TLS_DOMAIN = "patients-tls.example"
PLAIN_DOMAIN = "patients-plain.example"
FROM_DOMAIN = "org-a.example.com"
PURPOSE = "appointment_reminders"
# A message that carries PHI: a name with health context (a lab result).
PHI_HTML = (
    "<p>Hello {{ contact.first_name }} {{ contact.last_name }}, your lab results from the cardiology clinic "
    "are ready to discuss with your doctor.</p>"
    '<p><a href="{{ links.unsubscribe }}">Unsubscribe</a></p>'
)
PLAIN_HTML = '<p>News from {{ org.name }}.</p><p><a href="{{ links.unsubscribe }}">Unsubscribe</a></p>'
_names = itertools.count(1)


@dataclass
class Env:
    fixture: Any
    tls: Any  # RecordingServer
    plain: Any
    sending_domain: Any
    transport: Any

    @property
    def tenant(self) -> Any:
        return self.fixture.tenant

    def dkim_dns(self) -> dict[str, str]:
        from delivery.sending_domains import dkim_host

        return {dkim_host(self.sending_domain): self.sending_domain.dkim_public_txt}


def approved_version(fixture: Any, *, html: str, purpose: str = PURPOSE, subject: str = "From {{ org.name }}") -> Any:
    from templates.services import version_approve, version_submit
    from templates.tests.support import make_template
    from tenants.context import tenant_context
    from tenants.roles import Role

    version = make_template(
        fixture.tenant,
        fixture.users[Role.MARKETER],
        name=f"Pipeline template {next(_names)}",
        purpose=purpose,
        html=html,
        subject=subject,
    )
    with tenant_context(fixture.tenant):
        version_submit(tenant=fixture.tenant, user=fixture.users[Role.MARKETER], version=version)
        return version_approve(tenant=fixture.tenant, user=fixture.users[Role.COMPLIANCE_OFFICER], version=version)


def consenting_contacts(fixture: Any, domain: str, count: int, *, purpose: str = PURPOSE, start: int = 0) -> list[Any]:
    from campaigns.tests.support import consenting

    base = next(_names) * 100_000
    return [
        consenting(fixture, purpose=purpose, email=f"patient{base + start + n}@{domain}", first_name="Avery")
        for n in range(count)
    ]


def launch(env: Env, *, html: str = PHI_HTML, purpose: str = PURPOSE, monkeypatch: Any = None) -> Any:
    """A campaign to every consenting contact of the tenant, approved and launched (the
    pipeline's kick-off task is not sent: tests call the pipeline themselves)."""
    from campaigns.services import campaign_launch
    from campaigns.tests.support import approve, make_campaign, segment
    from tenants.context import tenant_context
    from tenants.roles import Role

    fixture = env.fixture
    version = approved_version(fixture, html=html, purpose=purpose)
    campaign = make_campaign(fixture, version=version, seg=segment(fixture), from_address=f"news@{FROM_DOMAIN}")
    campaign = approve(fixture, campaign)
    with tenant_context(fixture.tenant):
        return campaign_launch(tenant=fixture.tenant, user=fixture.users[Role.MARKETER], campaign=campaign)


def run(env: Env, campaign: Any, owner: str = "worker-1", **kwargs: Any) -> Any:
    from delivery.pipeline import send_batch

    kwargs.setdefault("transport", env.transport)
    return send_batch(tenant_id=env.tenant.pk, campaign_id=str(campaign.pk), owner=owner, **kwargs)


def run_until_done(env: Env, campaign: Any, owner: str = "worker-1", limit: int = 100, **kwargs: Any) -> int:
    batches = 0
    while batches < limit:
        batches += 1
        if run(env, campaign, owner, **kwargs).claimed == 0:
            return batches
    raise AssertionError("the campaign did not finish")


def rows(env: Env, campaign: Any) -> list[Any]:
    from campaigns.models import Message
    from tenants.context import tenant_context

    with tenant_context(env.tenant):
        return list(Message.objects.for_tenant(env.tenant).filter(campaign_id=campaign.pk).order_by("id"))


def status_counts(env: Env, campaign: Any) -> Counter[str]:
    return Counter(m.status for m in rows(env, campaign))


def message_ids(contents: list[bytes]) -> Counter[str]:
    return Counter(str(email.message_from_bytes(c)["Message-ID"]).strip() for c in contents)


def received(server: Any) -> list[bytes]:
    return [r.content for r in server.recorder.received]


def probe(*domains: str) -> None:
    from delivery.posture import domain_posture

    for domain in domains:
        domain_posture(domain, refresh=True)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: Any) -> Any:
    from delivery.testing import CertificateAuthority

    return CertificateAuthority(tmp_path_factory.mktemp("pipeline-ca"))


@pytest.fixture(scope="module")
def mx_cert(ca: Any) -> Any:
    from delivery.tests.smtp_servers import MX_NAME

    return ca.issue(MX_NAME)


@pytest.fixture
def servers(mx_cert: Any) -> Any:
    from delivery.testing import server_context
    from delivery.tests.smtp_servers import start_recording_server

    tls = start_recording_server(tls_context=server_context(mx_cert))
    plain = start_recording_server()
    yield tls, plain
    tls.stop()
    plain.stop()


@pytest.fixture
def needs_baa() -> bool:
    """Whether ``pipeline_env`` signs a BAA (transactional tests, whose flush removes the BAA
    text the migrations publish, send no PHI and say False)."""
    return True


@pytest.fixture
def pipeline_env(world: Any, settings: Any, ca: Any, servers: Any, monkeypatch: Any, needs_baa: bool) -> Any:
    """Tenant A with a verified sending domain and an active BAA, both recipient domains routed
    and probed, a transport of its own."""
    from baa.tests.support import make_active
    from delivery.testing import FakeResolver, use_resolver
    from delivery.tests.support import make_verified_sending_domain
    from delivery.transport import SmtpTransport

    tls, plain = servers
    settings.SITE_URL = "https://sealpost.test"
    settings.DELIVERY_TLS_CA_FILE = str(ca.ca_file)
    settings.DELIVERY_PROBE_TIMEOUT_SECONDS = 5
    settings.DELIVERY_MX_OVERRIDES = {TLS_DOMAIN: tls.route(), PLAIN_DOMAIN: plain.route()}
    settings.DELIVERY_MTA_STS_OVERRIDES = {}
    monkeypatch.setattr("campaigns.dispatch.current_app.send_task", lambda *a, **k: None)
    fixture = world.a
    sending_domain = make_verified_sending_domain(fixture, FROM_DOMAIN)
    if needs_baa:
        make_active(fixture)
    transport = SmtpTransport(timeout=5, data_timeout=3)
    with use_resolver(FakeResolver()):
        probe(TLS_DOMAIN, PLAIN_DOMAIN)
        tls.recorder.connections = plain.recorder.connections = 0  # the probes' sessions
        yield Env(fixture, tls, plain, sending_domain, transport)
    transport.close()


# --- The crash test's worker ----------------------------------------------------------------------


def worker_main() -> int:
    """``python -m delivery.tests.test_pipeline_support <tenant_id> <campaign_id> <owner>``:
    send batches until a claim comes back empty. The parent SIGKILLs it half-way."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sealpost.settings")
    django.setup()
    from delivery.pipeline import send_batch
    from delivery.testing import FakeResolver, use_resolver
    from delivery.transport import SmtpTransport

    tenant_id, campaign_id, owner = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    batch = int(os.environ.get("PIPELINE_TEST_BATCH", "100"))
    transport = SmtpTransport(timeout=5, data_timeout=5)
    with use_resolver(FakeResolver()):
        while True:
            result = send_batch(
                tenant_id=tenant_id, campaign_id=campaign_id, owner=owner, transport=transport, batch_size=batch
            )
            print(f"batch {result.claimed}", flush=True)
            if result.claimed == 0:
                return 0


if __name__ == "__main__":
    sys.exit(worker_main())
