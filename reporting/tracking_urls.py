"""The public tracking routes, mounted at /t/ (no sign-in; the token names the organisation).
See reporting/tracking_views.py and docs/tracking.md."""

from django.urls import path

from reporting import tracking_views

app_name = "tracking"

urlpatterns = [
    path("c/<str:token>", tracking_views.click_view, name="click"),
    path("o/<str:token>.gif", tracking_views.open_view, name="open"),
]
