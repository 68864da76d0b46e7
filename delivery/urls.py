from django.urls import path

from delivery import views

app_name = "delivery"

urlpatterns = [
    path("", views.mailbox, name="mailbox"),
    path("<str:message_id>/", views.mailbox_message, name="mailbox_message"),
]
