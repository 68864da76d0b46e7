from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.http import Http404

from authn.models import ApiToken
from tenants.models import Organisation


def api_token_list(*, tenant: Organisation) -> QuerySet[ApiToken]:
    return ApiToken.objects.for_tenant(tenant).select_related("created_by").order_by("-created_at")


def api_token_get(*, tenant: Organisation, token_id: uuid.UUID) -> ApiToken:
    token = api_token_list(tenant=tenant).filter(pk=token_id).first()
    if token is None:
        raise Http404("No such API token.")
    return token
