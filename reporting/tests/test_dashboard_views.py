"""The dashboards' pages: who may see them, what they show (figures, charts, tables, empty
states), escaping, bounded query counts, and tenant B's users getting 404 for A's campaign."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.tests.support import make_campaign
from reporting.tests.dashboard_support import launched_campaign
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db

# A session's own queries (session, user, membership, access policy…) come on top of the
# selector's three; the bound below holds whatever the campaign's size (checked against an empty
# one).
PAGE_QUERY_LIMIT = 20  # measured 18


def dashboard_url(campaign) -> str:
    return reverse("reporting:campaign_dashboard", kwargs={"campaign_id": campaign.pk})


@pytest.mark.parametrize("role", list(Role))
def test_every_role_sees_the_dashboard_and_the_overview(world, login, role):
    campaign = launched_campaign(world.a, first_message_id=1_000)
    client = login(world.a.users[role], world.a.tenant)
    page = client.get(dashboard_url(campaign))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'role="img"' in html and 'id="chart-delivery"' in html and 'id="domain-table"' in html
    assert client.get(reverse("reporting:overview")).status_code == 200


def test_the_dashboard_shows_the_selectors_figures(world, login):
    from reporting.selectors import campaign_dashboard

    campaign = launched_campaign(world.a, first_message_id=2_000)
    with tenant_context(world.a.tenant):
        totals = campaign_dashboard(tenant=world.a.tenant, campaign=campaign).totals
    html = login(world.a.users[Role.MARKETER], world.a.tenant).get(dashboard_url(campaign)).content.decode()
    assert f'data-figure="sent">{totals.sent:,}<' in html
    assert f'data-figure="delivered">{totals.delivered:,}<' in html
    assert f'data-figure="bounce_rate">{totals.bounce_rate * 100:.1f}%<' in html
    assert "https://clinic.example/page-" in html  # top links carry the tracked URL
    assert "Top links" in html and "Recipient domains" in html


def test_names_and_urls_are_escaped_in_tables_and_charts(world, login):
    campaign = launched_campaign(world.a, name="<script>alert(1)</script> & co", first_message_id=3_000)
    html = login(world.a.users[Role.ADMIN], world.a.tenant).get(dashboard_url(campaign)).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    overview = login(world.a.users[Role.ADMIN], world.a.tenant).get(reverse("reporting:overview")).content.decode()
    assert "<script>alert(1)</script>" not in overview
    assert "&lt;script&gt;" in overview  # the campaign's name in the campaigns chart and table


def test_empty_states(world, login):
    campaign = make_campaign(world.a)
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    html = client.get(dashboard_url(campaign)).content.decode()
    assert "No activity yet" in html and "has not been launched" in html
    assert "No tracked link has been clicked" in html
    overview = client.get(reverse("reporting:overview")).content.decode()
    assert "Nothing sent yet" in overview and "No recipient domain is degrading" in overview
    assert "Too few messages to judge" in overview


def test_page_query_counts_are_bounded_and_independent_of_volume(world, login, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    empty = make_campaign(world.a)
    busy = launched_campaign(
        world.a, messages=400, first_message_id=4_000, domains=[f"q{n}.example" for n in range(30)]
    )
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    client.get(reverse("reporting:overview"))  # warm the session
    counts = []
    for campaign in (empty, busy):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(dashboard_url(campaign)).status_code == 200
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(PAGE_QUERY_LIMIT):
        assert client.get(dashboard_url(busy)).status_code == 200
    for days in (7, 30, 90):
        with django_assert_max_num_queries(PAGE_QUERY_LIMIT):
            assert client.get(reverse("reporting:overview"), {"days": days}).status_code == 200


def test_the_overview_offers_its_periods_and_ignores_others(world, login):
    launched_campaign(world.a, first_message_id=5_000)
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    html = client.get(reverse("reporting:overview"), {"days": "90"}).content.decode()
    assert "The last 90 days" in html and 'href="?days=90" aria-current="page"' in html
    html = client.get(reverse("reporting:overview"), {"days": "1000"}).content.decode()
    assert "The last 30 days" in html
    assert 'id="chart-volume"' in html and "Campaigns in this period" in html


def test_campaign_page_links_to_its_dashboard_once_launched(world, login):
    draft = make_campaign(world.a)
    launched = launched_campaign(world.a, first_message_id=6_000)
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    detail = client.get(reverse("campaigns:campaign_detail", kwargs={"campaign_id": launched.pk})).content.decode()
    assert f'href="{dashboard_url(launched)}"' in detail
    detail = client.get(reverse("campaigns:campaign_detail", kwargs={"campaign_id": draft.pk})).content.decode()
    assert f'href="{dashboard_url(draft)}"' not in detail


def test_navigation_has_reports(world, login):
    html = login(world.a.users[Role.MARKETER], world.a.tenant).get(reverse("tenants:dashboard")).content.decode()
    assert f'href="{reverse("reporting:overview")}"' in html


@pytest.mark.parametrize("role", list(Role))
def test_other_tenants_campaign_dashboard_is_404(world, login, role):
    campaign = launched_campaign(world.a, first_message_id=7_000)
    client = login(world.b.users[role], world.b.tenant)
    assert client.get(dashboard_url(campaign)).status_code == 404
    # B's overview shows none of A's activity.
    html = client.get(reverse("reporting:overview")).content.decode()
    assert "Nothing sent yet" in html and campaign.name not in html
