"""The recipient portal, mounted at /secure/: no sign-in; the link token names the organisation
and the message (``encryption.escrow.escrow_from_token``). URLs carry the token and link
positions only, never an address, a name or a link target."""

from django.urls import path

from encryption import portal_views as views

app_name = "escrow_portal"

urlpatterns = [
    path("<str:token>/", views.start_view, name="start"),
    path("<str:token>/send-code/", views.send_code_view, name="send_code"),
    path("<str:token>/code/", views.code_view, name="code"),
    path("<str:token>/check/", views.secret_view, name="secret"),
    path("<str:token>/message/", views.message_view, name="message"),
    path("<str:token>/reply/", views.reply_view, name="reply"),
    path("<str:token>/link/<int:position>/", views.link_view, name="link"),
    path("<str:token>/logo/", views.logo_view, name="logo"),
    path("<str:token>/passkey/options/", views.passkey_options_view, name="passkey_options"),
    path("<str:token>/passkey/verify/", views.passkey_verify_view, name="passkey_verify"),
    path("<str:token>/passkey/register/options/", views.passkey_register_options_view, name="passkey_register_options"),
    path("<str:token>/passkey/register/", views.passkey_register_view, name="passkey_register"),
]
