"""The data dictionary: services, pages and API."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.services import actor_for_user
from audit.tests.helpers import events, head_seq
from segments.attributes import contact_attributes_apply, contact_phi_attributes, dictionary_for
from segments.dictionary import (
    DeleteStep,
    DictionaryError,
    attribute_define,
    attribute_delete,
    attribute_delete_step,
    attribute_update,
)
from segments.models import AttributeDefinition, Contact, ContactIndex
from segments.search_index import TermMaker, attribute_term
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact, make_token

pytestmark = pytest.mark.django_db


def _define(world, **fields):
    tenant = world.a.tenant
    values = {"key": "plan", "type": "text"} | fields
    with tenant_context(tenant):
        return attribute_define(tenant=tenant, actor=actor_for_user(world.a.users[Role.ADMIN]), **values)


def _delete_values(tenant, definition):
    """What the queued task does (segments.tasks.attribute_delete_task), batch after batch."""
    while attribute_delete_step(tenant=tenant, definition_id=definition.pk) != DeleteStep.DONE:
        pass


def _set(tenant, contact, values):
    with tenant_context(tenant):
        contact = Contact.objects.for_tenant(tenant).get(pk=contact.pk)
        contact_attributes_apply(contact=contact, values=values, dictionary=dictionary_for(tenant=tenant))
        contact.save()
    return contact


def test_define_is_audited_with_key_type_and_phi_flag(world):
    seq = head_seq(world.a.tenant)
    definition = _define(world, key="next_visit", type="date", is_phi=True, description="Next appointment")
    assert definition.label == "Next visit"
    assert events(world.a.tenant, seq) == [("attribute.defined", {"key": "next_visit", "type": "date", "is_phi": True})]


@pytest.mark.parametrize("key", ["email", "tags", "external_id", "time_zone", "Bad Key", "1st", "x" * 65, ""])
def test_reserved_and_malformed_keys_are_refused(world, key):
    with pytest.raises(DictionaryError) as refused:
        _define(world, key=key)
    assert refused.value.field == "key"
    with tenant_context(world.a.tenant):
        assert not AttributeDefinition.objects.for_tenant(world.a.tenant).exists()


def test_keys_are_unique_per_tenant_not_globally(world):
    _define(world, key="plan")
    with pytest.raises(DictionaryError, match="already exists"):
        _define(world, key="plan")
    with tenant_context(world.b.tenant):
        other = attribute_define(
            tenant=world.b.tenant, actor=actor_for_user(world.b.users[Role.ADMIN]), key="plan", type="number"
        )
    assert other.type == "number"


def test_choice_attributes_need_choices_and_others_refuse_them(world):
    with pytest.raises(DictionaryError, match="at least one choice"):
        _define(world, key="tier", type="choice", choices=[])
    with pytest.raises(DictionaryError, match="Only choice"):
        _define(world, key="tier", type="text", choices=["a"])
    definition = _define(world, key="tier", type="choice", choices=["Gold", "gold", " Silver "])
    assert definition.choices == ["Gold", "Silver"]


def test_type_and_phi_flag_change_freely_while_no_contact_has_a_value(world):
    definition = _define(world, key="score", type="text")
    with tenant_context(world.a.tenant):
        attribute_update(
            tenant=world.a.tenant,
            actor=actor_for_user(world.a.users[Role.ADMIN]),
            definition=definition,
            type="number",
            is_phi=True,
        )
        definition.refresh_from_db()
    assert (definition.type, definition.is_phi) == ("number", True)


@pytest.mark.parametrize("is_phi", [False, True])
def test_type_and_phi_flag_are_fixed_once_a_contact_has_a_value_and_the_error_says_why(world, is_phi):
    definition = _define(world, key="score", type="number", is_phi=is_phi)
    _set(world.a.tenant, make_contact(world.a.tenant), {"score": 7})
    actor = actor_for_user(world.a.users[Role.ADMIN])
    seq = head_seq(world.a.tenant)
    with tenant_context(world.a.tenant):
        for change in ({"type": "text"}, {"is_phi": not is_phi}):
            with pytest.raises(DictionaryError, match="already have values") as refused:
                attribute_update(tenant=world.a.tenant, actor=actor, definition=definition, **change)
            assert refused.value.field == next(iter(change))
        # Label and description still change.
        attribute_update(tenant=world.a.tenant, actor=actor, definition=definition, label="Risk score")
    assert events(world.a.tenant, seq) == [("attribute.updated", {"key": "score", "fields": ["label"]})]


def test_choices_can_be_added_not_removed(world):
    definition = _define(world, key="tier", type="choice", choices=["Gold"])
    actor = actor_for_user(world.a.users[Role.ADMIN])
    with tenant_context(world.a.tenant):
        attribute_update(tenant=world.a.tenant, actor=actor, definition=definition, choices=["Gold", "Silver"])
        with pytest.raises(DictionaryError, match="added, not removed"):
            attribute_update(tenant=world.a.tenant, actor=actor, definition=definition, choices=["Silver"])
        definition.refresh_from_db()
    assert definition.choices == ["Gold", "Silver"]


def test_deleting_an_attribute_with_values_needs_confirmation_then_removes_them_phi_included(world):
    tenant = world.a.tenant
    plain = _define(world, key="plan", type="text")
    secret = _define(world, key="diagnosis", type="text", is_phi=True)
    _define(world, key="kept", type="text", is_phi=True)
    one = _set(tenant, make_contact(tenant), {"plan": "gold", "diagnosis": "Synthetic-condition", "kept": "k"})
    two = _set(tenant, make_contact(tenant), {"diagnosis": "Other-synthetic"})
    make_contact(tenant)
    actor = actor_for_user(world.a.users[Role.ADMIN])
    with tenant_context(tenant):
        with pytest.raises(DictionaryError, match="confirm"):
            attribute_delete(tenant=tenant, actor=actor, definition=secret)
        assert AttributeDefinition.objects.for_tenant(tenant).filter(pk=secret.pk).exists()
        seq = head_seq(tenant)
        assert attribute_delete(tenant=tenant, actor=actor, definition=secret, confirm=True).is_deleting
        assert attribute_delete(tenant=tenant, actor=actor, definition=plain, confirm=True).is_deleting
    for definition in (secret, plain):
        _delete_values(tenant, definition)
    with tenant_context(tenant):
        one, two = (Contact.objects.for_tenant(tenant).get(pk=c.pk) for c in (one, two))
        assert contact_phi_attributes(one) == {"kept": "k"} and one.attributes == {}
        assert two.phi_attributes is None
        # The search index forgot both attributes' values too.
        maker = TermMaker(tenant)
        gone = {attribute_term(maker, key, "set", "1") for key in ("diagnosis", "plan")}
        for contact in (one, two):
            assert not gone & set(ContactIndex.objects.for_tenant(tenant).get(contact=contact).terms)
        assert (
            attribute_term(maker, "kept", "set", "1") in ContactIndex.objects.for_tenant(tenant).get(contact=one).terms
        )
        assert set(AttributeDefinition.objects.for_tenant(tenant).values_list("key", flat=True)) == {"kept"}
    assert events(tenant, seq) == [
        ("attribute.delete_started", {"key": "diagnosis", "is_phi": True}),
        ("attribute.delete_started", {"key": "plan", "is_phi": False}),
        ("attribute.deleted", {"key": "diagnosis", "is_phi": True, "values_removed": 2}),
        ("attribute.deleted", {"key": "plan", "is_phi": False, "values_removed": 1}),
    ]


# --- Pages -----------------------------------------------------------------------------------


def test_everyone_reads_the_dictionary_only_admins_see_change_links(world, login):
    _define(world, key="next_visit", type="date", is_phi=True, description="Synthetic description")
    body = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant).get(reverse("segments:attribute_list"))
    text = body.content.decode()
    assert "next_visit" in text and "PHI" in text and "Synthetic description" in text
    assert reverse("segments:attribute_create") not in text
    admin = login(world.a.users[Role.ADMIN], world.a.tenant)
    assert reverse("segments:attribute_create") in admin.get(reverse("segments:attribute_list")).content.decode()


def test_admin_creates_edits_and_deletes_through_the_pages(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    response = client.post(
        reverse("segments:attribute_create"),
        {"key": "tier", "label": "Tier", "type": "choice", "choices": "Gold\nSilver", "description": ""},
    )
    assert response.status_code == 302
    with tenant_context(world.a.tenant):
        definition = AttributeDefinition.objects.for_tenant(world.a.tenant).get(key="tier")
    assert definition.choices == ["Gold", "Silver"]
    refused = client.post(reverse("segments:attribute_create"), {"key": "email", "type": "text"})
    assert refused.status_code == 200 and "contact field of its own" in refused.content.decode()

    edit = reverse("segments:attribute_edit", kwargs={"attribute_id": definition.pk})
    assert (
        client.post(
            edit, {"key": "ignored", "label": "Loyalty tier", "type": "choice", "choices": "Gold\nSilver\nBronze"}
        ).status_code
        == 302
    )
    with tenant_context(world.a.tenant):
        definition.refresh_from_db()
    assert (definition.key, definition.label, definition.choices) == (
        "tier",
        "Loyalty tier",
        ["Gold", "Silver", "Bronze"],
    )

    _set(world.a.tenant, make_contact(world.a.tenant), {"tier": "Gold"})
    page = client.get(edit).content.decode()
    assert "type and PHI flag are fixed" in page
    delete = reverse("segments:attribute_delete", kwargs={"attribute_id": definition.pk})
    unconfirmed = client.post(delete)
    assert unconfirmed.status_code == 200 and "confirm" in unconfirmed.content.decode()
    assert client.post(delete, {"confirm": "yes"}).status_code == 302
    _delete_values(world.a.tenant, definition)  # the task queued on commit
    with tenant_context(world.a.tenant):
        assert not AttributeDefinition.objects.for_tenant(world.a.tenant).exists()


@pytest.mark.parametrize("role", [Role.MARKETER, Role.COMPLIANCE_OFFICER])
def test_only_admins_change_the_dictionary(world, login, role):
    client = login(world.a.users[role], world.a.tenant, step_up=True)
    assert client.post(reverse("segments:attribute_create"), {"key": "tier", "type": "text"}).status_code == 403
    with tenant_context(world.a.tenant):
        assert not AttributeDefinition.objects.for_tenant(world.a.tenant).exists()


def test_other_tenants_admin_cannot_edit_or_delete(world, login):
    definition = _define(world, key="plan")
    client = login(world.b.users[Role.ADMIN], world.b.tenant, step_up=True)
    for name in ("segments:attribute_edit", "segments:attribute_delete"):
        url = reverse(name, kwargs={"attribute_id": definition.pk})
        assert client.post(url, {"label": "Changed", "type": "text", "confirm": "yes"}).status_code == 404
    with tenant_context(world.a.tenant):
        assert AttributeDefinition.objects.for_tenant(world.a.tenant).get(pk=definition.pk).label == "Plan"


# --- API -------------------------------------------------------------------------------------


def _bearer(world, scopes, tenant="a"):
    fixture = getattr(world, tenant)
    issued = make_token(fixture.tenant, fixture.users[Role.ADMIN], scopes=scopes)
    return {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}


def test_api_lists_with_read_scope_and_creates_only_with_write_scope(world, client):
    _define(world, key="plan")
    url = reverse("api:segments_api:attribute_list")
    read = _bearer(world, ["contacts:read"])
    assert [row["key"] for row in client.get(url, **read).json()] == ["plan"]
    payload = {"key": "next_visit", "type": "date", "is_phi": True}
    refused = client.post(url, payload, content_type="application/json", **read)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
    seq = head_seq(world.a.tenant)
    created = client.post(url, payload, content_type="application/json", **_bearer(world, ["contacts:write"]))
    assert created.status_code == 201 and created.json()["is_phi"] is True
    assert ("attribute.defined", {"key": "next_visit", "type": "date", "is_phi": True}) in events(world.a.tenant, seq)


def test_api_bad_input_is_a_structured_400_naming_the_field(world, client):
    url = reverse("api:segments_api:attribute_list")
    write = _bearer(world, ["contacts:write"])
    for payload, field in (({"key": "email", "type": "text"}, "key"), ({"key": "x", "type": "colour"}, "type")):
        response = client.post(url, payload, content_type="application/json", **write)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid" and field in response.json()["error"]["fields"]


def test_api_update_refuses_a_type_change_once_values_exist(world, client):
    definition = _define(world, key="score", type="number")
    _set(world.a.tenant, make_contact(world.a.tenant), {"score": 3})
    url = reverse("api:segments_api:attribute_detail", kwargs={"attribute_id": definition.pk})
    write = _bearer(world, ["contacts:write"])
    response = client.patch(url, {"type": "text"}, content_type="application/json", **write)
    assert response.status_code == 400 and "type" in response.json()["error"]["fields"]
    response = client.patch(url, {"description": "Synthetic"}, content_type="application/json", **write)
    assert response.status_code == 200 and response.json()["description"] == "Synthetic"


def test_api_update_of_another_tenants_attribute_is_404(world, client):
    definition = _define(world, key="plan")
    url = reverse("api:segments_api:attribute_detail", kwargs={"attribute_id": definition.pk})
    response = client.patch(
        url, {"label": "X"}, content_type="application/json", **_bearer(world, ["contacts:write"], "b")
    )
    assert response.status_code == 404


def test_marketer_session_reads_but_cannot_define_through_the_api(world, login):
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    url = reverse("api:segments_api:attribute_list")
    assert client.get(url).status_code == 200
    assert client.post(url, {"key": "plan", "type": "text"}, content_type="application/json").status_code == 403
