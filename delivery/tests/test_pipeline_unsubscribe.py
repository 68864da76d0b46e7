"""Unsubscribe links in messages the pipeline sends, end to end against the real SMTP servers:
every consent link (footer, List-Unsubscribe, escrow notice) names nobody, and the RFC 8058
one-click POST a mailbox provider makes to the header's URL unsubscribes the recipient and counts
the ``unsubscribed`` event for the message's campaign and recipient domain."""

from __future__ import annotations

import email
import email.policy
import re
from urllib.parse import urlsplit

import pytest
from django.test import Client

from campaigns.models import MessageStatus
from consent.links import read_mailto_address, read_unsubscribe_token
from consent.models import ConsentStatus
from consent.tests.link_scan import assert_names_nobody
from consent.tests.public_support import status_of
from delivery.tests import test_pipeline_support as support
from delivery.tests.test_pipeline_support import (
    PLAIN_DOMAIN,
    PURPOSE,
    TLS_DOMAIN,
    consenting_contacts,
    launch,
    rows,
    run,
)
from reporting.tests.source_support import recorded, rollups

pytestmark = pytest.mark.django_db
# The shared fixtures (test_pipeline_support), used by name.
ca, mx_cert, servers, pipeline_env, needs_baa = (
    support.ca,
    support.mx_cert,
    support.servers,
    support.pipeline_env,
    support.needs_baa,
)
S = MessageStatus
ONE_CLICK = "List-Unsubscribe=One-Click"
URL = re.compile(r"(?:https?://|mailto:)[^\s<>\"']+")


def _header_urls(parsed) -> tuple[str, str]:
    https, mailto = re.findall(r"<([^>]+)>", str(parsed["List-Unsubscribe"]).replace("\r\n", ""))
    return https, mailto


def _all_urls(parsed) -> list[str]:
    found = URL.findall(str(parsed["List-Unsubscribe"]).replace("\r\n", ""))
    for part in parsed.walk():
        if part.get_content_maintype() == "text":
            found += URL.findall(part.get_content())
    return found


def _one_click(url: str):
    return Client(enforce_csrf_checks=True).post(
        urlsplit(url).path, data=ONE_CLICK, content_type="application/x-www-form-urlencoded"
    )


def test_one_click_from_a_sent_message_unsubscribes_and_counts_for_its_campaign(pipeline_env):
    env = pipeline_env
    contacts = {c.email: c for c in consenting_contacts(env.fixture, TLS_DOMAIN, 2)}
    campaign = launch(env)
    assert run(env, campaign).counts["sent"] == 2
    by_address = {m.contact_id: m for m in rows(env, campaign)}
    received = env.tls.recorder.received
    assert len(received) == 2
    for r in received:
        parsed = email.message_from_bytes(r.content, policy=email.policy.default)
        contact = contacts[r.rcpt_tos[0]]
        urls = _all_urls(parsed)
        assert any("/r/unsubscribe/" in u for u in urls)
        for url in urls:
            assert_names_nobody(url, contact)
        https, mailto = _header_urls(parsed)
        assert parsed["List-Unsubscribe-Post"] == ONE_CLICK
        target = read_unsubscribe_token(urlsplit(https).path.rstrip("/").rsplit("/", 1)[1])
        assert (target.contact_id, target.purpose, target.message_id) == (
            contact.pk,
            PURPOSE,
            by_address[contact.pk].pk,
        )
        assert read_mailto_address(mailto.removeprefix("mailto:").split("?")[0]).contact_id == contact.pk
    # The mailbox provider's one-click POST to the first message's header URL.
    first = email.message_from_bytes(received[0].content, policy=email.policy.default)
    contact = contacts[received[0].rcpt_tos[0]]
    message = by_address[contact.pk]
    assert _one_click(_header_urls(first)[0]).status_code == 200
    assert status_of(env.tenant, contact, PURPOSE) == ConsentStatus.REVOKED
    assert recorded(env.tenant, "unsubscribed") == [(campaign.pk, message.pk, contact.pk, TLS_DOMAIN, "one_click")]
    assert rollups(env.tenant, "unsubscribed", campaign_id=campaign.pk, domain=TLS_DOMAIN) == {
        "tenant": 1,
        "tenant_domain": 1,
        "campaign": 1,
        "campaign_domain": 1,
    }
    # The provider retries: nothing more is counted.
    assert _one_click(_header_urls(first)[0]).status_code == 200
    assert rollups(env.tenant, "unsubscribed", campaign_id=campaign.pk)["campaign"] == 1


def test_the_escrow_notices_unsubscribe_link_names_nobody_and_counts_for_the_campaign(pipeline_env):
    env = pipeline_env
    (contact,) = consenting_contacts(env.fixture, PLAIN_DOMAIN, 1)
    campaign = launch(env)
    assert run(env, campaign).counts["escrowed"] == 1
    (message,) = rows(env, campaign)
    assert message.status == S.ESCROWED
    (notice,) = env.plain.recorder.received
    parsed = email.message_from_bytes(notice.content, policy=email.policy.default)
    for url in _all_urls(parsed):
        assert_names_nobody(url, contact)
    body = parsed.get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"https://sealpost\.test/r/unsubscribe/[^\s/]+/", body)
    assert link is not None
    assert _one_click(link.group()).status_code == 200
    assert status_of(env.tenant, contact, PURPOSE) == ConsentStatus.REVOKED
    assert recorded(env.tenant, "unsubscribed") == [(campaign.pk, message.pk, contact.pk, PLAIN_DOMAIN, "one_click")]
    assert rollups(env.tenant, "unsubscribed", campaign_id=campaign.pk)["campaign"] == 1
