from __future__ import annotations

import pytest
from django.urls import reverse

from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db


def test_contacts_page_newest_first_within_a_query_budget(world, login, django_assert_max_num_queries):
    for _ in range(30):
        make_contact(world.a.tenant, last_name="Pagedsynthetic")
    newest = make_contact(world.a.tenant, last_name="Newest")
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    client.get(reverse("tenants:dashboard"))  # settle the session before counting queries
    # Includes the session-binding check, the access policy and the emergency-access lookup.
    with django_assert_max_num_queries(21):
        first = client.get(reverse("segments:contact_list"))
    assert first.context["page"].paginator.count == 31
    assert first.context["page"][0].pk == newest.pk and "N." in first.content.decode()
    second = client.get(reverse("segments:contact_list"), {"page": 2})
    assert len(second.context["page"]) == 6


def test_search_is_an_exact_match_on_email_or_external_id(world, login):
    wanted = make_contact(
        world.a.tenant, email="Exact.Synthetic@example.com", external_id="EXT-777", last_name="Wanted"
    )
    make_contact(world.a.tenant, email="exact.synthetic.other@example.com", last_name="Other")
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    for query in ["exact.synthetic@example.com", " EXACT.SYNTHETIC@EXAMPLE.COM ", "EXT-777"]:
        page = client.get(reverse("segments:contact_list"), {"q": query}).context["page"]
        assert [contact.pk for contact in page] == [wanted.pk], query
    assert list(client.get(reverse("segments:contact_list"), {"q": "exact.synthetic"}).context["page"]) == []


def test_htmx_search_returns_only_the_rows(world, login):
    make_contact(world.a.tenant, first_name="Htmxfound")
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    response = client.get(reverse("segments:contact_list"), {"q": "Htmxfound"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "Htmxfound" in body and "<html" not in body


def test_the_list_masks_names_and_emails_until_a_step_up(world, login):
    make_contact(
        world.a.tenant,
        first_name="Maskedfirst",
        last_name="Maskedlast",
        email="masked.person@example.com",
        external_id="MRN-123456",
    )
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    body = client.get(reverse("segments:contact_list")).content.decode()
    assert "Maskedfirst" not in body and "masked.person@" not in body and "MRN-123456" not in body
    assert "M. M." in body and "m•••@example.com" in body and "•••456" in body

    asked = client.get(reverse("segments:contact_list"), {"show": "phi"})
    assert asked.status_code == 302 and asked["Location"].startswith(reverse("authn:step_up"))


def test_revealing_the_list_after_a_step_up_is_audited_as_such(world, login):
    from audit.tests.helpers import events, head_seq

    contact = make_contact(
        world.a.tenant, first_name="Shownfirst", email="shown.person@example.com", external_id="MRN-654321"
    )
    client = login(world.a.users[Role.MARKETER], world.a.tenant, step_up=True)
    seq = head_seq(world.a.tenant)
    body = client.get(reverse("segments:contact_list"), {"show": "phi"}).content.decode()
    assert "Shownfirst" in body and "shown.person@example.com" in body and "MRN-654321" in body
    assert events(world.a.tenant, seq) == [
        ("contact.list_viewed", {"contact_ids": [str(contact.pk)], "revealed": True})
    ]
