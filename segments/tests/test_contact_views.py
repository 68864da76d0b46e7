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
    assert first.context["page"][0].pk == newest.pk and "Newest" in first.content.decode()
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
