from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from tenants.access import public_view

app_name = "api"

urlpatterns = [
    path(
        "schema/",
        public_view(SpectacularAPIView.as_view(permission_classes=[], authentication_classes=[])),
        name="schema",
    ),
    path(
        "docs/",
        public_view(
            SpectacularSwaggerSplitView.as_view(url_name="api:schema", permission_classes=[], authentication_classes=[])
        ),
        name="docs",
    ),
    path(
        "redoc/",
        public_view(
            SpectacularRedocView.as_view(url_name="api:schema", permission_classes=[], authentication_classes=[])
        ),
        name="redoc",
    ),
    path("", include("segments.api.urls")),
    path("", include("audit.api.urls")),
    path("", include("baa.api.urls")),
    path("", include("consent.api.urls")),
    path("", include("templates.api.urls")),
    path("", include("campaigns.api.urls")),
    path("", include("reporting.api.compliance_urls")),
    path("", include("reporting.api.urls")),
]
