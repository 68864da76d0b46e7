from django.urls import path  # the editor and review pages add their routes here

from templates import editor_views, review_views

app_name = "templates"

urlpatterns: list = [
    # List, creation, editor and live preview (templates.editor_views)
    path("", editor_views.template_list_view, name="template_list"),
    path("new/", editor_views.template_create_view, name="template_create"),
    path("<uuid:template_id>/edit/", editor_views.template_edit_view, name="template_edit"),
    path("<uuid:template_id>/preview/", editor_views.template_preview_view, name="template_preview"),
    path("<uuid:template_id>/preview/frame/", editor_views.template_preview_frame_view, name="template_preview_frame"),
    path(
        "<uuid:template_id>/preview/reveal/", editor_views.template_preview_reveal_view, name="template_preview_reveal"
    ),
    # Review workflow, diff and test sends (templates.review_views)
    path("<uuid:template_id>/versions/", review_views.template_versions_view, name="template_versions"),
    path("<uuid:template_id>/diff/", review_views.template_diff_view, name="template_diff"),
    path("versions/<uuid:version_id>/", review_views.version_detail_view, name="version_detail"),
    path("versions/<uuid:version_id>/preview/", review_views.version_preview_view, name="version_preview"),
    path("versions/<uuid:version_id>/submit/", review_views.version_submit_view, name="version_submit"),
    path("versions/<uuid:version_id>/approve/", review_views.version_approve_view, name="version_approve"),
    path(
        "versions/<uuid:version_id>/request-changes/",
        review_views.version_request_changes_view,
        name="version_request_changes",
    ),
    path("versions/<uuid:version_id>/comment/", review_views.version_comment_view, name="version_comment"),
    path("versions/<uuid:version_id>/test-send/", review_views.version_test_send_view, name="version_test_send"),
    path("versions/<uuid:version_id>/test-sends/", review_views.version_test_sends_view, name="version_test_sends"),
    path("test-addresses/", review_views.test_addresses_view, name="test_addresses"),
    path("test-addresses/<uuid:address_id>/remove/", review_views.test_address_remove_view, name="test_address_remove"),
]
