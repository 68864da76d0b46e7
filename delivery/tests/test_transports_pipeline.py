"""A campaign through the configured transport (``DELIVERY_TRANSPORT``), the pipeline choosing it
itself (no transport passed in): through a relay that requires STARTTLS and AUTH, and through
Amazon SES (moto). The per-recipient decision still rests on Sealpost's own probe of each
recipient domain: PHI to the domain without STARTTLS is not handed to the relay or to SES."""

from __future__ import annotations

import email
import email.policy

import boto3
import pytest
from moto import mock_aws

from campaigns.models import MessageStatus
from delivery.mime import message_id_for
from delivery.tests import test_pipeline_support as support
from delivery.tests.smtp_servers import MX_NAME, recording_server
from delivery.tests.test_pipeline_support import (
    FROM_DOMAIN,
    PLAIN_DOMAIN,
    TLS_DOMAIN,
    consenting_contacts,
    launch,
    received,
    rows,
    run_until_done,
    status_counts,
)

pytestmark = pytest.mark.django_db
ca, mx_cert, servers, pipeline_env, needs_baa = (
    support.ca,
    support.mx_cert,
    support.servers,
    support.pipeline_env,
    support.needs_baa,
)
S = MessageStatus
REGION = "us-east-1"


@pytest.fixture
def own_transport(monkeypatch):
    """The pipeline builds its per-process transport afresh from the settings of this test."""
    from delivery import pipeline

    monkeypatch.setattr(pipeline, "_transport", None)
    yield
    if pipeline._transport is not None:
        pipeline._transport.close()


def text_of(raw: bytes) -> str:
    body = email.message_from_bytes(raw, policy=email.policy.default).get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def sent_ids(env, campaign) -> set[str]:
    return {
        message_id_for(tenant_id=env.tenant.pk, message_row_id=m.pk, domain=FROM_DOMAIN)
        for m in rows(env, campaign)
        if m.status == S.SENT
    }


def test_relay_mode_sends_through_the_smart_host_over_verified_tls_with_auth(pipeline_env, settings, ca, own_transport):
    from delivery.pipeline import default_transport
    from delivery.testing import server_context
    from delivery.transport import RelayTransport

    env = pipeline_env
    consenting_contacts(env.fixture, TLS_DOMAIN, 3)
    consenting_contacts(env.fixture, PLAIN_DOMAIN, 2)
    campaign = launch(env)
    with recording_server(tls_context=server_context(ca.issue(MX_NAME)), auth=True) as relay:
        settings.DELIVERY_TRANSPORT = "relay"
        settings.DELIVERY_RELAY_HOST = MX_NAME
        settings.DELIVERY_RELAY_PORT = relay.port
        settings.DELIVERY_RELAY_USERNAME = "relay-user"
        settings.DELIVERY_RELAY_PASSWORD = "relay-secret"
        run_until_done(env, campaign, transport=None)
        assert isinstance(default_transport(), RelayTransport)
        default_transport().close()
        got = relay.recorder.received
        # AUTH first, and every command over TLS.
        assert relay.recorder.commands[0][0] == "AUTH"
        assert all(tls for _, tls in relay.recorder.commands)
    assert received(env.tls) == [] and received(env.plain) == []  # nothing went direct to an MX
    # PHI: the three to the domain with verified TLS went, through the relay.
    assert status_counts(env, campaign) == {S.SENT: 3, S.ESCROWED: 2}
    phi = [r for r in got if r.rcpt_tos[0].endswith("@" + TLS_DOMAIN)]
    assert {str(email.message_from_bytes(r.content)["Message-ID"]) for r in phi} == sent_ids(env, campaign)
    assert all("cardiology" in text_of(r.content) for r in phi)
    # The domain without STARTTLS got its escrow notices only (decided on our own probe of its
    # MX, whatever the relay would have done): the PHI itself never reached the relay.
    notices = [r for r in got if r.rcpt_tos[0].endswith("@" + PLAIN_DOMAIN)]
    assert len(notices) == 2 and not any("cardiology" in text_of(r.content) for r in notices)


def test_relay_mode_with_a_wrong_password_sends_nothing(pipeline_env, settings, ca, own_transport):
    from delivery.pipeline import default_transport
    from delivery.testing import server_context

    env = pipeline_env
    consenting_contacts(env.fixture, TLS_DOMAIN, 2)
    campaign = launch(env)
    with recording_server(tls_context=server_context(ca.issue(MX_NAME)), auth=True) as relay:
        settings.DELIVERY_TRANSPORT = "relay"
        settings.DELIVERY_RELAY_HOST = MX_NAME
        settings.DELIVERY_RELAY_PORT = relay.port
        settings.DELIVERY_RELAY_USERNAME = "relay-user"
        settings.DELIVERY_RELAY_PASSWORD = "not-the-password"
        support.run(env, campaign, transport=None)
        default_transport().close()
        assert relay.recorder.transactions == []
    assert status_counts(env, campaign) == {S.DEFERRED: 2}


@pytest.fixture
def ses(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("sesv2", region_name=REGION)
        boto3.client("ses", region_name=REGION).verify_domain_identity(Domain=FROM_DOMAIN)
        client.create_email_identity(EmailIdentity=FROM_DOMAIN)
        client.create_configuration_set(ConfigurationSetName="tls-required", DeliveryOptions={"TlsPolicy": "REQUIRE"})
        client.create_configuration_set(ConfigurationSetName="tls-optional", DeliveryOptions={"TlsPolicy": "OPTIONAL"})
        yield client


def ses_sent():
    from moto.backends import get_backend
    from moto.core import DEFAULT_ACCOUNT_ID

    return get_backend("ses")[DEFAULT_ACCOUNT_ID][REGION].sent_messages


def test_ses_mode_sends_phi_only_with_a_tls_requiring_configuration_set(pipeline_env, settings, ses, own_transport):
    from delivery.pipeline import default_transport
    from delivery.ses import SesTransport

    env = pipeline_env
    consenting_contacts(env.fixture, TLS_DOMAIN, 3)
    consenting_contacts(env.fixture, PLAIN_DOMAIN, 1)
    campaign = launch(env)
    settings.DELIVERY_TRANSPORT = "ses"
    settings.DELIVERY_SES_REGION = REGION
    settings.DELIVERY_SES_CONFIGURATION_SET = "tls-required"
    run_until_done(env, campaign, transport=None)
    assert isinstance(default_transport(), SesTransport)
    assert status_counts(env, campaign) == {S.SENT: 3, S.ESCROWED: 1}
    assert received(env.tls) == [] and received(env.plain) == []  # nothing went direct to an MX
    by_domain: dict[str, list] = {TLS_DOMAIN: [], PLAIN_DOMAIN: []}
    for m in ses_sent():
        [destination] = set(m.destinations)  # moto lists the recipient once per source it read
        by_domain[destination.rpartition("@")[2]].append(m.raw_data.encode())
    phi = by_domain[TLS_DOMAIN]
    assert len(phi) == 3 and all(b"DKIM-Signature" in raw for raw in phi)
    assert all("cardiology" in text_of(raw) for raw in phi)
    assert {str(email.message_from_bytes(raw)["Message-ID"]) for raw in phi} == sent_ids(env, campaign)
    # The domain without STARTTLS (by our own probe): its escrow notice only, never the PHI.
    [notice] = by_domain[PLAIN_DOMAIN]
    assert "cardiology" not in text_of(notice)


def test_ses_mode_without_tls_required_sends_no_phi(pipeline_env, settings, ses, own_transport):
    env = pipeline_env
    consenting_contacts(env.fixture, TLS_DOMAIN, 2)
    campaign = launch(env)
    settings.DELIVERY_TRANSPORT = "ses"
    settings.DELIVERY_SES_REGION = REGION
    settings.DELIVERY_SES_CONFIGURATION_SET = "tls-optional"
    support.run(env, campaign, transport=None)
    assert ses_sent() == []
    assert status_counts(env, campaign) == {S.DEFERRED: 2}
    assert all("tls_failed" in m.reason_codes for m in rows(env, campaign))
