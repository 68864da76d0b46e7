"""DRF permission: every API view names ``required_permission`` (for members signed in with a
session) and ``required_scope`` (for API tokens). A member's role must hold the permission in the
active tenant; a token's application must have been approved for the scope. A token never falls
back to a role, and a view that forgets either declaration is closed to everyone."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from authn.models import ApiToken
from authn.scopes import SCOPES
from tenants.models import Organisation
from tenants.permissions import role_has_permission

# Set on the Django request when a token was refused for lacking a scope; audit.api_calls
# records that call as ``api_token.scope_refused``.
SCOPE_REFUSED_ATTR = "api_scope_refused"


class InsufficientScope(PermissionDenied):
    default_code = "insufficient_scope"
    default_detail = "This API application is not approved for this operation."


def caller_token(request: Request) -> ApiToken | None:
    token: ApiToken | None = getattr(request._request, "api_token", None)
    return token if token is not None and request.auth is token else None


def caller_role(request: Request) -> str | None:
    """The role of a member calling with a session; None for a token (tokens have no role)."""
    if caller_token(request) is not None:
        return None
    membership = getattr(request._request, "membership", None)
    if membership is not None and request.user is not None and request.user.is_authenticated:
        return str(membership.role)
    return None


def view_scope(view: Any) -> str | None:
    scope = getattr(view, "required_scope", None)
    return scope if scope in SCOPES else None


class HasTenantPermission(BasePermission):
    message = "Your credentials do not allow this operation."

    def has_permission(self, request: Request, view: Any) -> bool:
        code = getattr(view, "required_permission", None)
        scope = view_scope(view)
        if code is None or scope is None:
            # A view that forgets to declare its permission or scope is closed, not open.
            return False
        if request.user is None or not request.user.is_authenticated:
            return False
        if getattr(request._request, "tenant", None) is None:
            return False
        token = caller_token(request)
        if token is not None:
            if token.application.has_scope(scope):
                return True
            setattr(request._request, SCOPE_REFUSED_ATTR, scope)
            raise InsufficientScope(f"This API application is not approved for the {scope} scope.")
        return role_has_permission(caller_role(request), code)


def request_tenant(request: Request) -> Organisation:
    """The tenant an API request acts for; ``HasTenantPermission`` has already required one."""
    tenant: Organisation | None = getattr(request._request, "tenant", None)
    if tenant is None:
        raise RuntimeError("API view reached without a tenant; is HasTenantPermission in place?")
    return tenant
