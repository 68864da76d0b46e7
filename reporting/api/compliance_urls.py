from django.urls import path

from reporting.api import compliance as views

app_name = "reporting_compliance_api"

urlpatterns = [
    path("reports/compliance/phi-exposure/", views.PhiExposureApi.as_view(), name="phi_exposure"),
    path("reports/compliance/exports/", views.ExportListApi.as_view(), name="export_list"),
    path("reports/compliance/exports/<uuid:export_id>/", views.ExportDetailApi.as_view(), name="export_detail"),
    path(
        "reports/compliance/exports/<uuid:export_id>/download/",
        views.ExportDownloadApi.as_view(),
        name="export_download",
    ),
]
