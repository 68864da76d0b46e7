"""Recipients' pages, mounted at /r/: no sign-in; each link carries its own authority (a sealed
token, or the form's public id). URLs name nobody: no contact id, address or name."""

from django.urls import path

from consent import public_views

app_name = "consent_public"

urlpatterns = [
    path("optin/<slug:org_slug>/<str:public_id>/", public_views.optin_form_view, name="optin_form"),
    path("confirm/<str:token>/", public_views.confirm_view, name="confirm"),
    path("preferences/<str:token>/", public_views.preferences_view, name="preferences"),
    path("unsubscribe/<str:token>/", public_views.unsubscribe_view, name="unsubscribe"),
]
