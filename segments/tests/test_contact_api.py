"""Creating, updating and upserting contacts through the API."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import actor_for_user
from audit.tests.helpers import events, head_seq
from segments.attributes import contact_phi_attributes
from segments.dictionary import attribute_define
from segments.models import Contact
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact, make_token

pytestmark = pytest.mark.django_db

LIST = "api:segments_api:contact_list"


def _bearer(world, scopes, tenant="a", role=Role.ADMIN):
    fixture = getattr(world, tenant)
    issued = make_token(fixture.tenant, fixture.users[role], scopes=scopes)
    return {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}


def _post(client, url, payload, headers):
    return client.post(url, json.dumps(payload), content_type="application/json", **headers)


def _dictionary(world):
    tenant = world.a.tenant
    actor = actor_for_user(world.a.users[Role.ADMIN])
    with tenant_context(tenant):
        attribute_define(tenant=tenant, actor=actor, key="plan", type="choice", choices=["Gold", "Silver"])
        attribute_define(tenant=tenant, actor=actor, key="diagnosis", type="text", is_phi=True)


def _contact_events(tenant, seq):
    return [event for event in events(tenant, seq) if event[0].startswith("contact.")]


def _get(tenant, pk):
    with tenant_context(tenant):
        return Contact.objects.for_tenant(tenant).get(pk=pk)


def test_create_normalises_validates_and_audits_field_names_only(world, client):
    _dictionary(world)
    seq = head_seq(world.a.tenant)
    payload = {
        "email": "  Synthetic.Patient@EXAMPLE.com ",
        "first_name": "Synthfirst",
        "external_id": "MRN-SYN-1",
        "language": "pt-BR",
        "time_zone": "Europe/Lisbon",
        "tags": ["Diabetes", "newsletter"],
        "attributes": {"plan": "gold", "diagnosis": "Synthetic-condition"},
    }
    response = _post(client, reverse(LIST), payload, _bearer(world, ["contacts:write"]))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "Synthetic.Patient@example.com"
    assert body["tags"] == ["diabetes", "newsletter"] and body["attributes"] == {"plan": "Gold"}
    assert "diagnosis" not in json.dumps(body["attributes"])
    contact = _get(world.a.tenant, body["id"])
    with tenant_context(world.a.tenant):
        assert contact_phi_attributes(contact) == {"diagnosis": "Synthetic-condition"}
    fields = [
        "attributes.diagnosis",
        "attributes.plan",
        "email",
        "external_id",
        "first_name",
        "language",
        "tags",
        "time_zone",
    ]
    assert _contact_events(world.a.tenant, seq) == [("contact.created", {"fields": fields})]
    # PHI never in the audit log, whatever the action.
    with tenant_context(world.a.tenant):
        stored = " ".join(AuditEvent.objects.filter(chain_id=world.a.tenant.pk).values_list("details", flat=True))
    for secret in ("Synthetic.Patient", "Synthfirst", "MRN-SYN-1", "Synthetic-condition"):
        assert secret not in stored


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "ok@example.com", "time_zone": "Mars/Olympus"}, "time_zone"),
        ({"email": "ok@example.com", "language": "en us!"}, "language"),
        ({"email": "ok@example.com", "tags": ["bad<tag>"]}, "tags"),
        ({"email": "ok@example.com", "attributes": {"plan": "Platinum"}}, "attributes.plan"),
        ({"email": "ok@example.com", "attributes": {"unknown": "x"}}, "attributes.unknown"),
        ({"email": "ok@example.com", "match_on": "first_name"}, "match_on"),
    ],
)
def test_bad_input_is_a_structured_400_naming_the_field_and_changes_nothing(world, client, payload, field):
    _dictionary(world)
    response = _post(client, reverse(LIST), payload, _bearer(world, ["contacts:write"]))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"], error
    assert "Platinum" not in response.content.decode() and "not-an-email" not in response.content.decode()
    with tenant_context(world.a.tenant):
        assert not Contact.objects.for_tenant(world.a.tenant).exists()


def test_duplicate_email_is_refused_on_create(world, client):
    make_contact(world.a.tenant, email="dup@example.com")
    response = _post(client, reverse(LIST), {"email": "DUP@Example.com"}, _bearer(world, ["contacts:write"]))
    assert response.status_code == 400 and "email" in response.json()["error"]["fields"]


def test_writes_need_the_write_scope(world, client):
    response = _post(client, reverse(LIST), {"email": "x@example.com"}, _bearer(world, ["contacts:read"]))
    assert response.status_code == 403 and response.json()["error"]["code"] == "insufficient_scope"
    contact = make_contact(world.a.tenant)
    url = reverse("api:segments_api:contact_detail", kwargs={"contact_id": contact.pk})
    response = client.patch(
        url, {"first_name": "X"}, content_type="application/json", **_bearer(world, ["contacts:read"])
    )
    assert response.status_code == 403


def test_compliance_officer_session_cannot_write(world, login):
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    assert client.get(reverse(LIST)).status_code == 200
    response = client.post(reverse(LIST), {"email": "x@example.com"}, content_type="application/json")
    assert response.status_code == 403


def test_update_changes_only_what_is_given_and_audits_changed_names(world, client):
    _dictionary(world)
    contact = make_contact(world.a.tenant, first_name="Before", language="en")
    url = reverse("api:segments_api:contact_detail", kwargs={"contact_id": contact.pk})
    seq = head_seq(world.a.tenant)
    response = client.patch(
        url,
        {"first_name": "After", "language": "en", "attributes": {"diagnosis": "Synthetic-x"}},
        content_type="application/json",
        **_bearer(world, ["contacts:write"]),
    )
    assert response.status_code == 200 and response.json()["first_name"] == "After"
    updated = _get(world.a.tenant, contact.pk)
    with tenant_context(world.a.tenant):
        assert updated.email == contact.email and contact_phi_attributes(updated) == {"diagnosis": "Synthetic-x"}
    assert updated.last_activity_at > contact.last_activity_at
    assert _contact_events(world.a.tenant, seq) == [
        ("contact.updated", {"fields": ["attributes.diagnosis", "first_name"]})
    ]


def test_update_of_another_tenants_contact_is_404_and_changes_nothing(world, client):
    contact = make_contact(world.a.tenant, first_name="Untouched")
    url = reverse("api:segments_api:contact_detail", kwargs={"contact_id": contact.pk})
    headers = _bearer(world, ["contacts:write"], tenant="b")
    assert client.patch(url, {"first_name": "X"}, content_type="application/json", **headers).status_code == 404
    with tenant_context(world.a.tenant):
        assert _get(world.a.tenant, contact.pk).first_name == "Untouched"


def test_upsert_by_external_id_updates_then_creates_with_the_key_in_the_body(world, client):
    existing = make_contact(world.a.tenant, external_id="MRN-UPSERT-1", first_name="Old")
    headers = _bearer(world, ["contacts:write"])
    payload = {"match_on": "external_id", "external_id": "MRN-UPSERT-1", "first_name": "New"}
    seq = head_seq(world.a.tenant)
    response = _post(client, reverse(LIST), payload, headers)
    assert response.status_code == 200 and response.json()["id"] == str(existing.pk)
    with tenant_context(world.a.tenant):
        assert _get(world.a.tenant, existing.pk).first_name == "New"
    response = _post(
        client,
        reverse(LIST),
        {"match_on": "external_id", "external_id": "MRN-UPSERT-2", "email": "new.synthetic@example.com"},
        headers,
    )
    assert response.status_code == 201 and response.json()["id"] != str(existing.pk)
    assert [action for action, _ in _contact_events(world.a.tenant, seq)] == ["contact.updated", "contact.created"]


def test_upsert_by_email_matches_case_insensitively_on_the_domain(world, client):
    existing = make_contact(world.a.tenant, email="match.me@example.com", last_name="Old")
    payload = {"match_on": "email", "email": "match.me@EXAMPLE.COM", "last_name": "New"}
    response = _post(client, reverse(LIST), payload, _bearer(world, ["contacts:write"]))
    assert response.status_code == 200 and response.json()["id"] == str(existing.pk)


def test_upsert_without_the_match_key_is_a_400_naming_it(world, client):
    response = _post(
        client, reverse(LIST), {"match_on": "external_id", "email": "a@example.com"}, _bearer(world, ["contacts:write"])
    )
    assert response.status_code == 400 and "external_id" in response.json()["error"]["fields"]


def test_upsert_never_matches_another_tenants_contact(world, client):
    make_contact(world.a.tenant, external_id="MRN-SHARED")
    payload = {"match_on": "external_id", "external_id": "MRN-SHARED", "email": "b.synthetic@example.com"}
    response = _post(client, reverse(LIST), payload, _bearer(world, ["contacts:write"], tenant="b"))
    assert response.status_code == 201
    with tenant_context(world.a.tenant):
        assert Contact.objects.for_tenant(world.a.tenant).count() == 1


def test_search_is_a_post_and_a_search_in_the_url_is_refused(world, client):
    wanted = make_contact(world.a.tenant, email="api.search.synthetic@example.com", external_id="MRN-API-1")
    make_contact(world.b.tenant, email="api.search.synthetic@example.com", external_id="MRN-API-1")
    headers = _bearer(world, ["contacts:read"], role=Role.MARKETER)
    refused = client.get(reverse(LIST), {"q": "MRN-API-1"}, **headers)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "search_in_url"
    assert "MRN-API-1" not in refused.content.decode()
    search = reverse("api:segments_api:contact_search")
    for query in ("MRN-API-1", " API.SEARCH.SYNTHETIC@example.com"):
        found = _post(client, search, {"q": query}, headers)
        assert found.status_code == 200, found.content
        assert [item["id"] for item in found.json()["results"]] == [str(wanted.pk)]  # tenant A's only
    assert _post(client, search, {"q": "nobody@example.com"}, headers).json() == {"results": []}
    assert _post(client, search, {}, headers).status_code == 400
    assert _post(client, search, {"q": "MRN-API-1"}, _bearer(world, ["audit:read"])).status_code == 403
