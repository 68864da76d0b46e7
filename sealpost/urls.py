from django.urls import include, path

from sealpost import views

urlpatterns = [
    path("", include("tenants.urls")),
    path("accounts/", include("authn.urls")),
    path("contacts/", include("segments.urls")),
    path("consent/", include("consent.urls")),
    path("templates/", include("templates.urls")),
    path("campaigns/", include("campaigns.urls")),
    # Recipients' pages: opt-in forms, confirmation, preference centre, unsubscribe (no sign-in).
    path("r/", include("consent.public_urls")),
    path("secure/", include("encryption.portal_urls")),  # the escrow pickup portal (encryption.portal)
    # Open and click tracking (reporting.tracking_views): opaque signed tokens, no sign-in.
    path("t/", include("reporting.tracking_urls")),
    # Compliance reports and their exports (reporting.compliance_views), before the dashboards.
    path("reports/compliance/", include("reporting.compliance_urls")),
    path("reports/", include("reporting.urls")),
    path("audit/", include("audit.urls")),
    path("encryption/", include("encryption.urls")),
    path("baa/", include("baa.urls")),
    # /delivery/domains/, and /dev/mailbox/ in the embedded default only (delivery/urls.py).
    path("", include("delivery.urls")),
    path("api/", include("sealpost.api_urls")),
    path("healthz", views.health, name="health"),
]

handler400 = "sealpost.views.bad_request"
handler403 = "sealpost.views.permission_denied"
handler404 = "sealpost.views.page_not_found"
handler500 = "sealpost.views.server_error"
