"""The contact list's filters and the contact page: attributes, PHI masked until a step-up."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.services import actor_for_user
from audit.tests.helpers import events, head_seq
from segments.attributes import contact_attributes_apply, dictionary_for
from segments.dictionary import attribute_define
from segments.models import Contact
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db


def _with_attributes(world, **fields):
    tenant = world.a.tenant
    actor = actor_for_user(world.a.users[Role.ADMIN])
    with tenant_context(tenant):
        attribute_define(tenant=tenant, actor=actor, key="plan", label="Plan", type="text")
        attribute_define(tenant=tenant, actor=actor, key="diagnosis", label="Diagnosis", type="text", is_phi=True)
        attribute_define(tenant=tenant, actor=actor, key="next_visit", label="Next visit", type="date", is_phi=True)
    contact = make_contact(tenant, **fields)
    with tenant_context(tenant):
        contact = Contact.objects.for_tenant(tenant).get(pk=contact.pk)
        contact_attributes_apply(
            contact=contact,
            values={"plan": "Synthgold", "diagnosis": "Synthetic-condition", "next_visit": "2031-02-03"},
            dictionary=dictionary_for(tenant=tenant),
        )
        contact.save()
    return contact


def test_list_filters_by_tag_and_language_server_side_with_pagination(world, login):
    for number in range(27):
        make_contact(
            world.a.tenant, tags={"diabetes": True} if number % 2 == 0 else {}, language="pt" if number < 20 else "en"
        )
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    url = reverse("segments:contact_list")
    assert client.get(url, {"tag": "diabetes"}).context["page"].paginator.count == 14
    assert client.get(url, {"tag": "Diabetes "}).context["page"].paginator.count == 14
    assert client.get(url, {"language": "en"}).context["page"].paginator.count == 7
    both = client.get(url, {"tag": "diabetes", "language": "pt"})
    assert both.context["page"].paginator.count == 10
    pages = client.get(url, {"language": "pt"})
    assert pages.context["page"].paginator.num_pages == 1
    first = client.get(url, {"tag": "unknown-tag"})
    assert first.context["page"].paginator.count == 0 and "No contact matches these filters" in first.content.decode()


def test_filtered_pagination_links_keep_the_filters(world, login):
    for _ in range(26):
        make_contact(world.a.tenant, tags={"vip": True}, language="fr")
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    body = client.get(reverse("segments:contact_list"), {"tag": "vip", "language": "fr"}).content.decode()
    assert "tag=vip&amp;language=fr&amp;page=2" in body
    second = client.get(reverse("segments:contact_list"), {"tag": "vip", "language": "fr", "page": 2})
    assert len(second.context["page"]) == 1


def test_filters_stay_within_the_query_budget(world, login, django_assert_max_num_queries):
    for _ in range(30):
        make_contact(world.a.tenant, tags={"vip": True})
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    client.get(reverse("tenants:dashboard"))
    with django_assert_max_num_queries(21):
        response = client.get(reverse("segments:contact_list"), {"tag": "vip", "language": "en"})
    assert response.context["page"].paginator.count == 30


def test_filtered_list_stays_masked_until_a_step_up(world, login):
    make_contact(world.a.tenant, first_name="Filtermasked", tags={"vip": True})
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    assert "Filtermasked" not in client.get(reverse("segments:contact_list"), {"tag": "vip"}).content.decode()
    asked = client.get(reverse("segments:contact_list"), {"tag": "vip", "show": "phi"})
    assert asked.status_code == 302 and asked["Location"].startswith(reverse("authn:step_up"))


def test_detail_shows_tags_language_time_zone_and_plain_attributes_with_phi_masked(world, login):
    contact = _with_attributes(world, tags={"diabetes": True}, language="pt-BR", time_zone="Europe/Lisbon")
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    seq = head_seq(world.a.tenant)
    body = client.get(reverse("segments:contact_detail", kwargs={"contact_id": contact.pk})).content.decode()
    assert "diabetes" in body and "pt-BR" in body and "Europe/Lisbon" in body and "Synthgold" in body
    assert "Synthetic-condition" not in body and "2031-02-03" not in body and "•••" in body
    assert "Show PHI" in body
    consent_url = reverse("consent:contact_consent", kwargs={"contact_id": contact.pk})
    assert "Consent" in body and consent_url in body and "Messages" in body and "issue 10" in body
    # Opening the page is audited as before; nothing says PHI attributes were shown.
    assert events(world.a.tenant, seq) == [("contact.phi_viewed", {})]


def test_show_phi_needs_a_fresh_step_up(world, login):
    contact = _with_attributes(world)
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    seq = head_seq(world.a.tenant)
    url = reverse("segments:contact_detail", kwargs={"contact_id": contact.pk})
    asked = client.get(url, {"show": "phi"})
    assert asked.status_code == 302 and asked["Location"].startswith(reverse("authn:step_up"))
    assert events(world.a.tenant, seq) == []


def test_show_phi_after_a_step_up_reveals_and_audits_the_keys_not_the_values(world, login):
    contact = _with_attributes(world)
    client = login(world.a.users[Role.MARKETER], world.a.tenant, step_up=True)
    seq = head_seq(world.a.tenant)
    url = reverse("segments:contact_detail", kwargs={"contact_id": contact.pk})
    body = client.get(url, {"show": "phi"}).content.decode()
    assert "Synthetic-condition" in body and "2031-02-03" in body and "Mask PHI" in body
    recorded = events(world.a.tenant, seq)
    assert recorded == [("contact.phi_viewed", {}), ("contact.phi_viewed", {"fields": ["diagnosis", "next_visit"]})]
    assert "Synthetic-condition" not in str(recorded)


def test_contact_without_phi_attributes_offers_no_reveal(world, login):
    contact = make_contact(world.a.tenant)
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    body = client.get(reverse("segments:contact_detail", kwargs={"contact_id": contact.pk})).content.decode()
    assert "Show PHI" not in body and "None set." in body


def test_other_tenants_user_gets_404_even_with_a_step_up(world, login):
    contact = _with_attributes(world)
    client = login(world.b.users[Role.ADMIN], world.b.tenant, step_up=True)
    url = reverse("segments:contact_detail", kwargs={"contact_id": contact.pk})
    assert client.get(url, {"show": "phi"}).status_code == 404


def test_only_the_most_specific_nav_item_is_current(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    body = client.get(reverse("segments:attribute_list")).content.decode()
    assert f'<a href="{reverse("segments:attribute_list")}" aria-current="page">Data dictionary' in body
    assert f'<a href="{reverse("segments:contact_list")}" aria-current="page">' not in body
    body = client.get(reverse("segments:contact_list")).content.decode()
    assert f'<a href="{reverse("segments:contact_list")}" aria-current="page">Contacts' in body
