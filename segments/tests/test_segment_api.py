"""Saved segments and counting in the API."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.services import actor_for_user
from audit.tests.helpers import actions, events, head_seq
from segments.models import Segment
from segments.segment_services import segment_create
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact, make_token

pytestmark = pytest.mark.django_db

VIP = {"all": [{"field": "tag", "op": "has_tag", "value": "vip"}]}
LIST = reverse("api:segments_api:segment_list")
COUNT = reverse("api:segments_api:segment_count")


def _detail(segment_id) -> str:
    return reverse("api:segments_api:segment_detail", kwargs={"segment_id": segment_id})


def _auth(world, tenant_key="a", scopes=("contacts:read", "contacts:write")) -> dict[str, str]:
    fixture = getattr(world, tenant_key)
    issued = make_token(fixture.tenant, fixture.users[Role.ADMIN], scopes=list(scopes))
    return {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}


def _segment(world, rules=None) -> Segment:
    user = world.a.users[Role.MARKETER]
    with tenant_context(world.a.tenant):
        return segment_create(
            tenant=world.a.tenant, actor=actor_for_user(user), created_by=user, name="VIPs", rules=rules or VIP
        )


def _stored(world, segment_id):
    with tenant_context(world.a.tenant):
        return Segment.objects.for_tenant(world.a.tenant).filter(pk=segment_id).first()


def test_create_get_update_delete(world, client):
    auth = _auth(world)
    seq = head_seq(world.a.tenant)
    created = client.post(LIST, {"name": "VIPs", "rules": VIP}, content_type="application/json", **auth)
    assert created.status_code == 201, created.content
    segment_id = created.json()["id"]
    assert created.json()["rules"] == VIP
    assert _stored(world, segment_id).created_by == world.a.users[Role.ADMIN]  # the application's registrant
    assert [row["id"] for row in client.get(LIST, **auth).json()] == [segment_id]
    assert client.get(_detail(segment_id), **auth).json()["name"] == "VIPs"
    french = {"none": [{"field": "language", "op": "eq", "value": "fr"}]}
    patched = client.patch(_detail(segment_id), {"rules": french}, content_type="application/json", **auth)
    assert patched.status_code == 200 and patched.json()["rules"] == french
    assert client.delete(_detail(segment_id), **auth).status_code == 204
    assert _stored(world, segment_id) is None
    assert client.get(_detail(segment_id), **auth).status_code == 404
    audit = [(action, details) for action, details in events(world.a.tenant, seq) if action.startswith("segment.")]
    assert audit == [
        ("segment.created", {"conditions": 1}),
        ("segment.updated", {"fields": ["rules"], "conditions": 1}),
        ("segment.deleted", {}),
    ]


def test_count_of_a_rule_tree(world, client):
    make_contact(world.a.tenant, tags={"vip": True}, language="fr")
    make_contact(world.a.tenant, tags={"vip": True}, language="en")
    make_contact(world.a.tenant, language="fr")
    make_contact(world.b.tenant, tags={"vip": True})  # another tenant's never counts
    auth = _auth(world, scopes=["contacts:read"])
    rules = {"all": [*VIP["all"], {"none": [{"field": "language", "op": "eq", "value": "en"}]}]}
    response = client.post(COUNT, {"rules": rules}, content_type="application/json", **auth)
    assert response.status_code == 200
    assert response.json() == {"count": 1}
    assert client.post(COUNT, {"rules": VIP}, content_type="application/json", **auth).json() == {"count": 2}
    assert client.get(COUNT, **auth).json() == {"count": 3}


@pytest.mark.parametrize(
    ("rules", "path"),
    [
        ({"all": [VIP["all"][0], {"field": "language", "op": "gt", "value": "en"}]}, "rules.all[1].op"),
        ({"any": [{"all": [{"field": "attr.missing", "op": "eq", "value": 1}]}]}, "rules.any[0].all[0].field"),
        ({"all": [{"field": "created_at", "op": "within_last_days", "value": "ten"}]}, "rules.all[0].value"),
        ({"most": []}, "rules"),
        ([1, 2], "rules"),
    ],
)
def test_invalid_rule_tree_is_a_structured_400_naming_the_node(world, client, rules, path):
    auth = _auth(world)
    for url in (COUNT, LIST):
        response = client.post(url, {"name": "Bad", "rules": rules}, content_type="application/json", **auth)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "invalid_rules"
        assert path in [problem["path"] for problem in error["fields"]["rules"]]
        assert all(set(problem) == {"path", "message"} for problem in error["fields"]["rules"])
        assert "request_id" in error
    with tenant_context(world.a.tenant):
        assert not Segment.objects.for_tenant(world.a.tenant).exists()


def test_invalid_rules_on_update_change_nothing(world, client):
    segment = _segment(world)
    seq = head_seq(world.a.tenant)
    response = client.patch(
        _detail(segment.pk), {"rules": {"all": [{"field": "tag"}]}}, content_type="application/json", **_auth(world)
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["rules"][0]["path"] == "rules.all[0].op"
    assert _stored(world, segment.pk).rules == VIP
    assert "segment.updated" not in actions(world.a.tenant, seq)


def test_writing_needs_contacts_write_reading_needs_contacts_read(world, client):
    segment = _segment(world)
    read_only = _auth(world, scopes=["contacts:read"])
    assert client.get(LIST, **read_only).status_code == 200
    refused = client.post(LIST, {"name": "X", "rules": VIP}, content_type="application/json", **read_only)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
    assert client.delete(_detail(segment.pk), **read_only).status_code == 403
    write_only = _auth(world, scopes=["contacts:write"])
    assert client.get(LIST, **write_only).status_code == 403
    assert client.post(COUNT, {"rules": VIP}, content_type="application/json", **write_only).status_code == 403
    assert _stored(world, segment.pk) is not None


def test_other_tenants_token_gets_404_for_every_segment_operation(world, client):
    segment = _segment(world)
    auth = _auth(world, tenant_key="b")
    url = _detail(segment.pk)
    assert client.get(url, **auth).status_code == 404
    assert client.patch(url, {"name": "Hijack"}, content_type="application/json", **auth).status_code == 404
    assert client.delete(url, **auth).status_code == 404
    assert client.get(LIST, **auth).json() == []
    assert _stored(world, segment.pk).name == "VIPs"


def test_session_members_compliance_reads_marketer_writes(world, login):
    segment = _segment(world)
    compliance = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    assert compliance.get(_detail(segment.pk)).status_code == 200
    assert compliance.delete(_detail(segment.pk)).status_code == 403
    marketer = login(world.a.users[Role.MARKETER], world.a.tenant)
    assert marketer.delete(_detail(segment.pk)).status_code == 204


def test_list_queries_do_not_grow_with_the_number_of_segments(world, client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(LIST, **auth).status_code == 200
        return len(captured)

    auth = _auth(world)
    _segment(world)
    queries_for_list()  # the token's first use writes more (last-used stamp, audit)
    one = queries_for_list()
    for _ in range(5):
        _segment(world)
    assert queries_for_list() == one
