"""Permission checks for web views: every view declares exactly one permission, or is public."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render

from tenants.permissions import PERMISSIONS, role_has_permission

View = TypeVar("View", bound=Callable[..., HttpResponse])


def require_permission(code: str) -> Callable[[View], View]:
    if code not in PERMISSIONS:
        raise KeyError(f"Unknown permission {code!r}")

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership = getattr(request, "membership", None)
            if membership is None:
                return render(request, "tenants/no_organisation.html", status=403)
            if not role_has_permission(membership.role, code):
                raise PermissionDenied(f"Your role does not include {code}.")
            return view(request, *args, **kwargs)

        wrapped.sealpost_permission = code  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator


def public_view[V: Callable[..., HttpResponseBase]](view: V) -> V:
    """Marks a view that anyone may reach (login, health check, error pages)."""
    view.sealpost_public = True  # type: ignore[attr-defined]
    return view


def login_only[V: Callable[..., HttpResponseBase]](view: V) -> V:
    """Marks a view any signed-in user may reach whatever their organisation (switching
    organisation, signing out)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    wrapped.sealpost_login_only = True  # type: ignore[attr-defined]
    return wrapped  # type: ignore[return-value]
