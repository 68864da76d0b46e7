from django.conf import settings
from django.urls import path

from delivery import ses_views, views

app_name = "delivery"

urlpatterns = [
    path("delivery/domains/", views.domain_list, name="domain_list"),
    path("delivery/domains/check/", views.domain_check, name="domain_check"),
    path("delivery/domains/rows/", views.domain_rows, name="domain_rows"),
    path("delivery/sending-domains/", views.sending_domain_list_view, name="sending_domain_list"),
    path("delivery/sending-domains/add/", views.sending_domain_add_view, name="sending_domain_add"),
    path("delivery/sending-domains/<uuid:domain_id>/", views.sending_domain_detail, name="sending_domain_detail"),
    path(
        "delivery/sending-domains/<uuid:domain_id>/check/", views.sending_domain_check_view, name="sending_domain_check"
    ),
    path(
        "delivery/sending-domains/<uuid:domain_id>/remove/",
        views.sending_domain_remove_view,
        name="sending_domain_remove",
    ),
    # Amazon SNS posts SES bounces and complaints here (404 unless DELIVERY_SES_SNS_TOPIC_ARNS is set).
    path("delivery/ses/notifications/", ses_views.ses_notifications, name="ses_notifications"),
]

# The dev mailbox exists only in the embedded default (never in production).
if settings.DEV_MAILBOX_ENABLED:
    urlpatterns += [
        path("dev/mailbox/", views.mailbox, name="mailbox"),
        path("dev/mailbox/<str:message_id>/", views.mailbox_message, name="mailbox_message"),
    ]
