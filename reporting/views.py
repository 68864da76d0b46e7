"""The dashboards' pages: a campaign's dashboard and the organisation overview.

Both are read-only, server-rendered, with inline SVG charts (``reporting.charts``) and the same
figures in tables; the numbers come from ``reporting.selectors`` (rollups only, a fixed number
of queries). No contact appears anywhere: counts, rates, recipient domains and link URLs.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from campaigns.selectors import campaign_get
from reporting.charts import Bar, Series, bar_chart, format_percent, time_series_chart
from reporting.selectors import (
    BASELINE_DAYS,
    COMPLAINT_LIMIT,
    MIN_RATE_VOLUME,
    MIN_RECENT_ATTEMPTS,
    OVERVIEW_PERIODS,
    RECENT_DAYS,
    CampaignDashboard,
    OrganisationOverview,
    campaign_dashboard,
    organisation_overview,
    overview_period,
)
from tenants.access import require_permission
from tenants.http import TenantRequest


def dashboard_charts(dashboard: CampaignDashboard) -> dict[str, Any]:
    daily, totals = dashboard.daily, dashboard.totals
    delivery = [
        Series("Sent over TLS", daily.values("sent")),
        Series("Escrow notices", daily.values("escrow_notice_sent")),
        Series("Bounced", daily.values("bounced_hard", "bounced_soft")),
        Series("Deferrals", daily.values("deferred")),
    ]
    engagement = [
        Series("Unique opens", daily.values("opened_unique")),
        Series("Unique clicks", daily.values("clicked_unique")),
        Series("Machine opens", daily.values("opened_machine")),
    ]
    link_bars = [
        Bar(link.url or f"Link {link.link_id} (removed)", link.clicks_unique, f"{link.clicks_total} clicks in all")
        for link in dashboard.links
    ]
    domain_bars = [
        Bar(row.domain, row.delivered, f"{format_percent(row.bounce_rate or 0)} bounced")
        for row in sorted(dashboard.domains, key=lambda row: (-row.delivered, row.domain))[:10]
    ]
    return {
        "delivery": time_series_chart(
            chart_id="chart-delivery",
            title="Delivery per day",
            days=daily.days,
            series=delivery,
            area=True,
            description=f"{totals.sent} sent over TLS, {totals.escrowed} escrow notices, {totals.bounced} bounced.",
        ),
        "engagement": time_series_chart(
            chart_id="chart-engagement",
            title="Opens and clicks per day",
            days=daily.days,
            series=engagement,
            description="People's first opens and clicks of each message; machine opens (privacy proxies) apart.",
            empty_message="No opens or clicks recorded.",
        ),
        "links": bar_chart(
            chart_id="chart-links",
            title="Unique clicks per link",
            bars=link_bars,
            empty_message="No tracked link has been clicked.",
        ),
        "domains": bar_chart(
            chart_id="chart-domains",
            title="Delivered per recipient domain",
            bars=domain_bars,
            empty_message="No message has reached a recipient domain yet.",
        ),
    }


def overview_charts(overview: OrganisationOverview) -> dict[str, Any]:
    daily = overview.daily
    return {
        "volume": time_series_chart(
            chart_id="chart-volume",
            title=f"Sending volume per day, last {overview.days} days",
            days=daily.days,
            series=[
                Series("Sent over TLS", daily.values("sent")),
                Series("Escrow notices", daily.values("escrow_notice_sent")),
                Series("Bounced", daily.values("bounced_hard", "bounced_soft")),
                Series("Complaints", daily.values("complained")),
            ],
            area=True,
            empty_message="Nothing was sent in this period.",
        ),
        "engagement": time_series_chart(
            chart_id="chart-engagement",
            title=f"Opens and clicks per day, last {overview.days} days",
            days=daily.days,
            series=[
                Series("Unique opens", daily.values("opened_unique")),
                Series("Unique clicks", daily.values("clicked_unique")),
                Series("Unsubscribes", daily.values("unsubscribed")),
            ],
            empty_message="No opens or clicks recorded in this period.",
        ),
        "campaigns": bar_chart(
            chart_id="chart-campaigns",
            title="Messages per campaign in the period",
            bars=[Bar(row.name, row.totals.sent + row.totals.escrowed) for row in overview.campaigns],
            empty_message="No campaign sent anything in this period.",
        ),
    }


@require_http_methods(["GET"])
@require_permission("reports.view")
def campaign_dashboard_view(request: TenantRequest, campaign_id: uuid.UUID) -> HttpResponse:
    campaign = campaign_get(tenant=request.tenant, campaign_id=campaign_id)
    dashboard = campaign_dashboard(tenant=request.tenant, campaign=campaign)
    context = {
        "campaign": campaign,
        "dashboard": dashboard,
        "t": dashboard.totals,
        "charts": dashboard_charts(dashboard),
        "complaint_limit": COMPLAINT_LIMIT,
    }
    return render(request, "reporting/campaign_dashboard.html", context)


@require_http_methods(["GET"])
@require_permission("reports.view")
def overview_view(request: TenantRequest) -> HttpResponse:
    days = overview_period(request.GET.get("days"))
    overview = organisation_overview(tenant=request.tenant, days=days)
    context = {
        "overview": overview,
        "t": overview.totals,
        "periods": OVERVIEW_PERIODS,
        "min_volume": MIN_RATE_VOLUME,
        "recent_days": RECENT_DAYS,
        "baseline_days": BASELINE_DAYS,
        "min_recent": MIN_RECENT_ATTEMPTS,
        "charts": overview_charts(overview),
    }
    return render(request, "reporting/overview.html", context)
