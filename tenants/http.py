"""Typed view of the request inside ``TenantMiddleware`` for views that require a permission:
a signed-in user, acting for ``tenant`` through ``membership``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails

    from authn.models import ApiToken, User
    from tenants.models import Membership, Organisation


class TenantRequest(HttpRequest):
    user: User  # type: ignore[assignment]
    tenant: Organisation
    membership: Membership
    api_token: ApiToken | None
    htmx: HtmxDetails
    request_id: str
