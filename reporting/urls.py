"""Reporting's staff pages, mounted at /reports/ (the public tracking routes are in
reporting/tracking_urls.py, mounted at /t/)."""

from django.urls import path

from reporting import tracking_settings_views, views

app_name = "reporting"

urlpatterns = [
    path("tracking/", tracking_settings_views.tracking_settings_view, name="tracking_settings"),
    path(
        "campaigns/<uuid:campaign_id>/tracking/",
        tracking_settings_views.campaign_tracking_view,
        name="campaign_tracking",
    ),
    path(
        "contacts/<uuid:contact_id>/tracking/",
        tracking_settings_views.contact_tracking_view,
        name="contact_tracking",
    ),
    # Dashboards (reporting/views.py): the organisation overview and each campaign's dashboard.
    path("", views.overview_view, name="overview"),
    path("campaigns/<uuid:campaign_id>/", views.campaign_dashboard_view, name="campaign_dashboard"),
]
