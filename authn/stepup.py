"""Step-up: sensitive actions (exports, key rotation and shredding, policy and role changes,
bulk PHI views) need a passkey assertion made in the last ``STEP_UP_SECONDS``, whatever the
session's age. ``@require_step_up`` goes under ``@require_permission``."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from authn.auth_state import auth_state


def has_fresh_step_up(request: HttpRequest, now: float | None = None) -> bool:
    state = auth_state(request)
    if state is None or state.step_up_at is None:
        return False
    now = time.time() if now is None else now
    return 0 <= now - state.step_up_at <= settings.STEP_UP_SECONDS


def _return_path(request: HttpRequest) -> str:
    """Where to come back to after the step-up: the page itself for a GET, the page the form was
    on for a POST (its data cannot be replayed safely), the dashboard otherwise."""
    if request.method == "GET":
        return request.get_full_path()
    referer = request.headers.get("Referer", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        parts = urlsplit(referer)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return reverse("tenants:dashboard")


def step_up_url(request: HttpRequest) -> str:
    return f"{reverse('authn:step_up')}?{urlencode({'next': _return_path(request)})}"


def require_step_up[V: Callable[..., HttpResponse]](view: V) -> V:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if has_fresh_step_up(request):
            return view(request, *args, **kwargs)
        target = step_up_url(request)
        if request.headers.get("HX-Request"):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = target
            return response
        return redirect(target)

    wrapped.sealpost_step_up = True  # type: ignore[attr-defined]
    return wrapped  # type: ignore[return-value]


def require_step_up_for_changes[V: Callable[..., HttpResponse]](view: V) -> V:
    """Step-up for the requests that change something (not GET/HEAD): a page can be read with
    the session alone, its form needs a fresh passkey assertion."""
    guarded = require_step_up(view)

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method in ("GET", "HEAD"):
            return view(request, *args, **kwargs)
        return guarded(request, *args, **kwargs)

    wrapped.sealpost_step_up = True  # type: ignore[attr-defined]
    return wrapped  # type: ignore[return-value]
