"""The escrow portal's reporting events: the first opening of the link (the start page shown)
is ``escrow_opened``, the first reading after verification ``escrow_read``, each reply
``reply_received``; for a campaign message with its campaign, message, contact and recipient
domain, for a message from no campaign with the contact only."""

from __future__ import annotations

import pytest

from campaigns.models import Message, MessageStatus
from campaigns.tests.support import make_campaign
from encryption.tests.escrow_support import make_escrowed
from encryption.tests.test_portal import opened, start_url, verify
from reporting.tests.source_support import recorded, rollups
from tenants.context import tenant_context
from tests.factories import make_contact

pytestmark = pytest.mark.django_db
DOMAIN = "patients-plain.example"


def escrowed_campaign_message(fixture):
    campaign = make_campaign(fixture)
    contact = make_contact(fixture.tenant, email=f"quilla@{DOMAIN}")
    with tenant_context(fixture.tenant):
        message = Message(
            tenant=fixture.tenant,
            campaign=campaign,
            contact=contact,
            status=MessageStatus.ESCROWED,
            send_after=campaign.created_at,
            recipient_domain=DOMAIN,
        )
        message.save()
    stored = make_escrowed(fixture, with_contact=False, contact=contact, campaign=campaign, message_id=message.pk)
    return stored, message


def test_opening_reading_and_replying_are_events_of_the_campaign_message(world, client):
    stored, message = escrowed_campaign_message(world.a)
    tenant = world.a.tenant
    expected = (message.campaign_id, message.pk, message.contact_id, DOMAIN, "")

    opened(client, stored.token)
    opened(client, stored.token)  # the first opening only
    assert recorded(tenant, "escrow_opened") == [expected]
    assert recorded(tenant, "escrow_read") == []

    verify(client, world.a, stored)
    assert client.get(f"{start_url(stored.token)}message/").status_code == 200
    assert client.get(f"{start_url(stored.token)}message/").status_code == 200  # the first reading only
    assert recorded(tenant, "escrow_read") == [expected]

    for body in ("Thank you, see you Monday.", "One more question about the time."):
        response = client.post(f"{start_url(stored.token)}reply/", {"body": body})
        assert response.status_code == 303
    assert recorded(tenant, "reply_received") == [expected, expected]

    for metric, count in (("escrow_opened", 1), ("escrow_read", 1), ("reply_received", 2)):
        assert rollups(tenant, metric, campaign_id=message.campaign_id, domain=DOMAIN) == {
            "tenant": count,
            "tenant_domain": count,
            "campaign": count,
            "campaign_domain": count,
        }, metric


def test_a_refused_reply_and_an_unverified_visit_are_no_read_or_reply(world, client):
    stored, _ = escrowed_campaign_message(world.a)
    opened(client, stored.token)
    assert client.get(f"{start_url(stored.token)}message/").status_code == 303  # not verified here
    assert client.post(f"{start_url(stored.token)}reply/", {"body": "Hello"}).status_code == 303
    verify(client, world.a, stored)
    assert client.post(f"{start_url(stored.token)}reply/", {"body": "   "}).status_code == 400
    assert recorded(world.a.tenant, "escrow_read") == recorded(world.a.tenant, "reply_received") == []


def test_a_message_from_no_campaign_is_an_event_of_its_contact(world, client):
    stored = make_escrowed(world.a)
    contact_id = stored.escrow.contact_id
    verify(client, world.a, stored)
    client.get(f"{start_url(stored.token)}message/")
    assert recorded(world.a.tenant, "escrow_opened") == [(None, None, contact_id, "", "")]
    assert recorded(world.a.tenant, "escrow_read") == [(None, None, contact_id, "", "")]
    assert rollups(world.a.tenant, "escrow_read") == {"tenant": 1, "tenant_domain": 0}


def test_the_events_stay_in_the_messages_organisation(world, client):
    stored, _ = escrowed_campaign_message(world.a)
    opened(client, stored.token)
    assert len(recorded(world.a.tenant, "escrow_opened")) == 1
    assert recorded(world.b.tenant, "escrow_opened") == []
    assert rollups(world.b.tenant, "escrow_opened")["tenant"] == 0
