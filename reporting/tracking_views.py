"""The public tracking routes (no sign-in; docs/tracking.md): ``/t/c/<token>`` redirects a click
to its link, ``/t/o/<token>.gif`` answers the open pixel. The token names the organisation; the
request is answered inside it.

A click token that is garbled, altered, another organisation's, or names no link of its
message's pinned template version gets a plain 400 with no detail: never a redirect anywhere
else. The pixel always answers the same GIF (a mail client shows nothing either way) and records
only what a valid token names. Neither response is cached or indexed, and no response, log line
or error names the token's contents.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from reporting.tracking import CLICK, OPEN, PIXEL_GIF, Hit, now, read_token, tracking_click, tracking_open
from tenants.access import public_view
from tenants.context import tenant_context
from tenants.tasks import active_organisation

USER_AGENT_MAX = 512


def _private(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store, max-age=0"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _hit(request: HttpRequest) -> Hit:
    return Hit(
        method=request.method or "GET", user_agent=request.headers.get("User-Agent", "")[:USER_AGENT_MAX], at=now()
    )


def _bad_request() -> HttpResponse:
    return _private(HttpResponseBadRequest("Bad request", content_type="text/plain; charset=utf-8"))


@public_view
@csrf_exempt
@require_http_methods(["GET", "HEAD"])
def click_view(request: HttpRequest, token: str) -> HttpResponse:
    ref = read_token(token, kind=CLICK)
    tenant = active_organisation(ref.tenant_id) if ref is not None else None
    if ref is None or tenant is None:
        return _bad_request()
    with tenant_context(tenant, switch_from_active=True):
        url = tracking_click(tenant=tenant, ref=ref, hit=_hit(request))
    if url is None:
        return _bad_request()
    return _private(HttpResponseRedirect(url))


def _pixel() -> HttpResponse:
    response = HttpResponse(PIXEL_GIF, content_type="image/gif")
    response["Content-Length"] = str(len(PIXEL_GIF))
    return _private(response)


@public_view
@csrf_exempt
@require_http_methods(["GET", "HEAD"])
def open_view(request: HttpRequest, token: str) -> HttpResponse:
    ref = read_token(token, kind=OPEN)
    tenant = active_organisation(ref.tenant_id) if ref is not None else None
    if ref is not None and tenant is not None:
        with tenant_context(tenant, switch_from_active=True):
            tracking_open(tenant=tenant, ref=ref, hit=_hit(request))
    return _pixel()
