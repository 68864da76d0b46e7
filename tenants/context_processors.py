from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from tenants.navigation import navigation_for


def tenancy(request: HttpRequest) -> dict[str, Any]:
    membership = getattr(request, "membership", None)
    return {
        "current_tenant": getattr(request, "tenant", None),
        "current_membership": membership,
        "user_memberships": getattr(request, "user_memberships", []),
        "navigation": navigation_for(membership.role if membership else None, request.path),
    }
