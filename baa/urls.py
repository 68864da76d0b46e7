from django.urls import path

from baa import views

app_name = "baa"

urlpatterns = [
    path("", views.baa_status_view, name="status"),
    path("prepare/", views.agreement_prepare_view, name="agreement_prepare"),
    path("agreements/<uuid:agreement_id>/sign/", views.agreement_sign_view, name="agreement_sign"),
    path("agreements/<uuid:agreement_id>/terminate/", views.agreement_terminate_view, name="agreement_terminate"),
    path("agreements/<uuid:agreement_id>/download/", views.agreement_download_view, name="agreement_download"),
    path("subprocessors/", views.subprocessor_list_view, name="subprocessor_list"),
    path("subprocessors/new/", views.subprocessor_create_view, name="subprocessor_create"),
    path("subprocessors/<uuid:subprocessor_id>/", views.subprocessor_edit_view, name="subprocessor_edit"),
    path("subprocessors/<uuid:subprocessor_id>/delete/", views.subprocessor_delete_view, name="subprocessor_delete"),
]
