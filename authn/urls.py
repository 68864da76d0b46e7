from django.urls import path

from authn import account_views, api_application_views, break_glass_views, factor_views, signin_views, views
from authn.policy_views import access_policy_view

app_name = "authn"

urlpatterns = [
    path("login/", signin_views.login, name="login"),
    path("login/verify/", signin_views.verify, name="verify"),
    path("login/passkey/options/", signin_views.passkey_sign_in_options, name="passkey_sign_in_options"),
    path("login/passkey/verify/", signin_views.passkey_sign_in_verify, name="passkey_sign_in_verify"),
    path("step-up/", signin_views.step_up, name="step_up"),
    path("step-up/options/", signin_views.step_up_options, name="step_up_options"),
    path("step-up/verify/", signin_views.step_up_verify, name="step_up_verify"),
    path("enroll/", signin_views.enroll, name="enroll"),
    path("security/", account_views.security, name="security"),
    path("authenticator/", factor_views.totp_setup, name="totp_setup"),
    path("recovery-codes/", factor_views.recovery_codes, name="recovery_codes"),
    path("passkeys/", account_views.passkey_list, name="passkey_list"),
    path("passkeys/options/", account_views.passkey_options, name="passkey_options"),
    path("passkeys/register/", account_views.passkey_register_view, name="passkey_register"),
    path("passkeys/<int:passkey_id>/rename/", account_views.passkey_rename_view, name="passkey_rename"),
    path("passkeys/<int:passkey_id>/remove/", account_views.passkey_remove_view, name="passkey_remove"),
    path("sessions/", account_views.session_list, name="session_list"),
    path("sessions/end-others/", account_views.session_end_others, name="session_end_others"),
    path("sessions/<uuid:session_id>/end/", account_views.session_end_view, name="session_end"),
    path("member-sessions/", account_views.member_session_list, name="member_session_list"),
    path("member-sessions/<uuid:session_id>/end/", account_views.member_session_end, name="member_session_end"),
    path("logout/", views.logout, name="logout"),
    path("sign-ins/", views.sign_in_history_view, name="sign_in_history"),
    path("api-applications/", api_application_views.api_application_list_view, name="api_application_list"),
    path("api-applications/new/", api_application_views.api_application_create_view, name="api_application_create"),
    path(
        "api-applications/<uuid:application_id>/",
        api_application_views.api_application_detail_view,
        name="api_application_detail",
    ),
    path(
        "api-applications/<uuid:application_id>/scopes/",
        api_application_views.api_application_scopes_view,
        name="api_application_scopes",
    ),
    path(
        "api-applications/<uuid:application_id>/rotate/",
        api_application_views.api_token_rotate_view,
        name="api_token_rotate",
    ),
    path(
        "api-applications/<uuid:application_id>/revoke/",
        api_application_views.api_application_revoke_view,
        name="api_application_revoke",
    ),
    path("access-policy/", access_policy_view, name="access_policy"),
    path("emergency-access/", break_glass_views.break_glass_list_view, name="break_glass_list"),
    path(
        "emergency-access/<uuid:grant_id>/revoke/", break_glass_views.break_glass_revoke_view, name="break_glass_revoke"
    ),
]
