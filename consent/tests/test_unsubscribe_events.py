"""Unsubscribes are reporting events: one-click, the unsubscribe page, mail and the preference
centre each record one ``unsubscribed`` event per request that revoked something. The links made
here name no message, so the event carries the contact only (links sent in a campaign message
name it too and count for its campaign: test_opaque_links, delivery's test_pipeline_unsubscribe)."""

from __future__ import annotations

import pytest
from django.test import Client

from consent.links import mailto_address, preference_centre_url, unsubscribe_url
from consent.recipients import MailUnsubscribeResult, unsubscribe_by_mail
from consent.tests.public_support import grant
from reporting.tests.source_support import recorded, rollups
from tenants.context import tenant_context
from tests.factories import make_contact

pytestmark = pytest.mark.django_db

ONE_CLICK = "List-Unsubscribe=One-Click"


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def _one_click(tenant, contact, purpose):
    path = _path(unsubscribe_url(tenant=tenant, contact=contact, purpose=purpose))
    return Client(enforce_csrf_checks=True).post(path, data=ONE_CLICK, content_type="application/x-www-form-urlencoded")


def test_one_click_unsubscribe_is_one_event_of_the_contact(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    grant(tenant, contact, "appointment_reminders", "billing")
    assert _one_click(tenant, contact, "appointment_reminders").status_code == 200
    assert recorded(tenant, "unsubscribed") == [(None, None, contact.pk, "", "one_click")]
    assert rollups(tenant, "unsubscribed") == {"tenant": 1, "tenant_domain": 0}
    # Again: nothing changes, nothing more is counted.
    assert _one_click(tenant, contact, "appointment_reminders").status_code == 200
    assert len(recorded(tenant, "unsubscribed")) == 1
    assert rollups(tenant, "unsubscribed")["tenant"] == 1


def test_unsubscribe_from_everything_counts_once_even_with_no_consent_to_revoke(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)  # never asked anything: the address is suppressed all the same
    assert _one_click(tenant, contact, None).status_code == 200
    assert recorded(tenant, "unsubscribed") == [(None, None, contact.pk, "", "one_click")]
    assert _one_click(tenant, contact, None).status_code == 200
    assert rollups(tenant, "unsubscribed")["tenant"] == 1


def test_the_unsubscribe_page_button_is_a_page_event(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    grant(tenant, contact, "marketing")
    client = Client()
    path = _path(unsubscribe_url(tenant=tenant, contact=contact, purpose="marketing"))
    page = client.get(path)
    assert page.status_code == 200 and recorded(tenant, "unsubscribed") == []  # a GET changes nothing
    assert client.post(path, {"via": "page"}).status_code == 200
    assert [row[-1] for row in recorded(tenant, "unsubscribed")] == ["page"]


def test_unsubscribe_by_mail_is_a_mailto_event(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    grant(tenant, contact, "billing")
    with tenant_context(tenant):
        address = mailto_address(tenant=tenant, contact=contact, purpose="billing")
    assert unsubscribe_by_mail(to_address=address) == MailUnsubscribeResult.DONE
    assert recorded(tenant, "unsubscribed") == [(None, None, contact.pk, "", "mailto")]


def test_the_preference_centre_records_a_revocation_and_not_a_grant(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    grant(tenant, contact, "appointment_reminders", "marketing")
    client = Client()
    path = _path(preference_centre_url(tenant=tenant, contact=contact))
    choices = {"topics": [], "frequency": "as_sent", "delivery": "secure"}
    # Granting billing and keeping the rest: no unsubscribe.
    purposes = ["appointment_reminders", "marketing", "billing"]
    assert client.post(path, {**choices, "purposes": purposes}).status_code == 302
    assert recorded(tenant, "unsubscribed") == []
    # Unticking two purposes in one save: one unsubscribe.
    assert client.post(path, {**choices, "purposes": ["billing"]}).status_code == 302
    assert recorded(tenant, "unsubscribed") == [(None, None, contact.pk, "", "preference_centre")]
    # Unsubscribe from everything there: one more; a second time changes nothing.
    assert client.post(path, {"action": "unsubscribe_all"}).status_code == 302
    assert client.post(path, {"action": "unsubscribe_all"}).status_code == 302
    assert rollups(tenant, "unsubscribed") == {"tenant": 2, "tenant_domain": 0}


def test_an_unsubscribe_is_counted_in_the_links_organisation_only(world):
    contact = make_contact(world.a.tenant)
    grant(world.a.tenant, contact, "marketing")
    assert _one_click(world.a.tenant, contact, "marketing").status_code == 200
    assert len(recorded(world.a.tenant, "unsubscribed")) == 1
    assert recorded(world.b.tenant, "unsubscribed") == [] and rollups(world.b.tenant, "unsubscribed")["tenant"] == 0
