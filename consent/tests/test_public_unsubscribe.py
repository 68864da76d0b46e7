"""One-click unsubscribe (RFC 8058): the mailbox provider's POST works without cookies or a
CSRF token, takes effect in that request and answers 200; a GET changes nothing."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from audit.tests.helpers import events, head_seq
from consent.links import unsubscribe_url
from consent.models import ConsentEvent, ConsentStatus, Suppression
from consent.tests.public_support import grant, status_of
from tenants.context import tenant_context
from tests.factories import make_contact

pytestmark = pytest.mark.django_db

ONE_CLICK = "List-Unsubscribe=One-Click"


def _path(tenant, contact, purpose):
    return unsubscribe_url(tenant=tenant, contact=contact, purpose=purpose).split("://", 1)[1].split("/", 1)[1]


def _one_click(path: str):
    client = Client(enforce_csrf_checks=True)
    assert not client.cookies
    return client.post(
        "/" + path,
        data=ONE_CLICK,
        content_type="application/x-www-form-urlencoded",
        HTTP_USER_AGENT="MailboxProvider/1.0",
        REMOTE_ADDR="198.51.100.7",
    )


def test_rfc8058_post_unsubscribes_at_once_without_cookies_or_csrf(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    grant(tenant, contact, "appointment_reminders", "billing")
    seq = head_seq(tenant)

    response = _one_click(_path(tenant, contact, "appointment_reminders"))

    assert response.status_code == 200
    assert "Location" not in response
    assert not response.cookies  # nothing to keep: no session, no CSRF cookie
    assert response["Cache-Control"] == "no-store"
    assert b"You are unsubscribed" in response.content
    assert status_of(tenant, contact, "appointment_reminders") == ConsentStatus.REVOKED
    assert status_of(tenant, contact, "billing") == ConsentStatus.GRANTED
    assert events(tenant, seq) == [
        (
            "consent.changed",
            {"purpose": "appointment_reminders", "from": "granted", "to": "revoked", "source": "recipient"},
        ),
        ("consent.unsubscribed", {"channel": "one_click", "purpose": "appointment_reminders", "changed": 1}),
    ]
    with tenant_context(tenant):
        event = ConsentEvent.objects.filter(contact_id=contact.pk, to_status="revoked").get()
        assert (event.ip_address, event.user_agent, event.recorded_by_type) == (
            "198.51.100.7",
            "MailboxProvider/1.0",
            "recipient",
        )
        assert event.form_version == "list-unsubscribe-one-click"


def test_unsubscribing_again_is_harmless(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    grant(tenant, contact, "care")
    path = _path(tenant, contact, "care")
    assert _one_click(path).status_code == 200
    seq = head_seq(tenant)
    again = _one_click(path)
    assert again.status_code == 200
    assert status_of(tenant, contact, "care") == ConsentStatus.REVOKED
    assert events(tenant, seq) == [("consent.unsubscribed", {"channel": "one_click", "purpose": "care", "changed": 0})]


def test_a_get_asks_and_changes_nothing(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    grant(tenant, contact, "care")
    seq = head_seq(tenant)
    response = Client().get("/" + _path(tenant, contact, "care"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Care and treatment notifications" in body
    assert body.count("<button") == 1
    assert status_of(tenant, contact, "care") == ConsentStatus.GRANTED
    assert events(tenant, seq) == []
    # The page's button posts the same one-click body, marked as coming from the page.
    page = Client(enforce_csrf_checks=True).post(
        "/" + _path(tenant, contact, "care"), {"List-Unsubscribe": "One-Click", "via": "page"}
    )
    assert page.status_code == 200
    assert status_of(tenant, contact, "care") == ConsentStatus.REVOKED
    assert events(tenant, seq)[-1] == ("consent.unsubscribed", {"channel": "page", "purpose": "care", "changed": 1})


def test_without_a_purpose_it_unsubscribes_from_everything(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    grant(tenant, contact, "billing", "care")
    seq = head_seq(tenant)
    assert _one_click(_path(tenant, contact, None)).status_code == 200
    assert status_of(tenant, contact, "billing") == ConsentStatus.REVOKED
    assert status_of(tenant, contact, "care") == ConsentStatus.REVOKED
    with tenant_context(tenant):
        assert Suppression.objects.filter(email_index=contact.email_index, reason="unsubscribed").exists()
    assert [action for action, _ in events(tenant, seq)] == [
        "consent.changed",
        "consent.changed",
        "suppression.added",
        "consent.unsubscribed",
    ]


def test_a_tampered_token_is_refused_and_changes_nothing(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    grant(tenant, contact, "care")
    path = _path(tenant, contact, "care")
    tampered = path[:-3] + ("A" if path[-3] != "A" else "B") + path[-2:]
    response = _one_click(tampered)
    assert response.status_code == 404
    assert status_of(tenant, contact, "care") == ConsentStatus.GRANTED


def test_a_signed_in_user_of_another_organisation_still_unsubscribes_for_the_links_organisation(world, login):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    grant(tenant, contact, "care")
    client = login(world.b.users[next(iter(world.b.users))], world.b.tenant)
    response = client.post(reverse("consent_public:unsubscribe", args=["x"]))
    assert response.status_code == 404
    response = client.post("/" + _path(tenant, contact, "care"), data=ONE_CLICK, content_type="text/plain")
    assert response.status_code == 200
    assert status_of(tenant, contact, "care") == ConsentStatus.REVOKED
