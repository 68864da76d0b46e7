"""The embedded default's demo, wired as ``scripts/run_embedded.py`` wires it: the SMTP sink's two
listeners (STARTTLS with a certificate from the local demo CA, and plain), the environment the
runner gives its children (DELIVERY_MX_OVERRIDES, DELIVERY_TLS_CA_FILE), ``seed_demo``'s data,
and its demo PHI campaign launched by the demo marketer and sent by the pipeline:

* messages to ``verified.example.test`` arrive over verified TLS (in the dev mailbox);
* messages to ``plain.example.test`` are escrowed: their PHI never reaches the sink, only the
  PHI-free escrow notice does (over plaintext, which is all that MX offers);
* the Recipient domains page shows one domain verified and the other without TLS."""

from __future__ import annotations

import importlib.util
import json
import ssl
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.urls import reverse

from campaigns.models import Campaign, Message, MessageStatus
from campaigns.services import campaign_launch
from delivery.demo import DEMO_CAMPAIGN_NAME
from delivery.demo_tls import (
    DEMO_MX_HOST,
    DEMO_PLAIN_DOMAIN,
    DEMO_VERIFIED_DOMAIN,
    DemoTls,
    ensure_demo_tls,
)
from delivery.mailbox import mailbox_get, mailbox_list
from delivery.pipeline import ESCROW_NOTICE, send_batch
from delivery.posture import domain_posture
from delivery.sink import start_sink, starttls_context
from delivery.testing import FakeResolver, use_resolver
from delivery.transport import SmtpTransport
from tenants.context import tenant_context
from tenants.demo import DEMO_ORGANISATIONS, seed_demo
from tenants.models import Organisation
from tests.free_port import free_port

pytestmark = pytest.mark.django_db
S = MessageStatus
RUNNER = Path(__file__).resolve().parents[2] / "scripts" / "run_embedded.py"


def runner_module() -> ModuleType:
    """scripts/run_embedded.py, loaded once (scripts/ is not a package)."""
    name = "run_embedded_under_test"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, RUNNER)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


@dataclass
class DemoSink:
    tls: DemoTls
    plain: Any  # aiosmtpd controllers
    secure: Any
    maildir: Path


@pytest.fixture
def demo(settings: Any, tmp_path: Path) -> Any:
    """The sink's two listeners and the settings the runner's children would get."""
    runner = runner_module()
    config = runner.Config(
        web_port=free_port(), smtp_port=free_port(), smtp_tls_port=free_port(), var_dir=tmp_path / "var",
        dev_mailbox_enabled=True,
    )  # fmt: skip
    settings.DELIVERY_MX_OVERRIDES = {}
    settings.DELIVERY_TLS_CA_FILE = None
    tls = runner.demo_tls(config)
    # The sink child gets the demo certificate and both ports.
    sink_argv = next(spec.argv for spec in runner.child_specs(config, tls) if spec.name == "smtp sink")
    assert sink_argv[-6:] == [
        "--starttls-port", str(config.smtp_tls_port), "--cert", str(tls.cert_file), "--key", str(tls.key_file),
    ]  # fmt: skip
    env = runner.demo_delivery_environment(config, tls)
    settings.DELIVERY_MX_OVERRIDES = json.loads(env["DELIVERY_MX_OVERRIDES"])
    settings.DELIVERY_TLS_CA_FILE = env["DELIVERY_TLS_CA_FILE"]
    settings.DELIVERY_MTA_STS_OVERRIDES = {}
    settings.DELIVERY_PROBE_TIMEOUT_SECONDS = 5
    settings.SMTP_SINK_MAILDIR = maildir = tmp_path / "mailbox"
    plain = start_sink("127.0.0.1", config.smtp_port, maildir)
    secure = start_sink(
        "127.0.0.1", config.smtp_tls_port, maildir, tls_context=starttls_context(tls.cert_file, tls.key_file)
    )
    # No DNS in tests: names resolve to loopback, and no MTA-STS or TLSA records exist.
    with use_resolver(FakeResolver()):
        yield DemoSink(tls, plain, secure, maildir)
    secure.stop()
    plain.stop()


def test_the_runner_routes_the_demo_domains_to_the_sink_and_trusts_the_demo_ca(demo):
    from django.conf import settings

    assert {
        DEMO_VERIFIED_DOMAIN: f"{DEMO_MX_HOST}:{demo.secure.port}",
        DEMO_PLAIN_DOMAIN: f"{DEMO_MX_HOST}:{demo.plain.port}",
    } == settings.DELIVERY_MX_OVERRIDES
    assert str(demo.tls.ca_file) == settings.DELIVERY_TLS_CA_FILE
    # Made once, then reused: a second start keeps the same CA.
    ca = demo.tls.ca_file.read_bytes()
    assert ensure_demo_tls(demo.tls.ca_file.parent.parent).ca_file.read_bytes() == ca
    assert demo.tls.key_file.stat().st_mode & 0o077 == 0


def demo_organisation() -> Organisation:
    return Organisation.objects.get(slug=DEMO_ORGANISATIONS[0][1])


def launch_demo_campaign(tenant: Organisation) -> Campaign:
    from authn.models import User
    from tenants.demo import DEMO_USERS
    from tenants.roles import Role

    marketer = User.objects.get(email=next(u.email for u in DEMO_USERS if u.role == Role.MARKETER))
    with tenant_context(tenant):
        campaign = Campaign.objects.for_tenant(tenant).get(name=DEMO_CAMPAIGN_NAME)
        return campaign_launch(tenant=tenant, user=marketer, campaign=campaign)


def send_all(tenant: Organisation, campaign: Campaign) -> Counter[str]:
    transport = SmtpTransport(timeout=5, data_timeout=5)
    counts: Counter[str] = Counter()
    try:
        for _ in range(20):
            result = send_batch(tenant_id=tenant.pk, campaign_id=str(campaign.pk), owner="demo", transport=transport)
            counts.update(result.counts)
            if result.claimed == 0:
                return counts
    finally:
        transport.close()
    raise AssertionError("the demo campaign did not finish")


def recipients_by_domain(tenant: Organisation, campaign: Campaign) -> dict[str, list[Message]]:
    by_domain: dict[str, list[Message]] = {}
    with tenant_context(tenant):
        for message in Message.objects.for_tenant(tenant).filter(campaign_id=campaign.pk).select_related("contact"):
            by_domain.setdefault(message.contact.email.rpartition("@")[2], []).append(message)
    return by_domain


def test_demo_phi_campaign_goes_over_verified_tls_or_to_escrow_never_plaintext(demo, monkeypatch, login):
    monkeypatch.setattr("campaigns.dispatch.current_app.send_task", lambda *a, **k: None)  # we run the pipeline
    seed_demo()
    # What the runner queues once the sink answers: both demo domains probed.
    assert domain_posture(DEMO_VERIFIED_DOMAIN, refresh=True).tls == "verified"
    assert domain_posture(DEMO_PLAIN_DOMAIN, refresh=True).tls == "none"
    tenant = demo_organisation()
    campaign = launch_demo_campaign(tenant)
    counts = send_all(tenant, campaign)

    by_domain = recipients_by_domain(tenant, campaign)
    assert set(by_domain) == {DEMO_VERIFIED_DOMAIN, DEMO_PLAIN_DOMAIN}
    verified, plain = by_domain[DEMO_VERIFIED_DOMAIN], by_domain[DEMO_PLAIN_DOMAIN]
    assert len(verified) > 50 and len(plain) > 50
    for message in verified:
        assert (message.status, message.level, message.protection_action) == (S.SENT, "phi", "verified_tls")
    for message in plain:
        assert (message.status, message.level, message.protection_action) == (S.ESCROWED, "phi", "escrow")
        assert ESCROW_NOTICE in message.reason_codes
    assert counts["sent"] == len(verified) and counts["escrowed"] == len(plain)

    # The sink: every verified-domain message once, over TLS, on the STARTTLS listener; on the
    # plain listener only the escrow notices, one each, without the message's PHI.
    assert demo.secure.handler.stored_count == len(verified)
    assert demo.plain.handler.stored_count == len(plain)
    mail = mailbox_list(maildir=demo.maildir, limit=1000)
    by_domain = {domain: [m for m in mail if m.envelope_to.endswith(f"@{domain}")] for domain in by_domain}
    assert len(by_domain[DEMO_VERIFIED_DOMAIN]) == len({m.envelope_to for m in by_domain[DEMO_VERIFIED_DOMAIN]})
    assert len(by_domain[DEMO_VERIFIED_DOMAIN]) == len(verified)
    for m in by_domain[DEMO_VERIFIED_DOMAIN]:
        assert m.over_tls and m.transport_security.split()[0] in ("TLSv1.2", "TLSv1.3")
        assert m.subject.startswith("Your results from")
    assert len(by_domain[DEMO_PLAIN_DOMAIN]) == len({m.envelope_to for m in by_domain[DEMO_PLAIN_DOMAIN]})
    assert len(by_domain[DEMO_PLAIN_DOMAIN]) == len(plain)
    with tenant_context(tenant):
        last_names = {message.contact.email: message.contact.last_name for message in plain}
    for m in by_domain[DEMO_PLAIN_DOMAIN]:
        assert not m.over_tls and m.subject == "You have a secure message"
        detail = mailbox_get(message_id=m.id, maildir=demo.maildir)
        shown = f"{detail.text} {detail.html}"
        assert "/secure/" in shown  # the portal link
        assert "lab results" not in shown and "cardiology" not in shown
        assert last_names[m.envelope_to] not in f"{shown} {m.subject}"

    # What a signed-in admin sees: the dev mailbox, and both domains with their posture.
    from authn.models import User
    from tenants.demo import DEMO_USERS
    from tenants.roles import Role

    admin = User.objects.get(email=next(u.email for u in DEMO_USERS if u.role == Role.ADMIN))
    client = login(admin, tenant)
    listing = client.get(reverse("delivery:mailbox")).content.decode()
    assert listing.count(f"@{DEMO_VERIFIED_DOMAIN}") == len(verified)
    assert listing.count(f"@{DEMO_PLAIN_DOMAIN}") == len(plain)
    assert listing.count(by_domain[DEMO_VERIFIED_DOMAIN][0].transport_security) == len(verified)
    assert listing.count("plaintext") == len(plain)
    page = client.get(reverse("delivery:domain_list"))
    assert page.status_code == 200
    rows = {row.domain: row for row in page.context["rows"]}
    assert rows[DEMO_VERIFIED_DOMAIN].posture.tls == "verified"
    assert rows[DEMO_PLAIN_DOMAIN].posture.tls == "none"


def test_the_demo_sink_presents_a_certificate_only_the_demo_ca_vouches_for(demo):
    """The verified listener really is verified by the demo CA, and by nothing else."""
    import smtplib

    trusting = ssl.create_default_context(cafile=str(demo.tls.ca_file))
    # By the MX name the certificate is checked against (it resolves to the loopback address).
    with smtplib.SMTP(DEMO_MX_HOST, demo.secure.port, local_hostname="client.localhost", timeout=5) as smtp:
        smtp.starttls(context=trusting)
        assert smtp.sock.version() in ("TLSv1.2", "TLSv1.3")
    system_only = ssl.create_default_context()
    with (
        smtplib.SMTP(DEMO_MX_HOST, demo.secure.port, local_hostname="client.localhost", timeout=5) as smtp,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        smtp.starttls(context=system_only)
    with smtplib.SMTP("127.0.0.1", demo.plain.port, local_hostname="client.localhost", timeout=5) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("starttls")
