from __future__ import annotations

import pytest
from django.urls import reverse

from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db


def test_contact_search_pages_keep_the_search(world, login, django_assert_max_num_queries):
    for _ in range(30):
        make_contact(world.a.tenant, last_name="Pagedsynthetic")
    make_contact(world.a.tenant, last_name="Elsewhere")
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    client.get(reverse("tenants:dashboard"))  # settle the session before counting queries
    with django_assert_max_num_queries(18):
        first = client.get(reverse("segments:contact_list"), {"q": "Pagedsynthetic"})
    body = first.content.decode()
    assert first.context["page"].paginator.count == 30
    assert "Elsewhere" not in body
    assert "?q=Pagedsynthetic&amp;page=2" in body
    second = client.get(reverse("segments:contact_list"), {"q": "Pagedsynthetic", "page": 2})
    assert len(second.context["page"]) == 5


def test_htmx_search_returns_only_the_rows(world, login):
    make_contact(world.a.tenant, first_name="Htmxfound")
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    response = client.get(reverse("segments:contact_list"), {"q": "Htmxfound"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "Htmxfound" in body and "<html" not in body
