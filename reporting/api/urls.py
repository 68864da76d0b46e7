from django.urls import path

from reporting.api import dashboards

app_name = "reporting_api"

urlpatterns: list = [
    # Dashboards (reporting/api/dashboards.py)
    path("reports/overview/", dashboards.OverviewApi.as_view(), name="overview"),
    path(
        "reports/campaigns/<uuid:campaign_id>/dashboard/",
        dashboards.CampaignDashboardApi.as_view(),
        name="campaign_dashboard",
    ),
]
