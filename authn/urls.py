from django.urls import path

from authn import views

app_name = "authn"

urlpatterns = [
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("sign-ins/", views.sign_in_history_view, name="sign_in_history"),
    path("api-tokens/", views.api_token_list_view, name="api_token_list"),
    path("api-tokens/<uuid:token_id>/revoke/", views.api_token_revoke_view, name="api_token_revoke"),
]
