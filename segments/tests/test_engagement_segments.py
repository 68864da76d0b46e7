"""Engagement conditions (``engagement.opened`` / ``engagement.clicked`` in the last N days) in
the API, the builder and its preview: counted from reporting's ContactEngagement, a bad N is a
structured 400 naming the node, and another organisation sees nothing of it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.services import actor_for_user
from reporting.models import ContactEngagement
from segments.models import Segment
from segments.segment_services import builder_catalogue, segment_create
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact, make_token

pytestmark = pytest.mark.django_db

LIST = reverse("api:segments_api:segment_list")
COUNT = reverse("api:segments_api:segment_count")
OPENED_7 = {"all": [{"field": "engagement.opened", "op": "within_last_days", "value": 7}]}
NOT_OPENED_7 = {"none": OPENED_7["all"]}


def _auth(world, tenant_key="a") -> dict[str, str]:
    fixture = getattr(world, tenant_key)
    issued = make_token(fixture.tenant, fixture.users[Role.ADMIN], scopes=["contacts:read", "contacts:write"])
    return {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}


def _engaged(tenant, *, opened_days_ago=None, clicked_days_ago=None, **fields):
    contact = make_contact(tenant, **fields)
    now = timezone.now()
    with tenant_context(tenant):
        ContactEngagement.objects.create(
            tenant=tenant,
            contact_id=contact.pk,
            last_opened_at=None if opened_days_ago is None else now - timedelta(days=opened_days_ago),
            last_clicked_at=None if clicked_days_ago is None else now - timedelta(days=clicked_days_ago),
        )
    return contact


@pytest.fixture
def audience(world):
    """Tenant A: opened 2 days ago (and clicked), opened 20 days ago, never engaged; tenant B:
    one contact who opened today."""
    _engaged(world.a.tenant, opened_days_ago=2, clicked_days_ago=2, first_name="Recent", last_name="Opener")
    _engaged(world.a.tenant, opened_days_ago=20, first_name="Older", last_name="Opener")
    make_contact(world.a.tenant, first_name="Never", last_name="Opened")
    _engaged(world.b.tenant, opened_days_ago=0)
    return world


def test_the_api_counts_opened_and_not_opened(audience, client):
    auth = _auth(audience)
    for rules, expected in (
        (OPENED_7, 1),
        (NOT_OPENED_7, 2),
        ({"all": [{"field": "engagement.opened", "op": "within_last_days", "value": 30}]}, 2),
        ({"all": [{"field": "engagement.clicked", "op": "within_last_days", "value": 30}]}, 1),
    ):
        response = client.post(COUNT, {"rules": rules}, content_type="application/json", **auth)
        assert response.status_code == 200 and response.json() == {"count": expected}, rules


def test_the_api_saves_a_segment_with_an_engagement_condition(audience, client):
    auth = _auth(audience)
    created = client.post(LIST, {"name": "Opened lately", "rules": OPENED_7}, content_type="application/json", **auth)
    assert created.status_code == 201 and created.json()["rules"] == OPENED_7


@pytest.mark.parametrize("days", [-1, 36_501, "7", 2.5, None])
def test_a_bad_number_of_days_is_a_structured_400_naming_the_node(world, client, days):
    auth = _auth(world)
    rules = {"all": [{"none": [{"field": "engagement.clicked", "op": "within_last_days", "value": days}]}]}
    for url in (COUNT, LIST):
        response = client.post(url, {"name": "Bad", "rules": rules}, content_type="application/json", **auth)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "invalid_rules"
        assert [problem["path"] for problem in error["fields"]["rules"]] == ["rules.all[0].none[0].value"]
        assert "whole number of days" in error["fields"]["rules"][0]["message"]
    with tenant_context(world.a.tenant):
        assert not Segment.objects.for_tenant(world.a.tenant).exists()


def test_another_organisations_token_counts_only_its_own_engagement(audience, client):
    response = client.post(COUNT, {"rules": OPENED_7}, content_type="application/json", **_auth(audience, "b"))
    assert response.json() == {"count": 1}
    user = audience.a.users[Role.MARKETER]
    with tenant_context(audience.a.tenant):
        segment = segment_create(
            tenant=audience.a.tenant, actor=actor_for_user(user), created_by=user, name="Opened", rules=OPENED_7
        )
    detail = reverse("api:segments_api:segment_detail", kwargs={"segment_id": segment.pk})
    assert client.get(detail, **_auth(audience, "b")).status_code == 404


# --- The builder ----------------------------------------------------------------------------------


def test_the_builder_offers_opened_and_clicked_with_a_number_of_days(world):
    with tenant_context(world.a.tenant):
        catalogue = builder_catalogue(tenant=world.a.tenant)
    fields = {field["field"]: field for field in catalogue["fields"]}
    assert fields["engagement.opened"]["kind"] == fields["engagement.clicked"]["kind"] == "engagement"
    assert not fields["engagement.opened"]["phi"]
    assert catalogue["operators"]["engagement"] == {
        "within_last_days": {"label": "is within the last N days", "value": "days", "phi": False}
    }


def test_the_builder_page_carries_the_engagement_fields(world, login):
    body = login(world.a.users[Role.MARKETER], world.a.tenant).get(reverse("segments:segment_create")).content
    catalogue = json.loads(
        body.decode().split('id="segment-catalogue" type="application/json">', 1)[1].split("<", 1)[0]
    )
    assert {"engagement.opened", "engagement.clicked"} <= {field["field"] for field in catalogue["fields"]}


def test_the_preview_counts_not_opened_and_names_a_bad_node(audience, login):
    client = login(audience.a.users[Role.MARKETER], audience.a.tenant)
    response = client.post(reverse("segments:segment_preview"), {"rules": json.dumps(NOT_OPENED_7)})
    body = response.content.decode()
    assert '<span class="stat-value" data-segment-count>2</span>' in body
    assert "Never" not in body and "Older" not in body  # initials only
    bad = {"all": [{"field": "engagement.opened", "op": "within_last_days", "value": -3}]}
    body = client.post(reverse("segments:segment_preview"), {"rules": json.dumps(bad)}).content.decode()
    assert 'data-rule-path="rules.all[0].value"' in body and "data-segment-count" not in body


def test_a_marketer_saves_an_engagement_segment_and_another_organisation_gets_404(audience, login):
    client = login(audience.a.users[Role.MARKETER], audience.a.tenant)
    response = client.post(reverse("segments:segment_create"), {"name": "Opened", "rules": json.dumps(OPENED_7)})
    assert response.status_code == 302
    with tenant_context(audience.a.tenant):
        segment = Segment.objects.for_tenant(audience.a.tenant).get()
    assert segment.rules == OPENED_7
    page = reverse("segments:segment_detail", kwargs={"segment_id": segment.pk})
    assert "data-segment-count>1<" in client.get(page).content.decode()
    other = login(audience.b.users[Role.MARKETER], audience.b.tenant)
    assert other.get(page).status_code == 404
