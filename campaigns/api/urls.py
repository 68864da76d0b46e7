from django.urls import path

from campaigns.api import messages, triggers, views

app_name = "campaigns_api"

urlpatterns: list = [
    path("campaigns/", views.CampaignListApi.as_view(), name="campaign_list"),
    path("campaigns/<uuid:campaign_id>/", views.CampaignDetailApi.as_view(), name="campaign_detail"),
    path("campaigns/<uuid:campaign_id>/launch/", views.CampaignLaunchApi.as_view(), name="campaign_launch"),
    path("campaigns/<uuid:campaign_id>/pause/", views.CampaignPauseApi.as_view(), name="campaign_pause"),
    path("campaigns/<uuid:campaign_id>/resume/", views.CampaignResumeApi.as_view(), name="campaign_resume"),
    path("campaigns/<uuid:campaign_id>/cancel/", views.CampaignCancelApi.as_view(), name="campaign_cancel"),
    path("campaigns/<uuid:campaign_id>/progress/", views.CampaignProgressApi.as_view(), name="campaign_progress"),
    path("events/", triggers.TriggerEventApi.as_view(), name="trigger_event"),
    path("events/batch/", triggers.TriggerEventBatchApi.as_view(), name="trigger_event_batch"),
    path("event-types/", triggers.TriggerTypeListApi.as_view(), name="trigger_type_list"),
    path("messages/", messages.MessageSendApi.as_view(), name="message_send"),
    path("messages/<int:message_id>/", messages.MessageDetailApi.as_view(), name="message_detail"),
]
