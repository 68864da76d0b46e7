"""The dashboards in the API: a campaign's dashboard and the organisation overview, the same
figures as the web pages (``reporting.selectors``: rollups only, a fixed number of queries).

Scope ``reports:read`` for API tokens; members with a session need ``reports.view``. Another
organisation's campaign is 404 like a missing one; a bad ``days`` is 400 ``invalid``.
"""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.selectors import campaign_get
from reporting.api.dashboard_serializers import CampaignDashboardOutput, OverviewInput, OverviewOutput
from reporting.selectors import (
    DAILY_DELIVERY,
    DAILY_ENGAGEMENT,
    DAILY_RESPONSES,
    campaign_dashboard,
    organisation_overview,
)
from tenants.api import request_tenant

DAILY_METRICS = (*DAILY_DELIVERY, *DAILY_ENGAGEMENT, *DAILY_RESPONSES)


class CampaignDashboardApi(APIView):
    """A campaign's delivery, engagement and complaint figures, its daily series, the busiest
    recipient domains and the most clicked links."""

    required_permission = "reports.view"
    required_scope = "reports:read"

    @extend_schema(responses=CampaignDashboardOutput)
    def get(self, request: Request, campaign_id: uuid.UUID) -> Response:
        tenant = request_tenant(request)
        campaign = campaign_get(tenant=tenant, campaign_id=campaign_id)
        dashboard = campaign_dashboard(tenant=tenant, campaign=campaign)
        body: dict[str, Any] = {
            "campaign_id": campaign.pk,
            "name": campaign.name,
            "status": campaign.status,
            "launched_at": campaign.launched_at,
            "totals": dashboard.totals.as_dict(),
            "daily": dashboard.daily.as_dict(DAILY_METRICS),
            "domains": [row.as_dict() for row in dashboard.domains],
            "domain_count": dashboard.domain_count,
            "other_domains": dashboard.other_domains.as_dict() if dashboard.other_domains else None,
            "links": [link.as_dict() for link in dashboard.links],
            "link_count": dashboard.link_count,
        }
        return Response(CampaignDashboardOutput(body).data)


class OverviewApi(APIView):
    """The organisation's sending over the last ``days`` days against the period before, the
    complaint and bounce rates against mailbox providers' limits, recipient domains whose bounce
    or deferral rate rose sharply in the last 7 days, and the period's busiest campaigns."""

    required_permission = "reports.view"
    required_scope = "reports:read"

    @extend_schema(parameters=[OverviewInput], responses=OverviewOutput)
    def get(self, request: Request) -> Response:
        tenant = request_tenant(request)
        params = OverviewInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        overview = organisation_overview(tenant=tenant, days=int(params.validated_data["days"]))
        body: dict[str, Any] = {
            "days": overview.days,
            "start": overview.start,
            "end": overview.end,
            "previous_start": overview.previous_start,
            "totals": overview.totals.as_dict(),
            "previous": overview.previous.as_dict(),
            "trends": {trend.key: trend.as_dict() for trend in overview.trends},
            "daily": overview.daily.as_dict(DAILY_METRICS),
            "checks": {check.code: check.as_dict() for check in overview.checks},
            "degraded_domains": [warning.as_dict() for warning in overview.degraded_domains],
            "warnings": overview.warnings,
            "campaigns": [row.as_dict() for row in overview.campaigns],
        }
        return Response(OverviewOutput(body).data)
