"""DRF permission: every API view names ``required_permission``; the caller's role (a member's
role for a session, the token's role for an API token) must hold it in the active tenant."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from authn.models import ApiToken
from tenants.models import Organisation
from tenants.permissions import role_has_permission


def caller_role(request: Request) -> str | None:
    token: ApiToken | None = getattr(request._request, "api_token", None)
    if token is not None and request.auth is token:
        return str(token.role)
    membership = getattr(request._request, "membership", None)
    if membership is not None and request.user is not None and request.user.is_authenticated:
        return str(membership.role)
    return None


class HasTenantPermission(BasePermission):
    message = "Your credentials do not allow this operation."

    def has_permission(self, request: Request, view: Any) -> bool:
        code = getattr(view, "required_permission", None)
        if code is None:
            # A view that forgets to declare its permission is closed, not open.
            return False
        if request.user is None or not request.user.is_authenticated:
            return False
        if getattr(request._request, "tenant", None) is None:
            return False
        return role_has_permission(caller_role(request), code)


def request_tenant(request: Request) -> Organisation:
    """The tenant an API request acts for; ``HasTenantPermission`` has already required one."""
    tenant: Organisation | None = getattr(request._request, "tenant", None)
    if tenant is None:
        raise RuntimeError("API view reached without a tenant; is HasTenantPermission in place?")
    return tenant
