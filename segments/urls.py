from django.urls import path

from segments import dictionary_views, import_views, retention_views, segment_views, views

app_name = "segments"

urlpatterns = [
    path("", views.contact_list_view, name="contact_list"),
    path("<uuid:contact_id>/", views.contact_detail_view, name="contact_detail"),
    path("attributes/", dictionary_views.attribute_list_view, name="attribute_list"),
    path("attributes/new/", dictionary_views.attribute_create_view, name="attribute_create"),
    path("attributes/<uuid:attribute_id>/", dictionary_views.attribute_edit_view, name="attribute_edit"),
    path("attributes/<uuid:attribute_id>/delete/", dictionary_views.attribute_delete_view, name="attribute_delete"),
    path("segments/", segment_views.segment_list_view, name="segment_list"),
    path("segments/new/", segment_views.segment_create_view, name="segment_create"),
    path("segments/preview/", segment_views.segment_preview_view, name="segment_preview"),
    path("segments/<uuid:segment_id>/", segment_views.segment_detail_view, name="segment_detail"),
    path("segments/<uuid:segment_id>/delete/", segment_views.segment_delete_view, name="segment_delete"),
    path("imports/", import_views.import_list_view, name="import_list"),
    path("imports/<uuid:import_id>/", import_views.import_detail_view, name="import_detail"),
    path("imports/<uuid:import_id>/progress/", import_views.import_progress_view, name="import_progress"),
    path("imports/<uuid:import_id>/cancel/", import_views.import_cancel_view, name="import_cancel"),
    path("export.csv", import_views.contact_export_view, name="contact_export"),
    path("retention/", retention_views.retention_view, name="retention"),
    path("retention/run/", retention_views.retention_run_view, name="retention_run"),
]
