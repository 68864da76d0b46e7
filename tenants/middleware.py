"""Resolve the tenant once per request and run the rest of the request as that tenant.

Each request is one transaction. Inside it the principal (the signed-in user, or the API token
presented) is set for row-level security so their own memberships or token can be read; the
tenant is chosen from those; the view then runs inside ``tenant_context``. Server errors roll the
transaction back, as ``ATOMIC_REQUESTS`` would.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.http import HttpRequest, HttpResponse

from audit.api_calls import record_api_call
from tenants.context import principal_context, tenant_context
from tenants.models import Organisation
from tenants.resolution import BearerToken, bearer_token_from, resolve_api_token, resolve_session_membership


class TenantMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.tenant = None  # type: ignore[attr-defined]
        request.membership = None  # type: ignore[attr-defined]
        request.api_token = None  # type: ignore[attr-defined]
        bearer = bearer_token_from(request)
        user = getattr(request, "user", None)
        user_id = user.pk if user is not None and user.is_authenticated and bearer is None else None
        # principal_context opens the request's transaction.
        with principal_context(user_id=user_id, api_token_hash=bearer.token_hash if bearer else None):
            tenant = self._resolve_tenant(request, bearer, user_id)
            request.tenant = tenant  # type: ignore[attr-defined]
            if tenant is None:
                response = self._respond(request)
            else:
                with tenant_context(tenant):
                    response = self._respond(request)
            if bearer is not None:
                # After the request's own work, so a rolled-back server error is still recorded.
                record_api_call(request, tenant, response.status_code)
        return response

    def _respond(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code >= 500:
            # A server error writes nothing, as with ATOMIC_REQUESTS.
            transaction.set_rollback(True)
        return response

    @staticmethod
    def _resolve_tenant(request: HttpRequest, bearer: BearerToken | None, user_id: int | None) -> Organisation | None:
        if bearer is not None:
            request.api_token = resolve_api_token(bearer)  # type: ignore[attr-defined]
            return request.api_token.tenant if request.api_token else None  # type: ignore[attr-defined]
        if user_id is not None:
            request.membership = resolve_session_membership(request, user_id)  # type: ignore[attr-defined]
            return request.membership.tenant if request.membership else None  # type: ignore[attr-defined]
        return None
