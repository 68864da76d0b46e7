"""The compliance report pages, mounted at ``/reports/compliance/``."""

from django.urls import path

from reporting import compliance_views as views

app_name = "reporting_compliance"

urlpatterns = [
    path("", views.report_view, name="report"),
    path("exports/", views.export_request_view, name="export_request"),
    path("exports/<uuid:export_id>/", views.export_detail_view, name="export_detail"),
    path("exports/<uuid:export_id>/progress/", views.export_progress_view, name="export_progress"),
    path("exports/<uuid:export_id>/download/", views.export_download_view, name="export_download"),
]
