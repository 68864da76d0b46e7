"""Saved segments: services and web pages (builder, live count, masked sample)."""

from __future__ import annotations

import json

import pytest
from django.http import Http404
from django.urls import reverse

from audit.services import actor_for_user
from audit.tests.helpers import actions, events, head_seq
from segments.dictionary import attribute_define
from segments.models import Segment
from segments.rules import InvalidRules
from segments.segment_services import segment_create, segment_delete, segment_get, segment_update
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db

VIP = {"all": [{"field": "tag", "op": "has_tag", "value": "vip"}]}


def _segment(world, tenant_key="a", name="VIPs", rules=None) -> Segment:
    fixture = getattr(world, tenant_key)
    user = fixture.users[Role.MARKETER]
    with tenant_context(fixture.tenant):
        return segment_create(
            tenant=fixture.tenant, actor=actor_for_user(user), created_by=user, name=name, rules=rules or VIP
        )


def _stored(world, segment_id):
    with tenant_context(world.a.tenant):
        return Segment.objects.for_tenant(world.a.tenant).filter(pk=segment_id).first()


# --- Services -----------------------------------------------------------------------------------


def test_create_update_delete_are_audited_with_ids_and_counts_only(world):
    seq = head_seq(world.a.tenant)
    segment = _segment(world)
    actor = actor_for_user(world.a.users[Role.MARKETER])
    two = {"any": [*VIP["all"], {"field": "language", "op": "eq", "value": "fr"}]}
    with tenant_context(world.a.tenant):
        segment = segment_update(tenant=world.a.tenant, actor=actor, segment=segment, rules=two)
        segment_update(tenant=world.a.tenant, actor=actor, segment=segment, rules=two)  # no change, no event
        segment_delete(tenant=world.a.tenant, actor=actor, segment=segment)
    assert events(world.a.tenant, seq) == [
        ("segment.created", {"conditions": 1}),
        ("segment.updated", {"fields": ["rules"], "conditions": 2}),
        ("segment.deleted", {}),
    ]
    assert _stored(world, segment.pk) is None


def test_invalid_rules_are_refused_and_nothing_is_written(world):
    seq = head_seq(world.a.tenant)
    with pytest.raises(InvalidRules) as refused:
        _segment(world, rules={"all": [{"field": "tag", "op": "has_tag", "value": "vip"}, {"field": "nope"}]})
    assert [error.path for error in refused.value.errors] == ["rules.all[1].field"]
    with tenant_context(world.a.tenant):
        assert not Segment.objects.for_tenant(world.a.tenant).exists()
    assert actions(world.a.tenant, seq) == []


def test_segment_get_is_404_for_another_tenants_segment(world):
    segment = _segment(world)
    with tenant_context(world.b.tenant), pytest.raises(Http404):
        segment_get(tenant=world.b.tenant, segment_id=segment.pk)


# --- Pages --------------------------------------------------------------------------------------


def test_list_shows_saved_segments_with_live_counts(world, login):
    make_contact(world.a.tenant, tags={"vip": True})
    make_contact(world.a.tenant, tags={"vip": True})
    make_contact(world.a.tenant)
    _segment(world)
    response = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant).get(reverse("segments:segment_list"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "VIPs" in body
    assert "<span data-segment-count>2</span>" in body
    assert "New segment" not in body  # compliance officers only view


def test_marketer_creates_a_segment_from_the_builder(world, login):
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    assert client.get(reverse("segments:segment_create")).status_code == 200
    seq = head_seq(world.a.tenant)
    response = client.post(
        reverse("segments:segment_create"),
        {"name": "French", "rules": json.dumps({"all": [{"field": "language", "op": "eq", "value": "fr"}]})},
    )
    assert response.status_code == 302
    with tenant_context(world.a.tenant):
        segment = Segment.objects.for_tenant(world.a.tenant).get()
    assert response["Location"] == reverse("segments:segment_detail", kwargs={"segment_id": segment.pk})
    assert segment.name == "French" and segment.created_by == world.a.users[Role.MARKETER]
    assert actions(world.a.tenant, seq) == ["segment.created"]


def test_invalid_tree_on_save_shows_the_error_by_its_node_and_saves_nothing(world, login):
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    bad = {"all": [{"field": "language", "op": "eq", "value": "fr"}, {"field": "tag", "op": "gt", "value": 3}]}
    response = client.post(reverse("segments:segment_create"), {"name": "Bad", "rules": json.dumps(bad)})
    assert response.status_code == 400
    assert 'data-rule-path="rules.all[1].op"' in response.content.decode()
    with tenant_context(world.a.tenant):
        assert not Segment.objects.for_tenant(world.a.tenant).exists()


def test_malformed_json_is_a_clear_error(world, login):
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    response = client.post(reverse("segments:segment_create"), {"name": "Bad", "rules": "{not json"})
    assert response.status_code == 400
    assert "not valid JSON" in response.content.decode()


def test_marketer_updates_and_deletes(world, login):
    segment = _segment(world)
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    url = reverse("segments:segment_detail", kwargs={"segment_id": segment.pk})
    seq = head_seq(world.a.tenant)
    response = client.post(url, {"name": "Very important", "description": "", "rules": json.dumps(VIP)})
    assert response.status_code == 302
    assert _stored(world, segment.pk).name == "Very important"
    delete_url = reverse("segments:segment_delete", kwargs={"segment_id": segment.pk})
    assert client.get(delete_url).status_code == 200
    assert client.post(delete_url).status_code == 302
    assert _stored(world, segment.pk) is None
    assert events(world.a.tenant, seq) == [
        ("segment.updated", {"fields": ["name"], "conditions": 1}),
        ("segment.deleted", {}),
    ]


def test_compliance_officer_views_but_cannot_change(world, login):
    segment = _segment(world)
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    url = reverse("segments:segment_detail", kwargs={"segment_id": segment.pk})
    page = client.get(url)
    assert page.status_code == 200
    assert "Save segment" not in page.content.decode()
    assert client.post(url, {"name": "Hijack", "rules": json.dumps(VIP)}).status_code == 403
    assert client.post(reverse("segments:segment_create"), {"name": "X", "rules": json.dumps(VIP)}).status_code == 403
    assert client.post(reverse("segments:segment_delete", kwargs={"segment_id": segment.pk})).status_code == 403
    assert _stored(world, segment.pk).name == "VIPs"


def test_other_tenant_gets_404_for_every_segment_page(world, login):
    segment = _segment(world)
    client = login(world.b.users[Role.ADMIN], world.b.tenant)
    for name in ("segments:segment_detail", "segments:segment_delete"):
        url = reverse(name, kwargs={"segment_id": segment.pk})
        assert client.get(url).status_code == 404
        assert client.post(url, {"name": "Hijack", "rules": json.dumps(VIP)}).status_code == 404
    assert _stored(world, segment.pk).name == "VIPs"


def test_preview_shows_count_and_masked_sample_only(world, login):
    for n in range(12):
        make_contact(
            world.a.tenant,
            first_name="Zelda",
            last_name=f"Quillfeather{n}",
            email=f"zq{n}@clinic.example",
            tags={"vip": True},
        )
    make_contact(world.a.tenant, first_name="Other", last_name="Person")
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    seq = head_seq(world.a.tenant)
    response = client.post(reverse("segments:segment_preview"), {"rules": json.dumps(VIP)})
    assert response.status_code == 200
    body = response.content.decode()
    assert '<span class="stat-value" data-segment-count>12</span>' in body
    assert body.count("Z. Q.") == 10  # ten sample rows, initials only
    assert "z•••@clinic.example" in body
    for plaintext in ("Zelda", "Quillfeather", "zq0@", "zq1@clinic.example", "EXT-"):
        assert plaintext not in body
    [(action, details)] = events(world.a.tenant, seq)
    assert action == "contact.list_viewed" and details["revealed"] is False and len(details["contact_ids"]) == 10


def test_preview_names_the_bad_node(world, login):
    with tenant_context(world.a.tenant):
        attribute_define(
            tenant=world.a.tenant,
            actor=actor_for_user(world.a.users[Role.ADMIN]),
            key="diagnosis",
            type="text",
            is_phi=True,
        )
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    rules = {"all": [{"any": [{"field": "attr.diagnosis", "op": "contains", "value": "x"}]}]}
    response = client.post(reverse("segments:segment_preview"), {"rules": json.dumps(rules)})
    body = response.content.decode()
    assert 'data-rule-path="rules.all[0].any[0].op"' in body
    assert "data-segment-count" not in body


def test_builder_page_without_js_shows_saved_rules_and_preview(world, login):
    make_contact(world.a.tenant, tags={"vip": True})
    segment = _segment(world)
    body = (
        login(world.a.users[Role.MARKETER], world.a.tenant)
        .get(reverse("segments:segment_detail", kwargs={"segment_id": segment.pk}))
        .content.decode()
    )
    assert "has_tag" in body  # the JSON editor holds the rules
    assert "data-segment-count>1<" in body
    assert 'id="segment-catalogue"' in body and "<script src=" in body
    assert "<style" not in body


def test_nav_has_segments_for_every_role(world, login):
    for role in Role:
        body = login(world.a.users[role], world.a.tenant).get(reverse("segments:segment_list")).content.decode()
        assert f'href="{reverse("segments:segment_list")}"' in body
