from django.conf import settings
from django.urls import include, path

from sealpost import views

urlpatterns = [
    path("", include("tenants.urls")),
    path("accounts/", include("authn.urls")),
    path("contacts/", include("segments.urls")),
    path("consent/", include("consent.urls")),
    path("templates/", include("templates.urls")),
    # Recipients' pages: opt-in forms, confirmation, preference centre, unsubscribe (no sign-in).
    path("r/", include("consent.public_urls")),
    path("audit/", include("audit.urls")),
    path("encryption/", include("encryption.urls")),
    path("baa/", include("baa.urls")),
    path("api/", include("sealpost.api_urls")),
    path("healthz", views.health, name="health"),
]

if settings.DEV_MAILBOX_ENABLED:
    urlpatterns.append(path("dev/mailbox/", include("delivery.urls")))

handler400 = "sealpost.views.bad_request"
handler403 = "sealpost.views.permission_denied"
handler404 = "sealpost.views.page_not_found"
handler500 = "sealpost.views.server_error"
