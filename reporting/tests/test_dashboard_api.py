"""The dashboards' API: the same figures as the selectors, the ``reports:read`` scope, structured
errors (bad period, missing scope), bounded query counts, the OpenAPI schema, and another
tenant's token getting 404 for a campaign."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.tests.support import make_campaign
from reporting.selectors import TOP_DOMAINS, campaign_dashboard, organisation_overview
from reporting.tests.dashboard_support import launched_campaign
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_token

pytestmark = pytest.mark.django_db
# Measured 26: the token and its application, the tenant context set and reset (with
# savepoints), the API call's audit event, the campaign, plus the selector's three.
API_QUERY_LIMIT = 30


def bearer(fixture, scopes=("reports:read",)):
    issued = make_token(fixture.tenant, fixture.users[Role.ADMIN], scopes=list(scopes))
    return {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}


def dashboard_url(campaign) -> str:
    return reverse("api:reporting_api:campaign_dashboard", kwargs={"campaign_id": campaign.pk})


OVERVIEW_URL = "/api/reports/overview/"


def test_campaign_dashboard_has_the_selectors_figures(world, client):
    campaign = launched_campaign(world.a, messages=150, first_message_id=11_000)
    response = client.get(dashboard_url(campaign), **bearer(world.a))
    assert response.status_code == 200
    body = response.json()
    with tenant_context(world.a.tenant):
        dashboard = campaign_dashboard(tenant=world.a.tenant, campaign=campaign)
    t = dashboard.totals
    assert body["campaign_id"] == str(campaign.pk) and body["status"] == "sending"
    for name in ("sent", "delivered", "escrowed", "bounced", "opens_unique", "clicks_total", "complaints"):
        assert body["totals"][name] == getattr(t, name), name
    assert body["totals"]["bounce_rate"] == pytest.approx(t.bounce_rate)
    assert body["totals"]["open_rate_unique"] == pytest.approx(t.open_rate_unique)
    assert body["totals"]["counts"] == dict(t.counts)
    assert body["daily"]["days"] == [day.isoformat() for day in dashboard.daily.days]
    assert body["daily"]["metrics"]["sent"] == dashboard.daily.values("sent")
    assert [row["domain"] for row in body["domains"]] == [row.domain for row in dashboard.domains]
    assert body["domain_count"] == dashboard.domain_count <= TOP_DOMAINS and body["other_domains"] is None
    assert [link["url"] for link in body["links"]] == [link.url for link in dashboard.links]
    assert body["links"][0]["clicks_unique"] >= body["links"][-1]["clicks_unique"]


def test_an_empty_campaign_has_nulls_for_rates(world, client):
    campaign = make_campaign(world.a)
    body = client.get(dashboard_url(campaign), **bearer(world.a)).json()
    assert body["totals"]["sent"] == 0 and body["totals"]["bounce_rate"] is None
    assert body["daily"] == {"days": [], "metrics": body["daily"]["metrics"]}
    assert all(values == [] for values in body["daily"]["metrics"].values())
    assert body["domains"] == [] and body["links"] == []


def test_overview_has_the_selectors_figures_and_checks_its_period(world, client):
    launched_campaign(world.a, messages=150, first_message_id=12_000)
    headers = bearer(world.a)
    body = client.get(OVERVIEW_URL, {"days": 7}, **headers).json()
    with tenant_context(world.a.tenant):
        overview = organisation_overview(tenant=world.a.tenant, days=7)
    assert body["days"] == 7 and body["end"] == overview.end.isoformat()
    assert body["totals"]["sent"] == overview.totals.sent > 0
    assert body["trends"]["sent"] == {"current": overview.totals.sent, "previous": 0, "change": None}
    assert set(body["checks"]) == {"complaint_rate", "bounce_rate"}
    assert body["checks"]["complaint_rate"]["limit"] == 0.003
    assert len(body["daily"]["days"]) == 7
    assert [row["campaign_id"] for row in body["campaigns"]] == [str(row.campaign_id) for row in overview.campaigns]
    assert client.get(OVERVIEW_URL, **headers).json()["days"] == 30  # the default

    refused = client.get(OVERVIEW_URL, {"days": 45}, **headers)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "invalid" and "days" in error["fields"]


def test_the_scope_is_required_and_sessions_need_the_permission(world, client, login):
    campaign = launched_campaign(world.a, messages=20, first_message_id=13_000)
    other_scope = bearer(world.a, ["campaigns:read"])
    for url in (dashboard_url(campaign), OVERVIEW_URL):
        response = client.get(url, **other_scope)
        assert response.status_code == 403 and response.json()["error"]["code"] == "insufficient_scope"
    for role in Role:
        member = login(world.a.users[role], world.a.tenant)
        assert member.get(dashboard_url(campaign)).status_code == 200
        assert member.get(OVERVIEW_URL).status_code == 200
    client.logout()
    assert client.get(OVERVIEW_URL).status_code in (401, 403)


def test_another_tenants_token_gets_404(world, client):
    campaign = launched_campaign(world.a, messages=20, first_message_id=14_000)
    response = client.get(dashboard_url(campaign), **bearer(world.b))
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    # And B's overview holds nothing of A's.
    body = client.get(OVERVIEW_URL, **bearer(world.b)).json()
    assert body["totals"]["sent"] == 0 and body["campaigns"] == []


def test_query_counts_are_bounded_and_independent_of_volume(world, client, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    empty = make_campaign(world.a)
    busy = launched_campaign(
        world.a, messages=300, first_message_id=15_000, domains=[f"z{n}.example" for n in range(30)]
    )
    headers = bearer(world.a)
    client.get(OVERVIEW_URL, **headers)  # the token's first use is recorded once
    counts = []
    for campaign in (empty, busy):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(dashboard_url(campaign), **headers).status_code == 200
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(API_QUERY_LIMIT):
        assert client.get(dashboard_url(busy), **headers).status_code == 200
    with django_assert_max_num_queries(API_QUERY_LIMIT):
        assert client.get(OVERVIEW_URL, {"days": 90}, **headers).status_code == 200


def test_the_schema_documents_the_dashboards(client):
    document = client.get(reverse("api:schema"), HTTP_ACCEPT="application/json").json()
    for path in ("/api/reports/overview/", "/api/reports/campaigns/{campaign_id}/dashboard/"):
        assert "get" in document["paths"][path], path
    parameters = document["paths"]["/api/reports/overview/"]["get"]["parameters"]
    assert any(p["name"] == "days" and p["in"] == "query" for p in parameters)
    schemas = document["components"]["schemas"]
    assert "CampaignDashboardOutput" in schemas and "OverviewOutput" in schemas
    assert schemas["TotalsOutput"]["properties"]["bounce_rate"]["nullable"] is True
