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
    url = reverse("segments:contact_list")
    for query in ["exact.synthetic@example.com", " EXACT.SYNTHETIC@EXAMPLE.COM ", "EXT-777"]:
        page = client.post(url, {"q": query}, follow=True).context["page"]
        assert [contact.pk for contact in page] == [wanted.pk], query
    assert list(client.post(url, {"q": "exact.synthetic"}, follow=True).context["page"]) == []


def test_the_searched_text_never_reaches_a_url_the_page_or_the_session(world, login):
    wanted = make_contact(world.a.tenant, email="findme.synthetic@example.com", external_id="MRN-424242")
    make_contact(world.a.tenant)
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    url = reverse("segments:contact_list")
    response = client.post(url, {"q": "MRN-424242", "tag": "", "language": "en"})
    assert response.status_code == 302
    assert response["Location"] == f"{url}?search=on&language=en"
    page = client.get(response["Location"])
    assert [contact.pk for contact in page.context["page"]] == [wanted.pk]
    body = page.content.decode()
    assert "MRN-424242" not in body and "Clear the search" in body
    assert "MRN-424242" not in str(dict(client.session))
    # htmx: the rows, with the address bar set to the URL without the search text.
    rows = client.post(url, {"q": "findme.synthetic@example.com"}, HTTP_HX_REQUEST="true")
    assert rows["HX-Push-Url"] == f"{url}?search=on"
    assert "findme" not in rows.content.decode().replace("f•••", "") and "<html" not in rows.content.decode()
    # Without search=on in the URL the list is not filtered; an empty search clears it.
    assert client.get(url).context["page"].paginator.count == 2
    client.post(url, {"q": ""})
    assert client.get(f"{url}?search=on").context["page"].paginator.count == 2


def test_a_search_kept_for_one_organisation_does_not_apply_in_another(world, login):
    member = world.a.users[Role.MARKETER]
    make_contact(world.a.tenant, email="kept.synthetic@example.com")
    client = login(member, world.a.tenant)
    url = reverse("segments:contact_list")
    client.post(url, {"q": "kept.synthetic@example.com"})
    session = client.session
    stored = session["segments.contact_search"]
    session["segments.contact_search"] = {**stored, "tenant": world.b.tenant.pk}
    session.save()
    assert client.get(f"{url}?search=on").context["searching"] is False


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
