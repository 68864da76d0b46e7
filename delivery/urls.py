from django.conf import settings
from django.urls import path

from delivery import views

app_name = "delivery"

urlpatterns = [
    path("delivery/domains/", views.domain_list, name="domain_list"),
    path("delivery/domains/check/", views.domain_check, name="domain_check"),
]

# The dev mailbox exists only in the embedded default (never in production).
if settings.DEV_MAILBOX_ENABLED:
    urlpatterns += [
        path("dev/mailbox/", views.mailbox, name="mailbox"),
        path("dev/mailbox/<str:message_id>/", views.mailbox_message, name="mailbox_message"),
    ]
