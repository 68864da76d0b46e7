from django.urls import path

from campaigns import journey_views, trigger_views, views

app_name = "campaigns"

urlpatterns = [
    path("", views.campaign_list_view, name="campaign_list"),
    path("new/", views.campaign_create_view, name="campaign_create"),
    path("settings/", views.campaign_settings_view, name="settings"),
    path("triggers/", trigger_views.trigger_list_view, name="trigger_list"),
    path("triggers/new/", trigger_views.trigger_type_create_view, name="trigger_type_create"),
    path("calendar/", journey_views.calendar_view, name="calendar"),
    path("journeys/", journey_views.journey_list_view, name="journey_list"),
    path("journeys/new/", journey_views.journey_create_view, name="journey_create"),
    path("journeys/<uuid:journey_id>/", journey_views.journey_detail_view, name="journey_detail"),
    path("journeys/<uuid:journey_id>/steps/", journey_views.journey_steps_view, name="journey_steps"),
    path("journeys/<uuid:journey_id>/pause/", journey_views.journey_pause_view, name="journey_pause"),
    path("journeys/<uuid:journey_id>/resume/", journey_views.journey_resume_view, name="journey_resume"),
    path(
        "journeys/<uuid:journey_id>/versions/<uuid:version_id>/submit/",
        journey_views.journey_submit_view,
        name="journey_submit",
    ),
    path(
        "journeys/<uuid:journey_id>/versions/<uuid:version_id>/review/",
        journey_views.journey_review_view,
        name="journey_review",
    ),
    path(
        "journeys/<uuid:journey_id>/versions/<uuid:version_id>/activate/",
        journey_views.journey_activate_view,
        name="journey_activate",
    ),
    path("<uuid:campaign_id>/", views.campaign_detail_view, name="campaign_detail"),
    path("<uuid:campaign_id>/edit/", views.campaign_edit_view, name="campaign_edit"),
    path("<uuid:campaign_id>/progress/", views.campaign_progress_view, name="campaign_progress"),
    path("<uuid:campaign_id>/approve/", views.campaign_approve_view, name="campaign_approve"),
    path("<uuid:campaign_id>/launch/", views.campaign_launch_view, name="campaign_launch"),
    path("<uuid:campaign_id>/pause/", views.campaign_pause_view, name="campaign_pause"),
    path("<uuid:campaign_id>/resume/", views.campaign_resume_view, name="campaign_resume"),
    path("<uuid:campaign_id>/cancel/", views.campaign_cancel_view, name="campaign_cancel"),
    path("<uuid:campaign_id>/test-send/", views.campaign_test_send_view, name="campaign_test_send"),
]
