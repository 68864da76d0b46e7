"""DRF authentication for API tokens. The token itself was looked up once by
``tenants.middleware.TenantMiddleware`` (which also bound the tenant); this class turns that
into DRF's (user, auth) pair or a 401."""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from authn.models import ApiToken


class ApiTokenPrincipal:
    """The caller behind an API token. Not a User: it has no password, no memberships and no
    role; it may do what its application's approved scopes allow."""

    is_authenticated = True
    is_anonymous = False
    is_active = True

    def __init__(self, token: ApiToken) -> None:
        self.token = token
        self.pk = None
        self.display_name = f"API application {token.application.name}"

    def __str__(self) -> str:
        return self.display_name


class ApiTokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = request._request.headers.get("Authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        token: ApiToken | None = getattr(request._request, "api_token", None)
        if token is None:
            raise AuthenticationFailed("The API token is invalid, expired or revoked.", code="invalid_token")
        return ApiTokenPrincipal(token), token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
