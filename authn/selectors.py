from __future__ import annotations

import uuid

from django.db.models import F, Prefetch, QuerySet
from django.http import Http404

from authn.models import ApiApplication, ApiToken
from tenants.models import Organisation


def api_application_list(*, tenant: Organisation) -> QuerySet[ApiApplication]:
    """Applications, live ones first, each with its live tokens (newest first) in ``live_tokens``."""
    live = ApiToken.objects.for_tenant(tenant).filter(revoked_at__isnull=True).order_by("-created_at")
    return (
        ApiApplication.objects.for_tenant(tenant)
        .select_related("created_by")
        .prefetch_related(Prefetch("tokens", queryset=live, to_attr="live_tokens"))
        .order_by(F("revoked_at").asc(nulls_first=True), "-created_at")
    )


def api_application_get(*, tenant: Organisation, application_id: uuid.UUID) -> ApiApplication:
    application = api_application_list(tenant=tenant).filter(pk=application_id).first()
    if application is None:
        raise Http404("No such API application.")
    return application


def api_token_list(*, tenant: Organisation, application: ApiApplication) -> QuerySet[ApiToken]:
    """Every token the application has had, newest first."""
    return (
        ApiToken.objects.for_tenant(tenant)
        .filter(application_id=application.pk)
        .select_related("created_by")
        .order_by("-created_at")
    )
