"""Every API call made with a token is audited, once: in the token's organisation when the token
is valid (``api_token.used``, or ``api_token.scope_refused`` when its application lacks the
scope the endpoint needs), in the global chain when it is not (the presented secret is never
stored)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from audit.services import ANONYMOUS, actor_for_token, record
from tenants.api import SCOPE_REFUSED_ATTR
from tenants.context import tenant_context
from tenants.models import Organisation


def _route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return match.view_name if match is not None and match.view_name else "unresolved"


def record_api_call(request: HttpRequest, tenant: Organisation | None, status: int) -> None:
    details: dict[str, Any] = {"method": request.method or "", "route": _route(request), "status": status}
    token = getattr(request, "api_token", None)
    if token is None or tenant is None:
        record(tenant=None, action="api_token.rejected", actor=ANONYMOUS, details=details)
        return
    action = "api_token.used"
    refused_scope = getattr(request, SCOPE_REFUSED_ATTR, None)
    if refused_scope is not None:
        action = "api_token.scope_refused"
        details["scope"] = refused_scope
    with tenant_context(tenant):
        record(
            tenant=tenant,
            action=action,
            actor=actor_for_token(token),
            details={**details, "application_id": str(token.application_id)},
        )
