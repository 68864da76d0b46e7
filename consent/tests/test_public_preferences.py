"""The preference centre: no sign-in, no PHI shown, CSRF protected; purposes, topics, frequency,
the unencrypted-email choice behind its warning, and unsubscribe from everything."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.tests.helpers import events, head_seq
from consent.links import preference_centre_url, read_preference_token
from consent.models import ConsentEvent, ConsentStatus, ContactPreferences, Suppression
from consent.services import UNENCRYPTED_WARNING, suppression_add, topic_create
from consent.tests.public_support import grant, status_of
from consent.tests.support import STAFF
from tenants.context import tenant_context
from tests.factories import make_contact

pytestmark = pytest.mark.django_db


def _path(tenant, contact):
    return "/" + preference_centre_url(tenant=tenant, contact=contact).split("://", 1)[1].split("/", 1)[1]


def _same_link(got: str, expected: str) -> bool:
    """The same preference link: equal up to the time it was issued (each link is sealed afresh
    with its issue time, so two made a second apart differ) and with the same query."""
    got_path, _, got_query = got.partition("?")
    expected_path, _, expected_query = expected.partition("?")
    token = [part for part in got_path.split("/")[3:4] if part]  # /r/preferences/<token>/
    expected_token = [part for part in expected_path.split("/")[3:4] if part]
    return (
        got_query == expected_query
        and len(token) == len(expected_token) == 1
        and read_preference_token(token[0]) == read_preference_token(expected_token[0])
        and got_path.replace(token[0], "") == expected_path.replace(expected_token[0], "")
    )


@pytest.fixture
def recipient(world):
    tenant = world.a.tenant
    contact = make_contact(tenant, first_name="Zelda", last_name="Quill", email="zelda.quill@patients.example.net")
    grant(tenant, contact, "appointment_reminders", "marketing")
    with tenant_context(tenant):
        topic_create(tenant=tenant, actor=STAFF, key="flu_clinics", name="Flu clinics", purpose="marketing")
        topic_create(tenant=tenant, actor=STAFF, key="newsletter", name="Newsletter", purpose="marketing")
    return tenant, contact


def _page(client, tenant, contact):
    response = client.get(_path(tenant, contact))
    assert response.status_code == 200
    return response


def _choices(**overrides):
    data = {
        "purposes": ["appointment_reminders", "marketing"],
        "topics": ["flu_clinics", "newsletter"],
        "frequency": "as_sent",
        "delivery": "secure",
    }
    data.update(overrides)
    return data


def test_the_page_shows_statuses_and_no_phi(recipient):
    tenant, contact = recipient
    body = _page(Client(), tenant, contact).content.decode()
    for phi in ("Zelda", "Quill", "zelda.quill", "patients.example.net", contact.external_id):
        assert phi not in body
    assert "Appointment reminders" in body and "Billing and payment" in body
    assert body.count(">Subscribed</span>") == 2 and body.count(">Not subscribed</span>") == 2
    assert UNENCRYPTED_WARNING in body
    assert "Flu clinics" in body
    assert "Unsubscribe from everything" in body


def test_saving_changes_purposes_topics_and_frequency(recipient):
    tenant, contact = recipient
    client = Client(enforce_csrf_checks=True)
    page = _page(client, tenant, contact)
    seq = head_seq(tenant)
    data = _choices(purposes=["appointment_reminders", "billing"], topics=["newsletter"], frequency="monthly")
    response = client.post(
        _path(tenant, contact),
        {**data, "csrfmiddlewaretoken": page.context["csrf_token"]},
        REMOTE_ADDR="203.0.113.77",
        HTTP_USER_AGENT="PatientBrowser/3.0",
    )
    assert response.status_code == 302
    assert _same_link(response["Location"], _path(tenant, contact) + "?done=saved")
    assert b"Your choices are saved" in client.get(response["Location"]).content
    assert status_of(tenant, contact, "billing") == ConsentStatus.GRANTED
    assert status_of(tenant, contact, "marketing") == ConsentStatus.REVOKED
    assert status_of(tenant, contact, "appointment_reminders") == ConsentStatus.GRANTED
    with tenant_context(tenant):
        preferences = ContactPreferences.objects.get(contact=contact)
        assert (preferences.frequency, preferences.topics_declined) == ("monthly", ["flu_clinics"])
        event = ConsentEvent.objects.filter(contact_id=contact.pk, purpose="billing").get()
        assert (event.source, event.recorded_by_type, event.ip_address, event.user_agent) == (
            "recipient",
            "recipient",
            "203.0.113.77",
            "PatientBrowser/3.0",
        )
    assert events(tenant, seq) == [
        ("consent.changed", {"purpose": "billing", "from": "never_asked", "to": "granted", "source": "recipient"}),
        ("consent.changed", {"purpose": "marketing", "from": "granted", "to": "revoked", "source": "recipient"}),
        ("consent.preferences_changed", {"fields": ["frequency", "topics"], "frequency": "monthly"}),
    ]


def test_the_page_is_csrf_protected(recipient):
    tenant, contact = recipient
    client = Client(enforce_csrf_checks=True)
    response = client.post(_path(tenant, contact), _choices(purposes=[]))
    assert response.status_code == 403
    assert status_of(tenant, contact, "marketing") == ConsentStatus.GRANTED


def test_ordinary_email_needs_the_warning_accepted_and_nothing_is_saved_without_it(recipient):
    tenant, contact = recipient
    client = Client()
    seq = head_seq(tenant)
    refused = client.post(_path(tenant, contact), _choices(purposes=["appointment_reminders"], delivery="ordinary"))
    assert refused.status_code == 400
    body = refused.content.decode()
    assert 'aria-describedby="warning-error"' in body and 'id="warning-error"' in body
    assert "tick the box to confirm you have read the warning" in body
    assert status_of(tenant, contact, "marketing") == ConsentStatus.GRANTED  # all or nothing
    assert events(tenant, seq) == []

    accepted = client.post(
        _path(tenant, contact), _choices(delivery="ordinary", warning_accepted="on"), REMOTE_ADDR="203.0.113.8"
    )
    assert accepted.status_code == 302
    with tenant_context(tenant):
        preferences = ContactPreferences.objects.get(contact=contact)
        assert preferences.accepts_unencrypted_phi
        assert preferences.unencrypted_warning_version
    assert events(tenant, seq) == [
        (
            "consent.unencrypted_email_changed",
            {"to": "accepted", "source": "recipient", "warning_version": preferences.unencrypted_warning_version},
        )
    ]
    # Saving again keeps the choice without ticking the warning again; going back needs nothing.
    assert client.post(_path(tenant, contact), _choices(delivery="ordinary")).status_code == 302
    assert client.post(_path(tenant, contact), _choices(delivery="secure")).status_code == 302
    with tenant_context(tenant):
        assert not ContactPreferences.objects.get(contact=contact).accepts_unencrypted_phi


def test_unsubscribe_from_everything(recipient):
    tenant, contact = recipient
    client = Client()
    seq = head_seq(tenant)
    response = client.post(_path(tenant, contact), {"action": "unsubscribe_all"})
    assert response.status_code == 302
    assert b"You are unsubscribed from everything" in client.get(response["Location"]).content
    assert status_of(tenant, contact, "appointment_reminders") == ConsentStatus.REVOKED
    assert status_of(tenant, contact, "marketing") == ConsentStatus.REVOKED
    with tenant_context(tenant):
        assert Suppression.objects.filter(email_index=contact.email_index, reason="unsubscribed").exists()
    assert [action for action, _ in events(tenant, seq)] == [
        "consent.changed",
        "consent.changed",
        "suppression.added",
        "consent.unsubscribed",
    ]
    assert events(tenant, seq)[-1][1] == {"channel": "preference_centre", "purpose": "all", "changed": 2}
    # Granting something again lifts the unsubscribe (not a bounce).
    with tenant_context(tenant):
        suppression_add(tenant=tenant, actor=STAFF, email=contact.email, reason="hard_bounce")
    assert client.post(_path(tenant, contact), _choices(purposes=["billing"])).status_code == 302
    with tenant_context(tenant):
        reasons = set(Suppression.objects.filter(email_index=contact.email_index).values_list("reason", flat=True))
    assert reasons == {"hard_bounce"}


def test_archived_purposes_are_not_offered_and_left_alone(recipient):
    from consent.models import Purpose
    from consent.services import purpose_archive, purpose_create

    tenant, contact = recipient
    with tenant_context(tenant):
        purpose = purpose_create(
            tenant=tenant, actor=STAFF, key="research", name="Research studies", is_marketing=False
        )
    grant(tenant, contact, "research")
    with tenant_context(tenant):
        purpose_archive(tenant=tenant, actor=STAFF, purpose=Purpose.objects.get(pk=purpose.pk))
    client = Client()
    assert 'value="research"' not in _page(client, tenant, contact).content.decode()
    assert client.post(_path(tenant, contact), _choices()).status_code == 302
    assert status_of(tenant, contact, "research") == ConsentStatus.GRANTED


def test_invalid_and_foreign_tokens(world, recipient):
    tenant, contact = recipient
    path = _path(tenant, contact)
    assert Client().get(path[:-4] + "zzz/").status_code == 404
    other = make_contact(world.b.tenant)
    body = Client().get(_path(world.b.tenant, other)).content.decode()
    assert world.b.tenant.name in body and tenant.name not in body
