from django.urls import path

from segments.api import dictionary_views, segment_views, views

app_name = "segments_api"

urlpatterns = [
    path("contacts/", views.ContactWriteListApi.as_view(), name="contact_list"),
    path("contacts/search/", views.ContactSearchApi.as_view(), name="contact_search"),
    path("contacts/<uuid:contact_id>/", views.ContactWriteDetailApi.as_view(), name="contact_detail"),
    path("contacts/imports/", views.ContactImportListApi.as_view(), name="contact_import_list"),
    path("contacts/imports/<uuid:import_id>/", views.ContactImportDetailApi.as_view(), name="contact_import_detail"),
    path("segments/", segment_views.SegmentListApi.as_view(), name="segment_list"),
    path("segments/count/", segment_views.SegmentCountApi.as_view(), name="segment_count"),
    path("segments/<uuid:segment_id>/", segment_views.SegmentDetailApi.as_view(), name="segment_detail"),
    path("attributes/", dictionary_views.AttributeListApi.as_view(), name="attribute_list"),
    path("attributes/<uuid:attribute_id>/", dictionary_views.AttributeDetailApi.as_view(), name="attribute_detail"),
]
