"""Delivery pages: the organisation's recipient domains and their TLS posture, and the dev mailbox.

The dev mailbox shows what the local SMTP sink received, for development and demos only. It is
off (404) whenever ``DEV_MAILBOX_ENABLED`` is False, which production forces (its routes are not
even registered then). The check runs before the sign-in check, so a deployment that turns it
off does not reveal the pages exist.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from delivery.mailbox import MessageNotFound, is_valid_message_id, mailbox_get, mailbox_list
from delivery.posture import CheckRateLimited, InvalidDomain, recipient_domain_check, recipient_domains
from tenants.access import login_only, require_permission
from tenants.http import TenantRequest

DOMAINS_SHOWN = 200


def dev_mailbox_only[View: Callable[..., HttpResponse]](view: View) -> View:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.DEV_MAILBOX_ENABLED:
            raise Http404("The dev mailbox is disabled.")
        return view(request, *args, **kwargs)

    return wrapped  # type: ignore[return-value]


@dev_mailbox_only
@login_only
@require_GET
def mailbox(request: HttpRequest) -> HttpResponse:
    return render(request, "delivery/mailbox.html", {"mail": mailbox_list()})


@dev_mailbox_only
@login_only
@require_GET
def mailbox_message(request: HttpRequest, message_id: str) -> HttpResponse:
    if not is_valid_message_id(message_id):
        raise Http404("No such message.")
    try:
        message = mailbox_get(message_id=message_id)
    except MessageNotFound:
        raise Http404("No such message.") from None
    return render(request, "delivery/mailbox_message.html", {"message": message})


def _domains_page(request: TenantRequest, *, domain: str = "", error: str = "", status: int = 200) -> HttpResponse:
    context = {
        "rows": recipient_domains(tenant=request.tenant, limit=DOMAINS_SHOWN),
        "domain": domain,
        "error": error,
        "shown_limit": DOMAINS_SHOWN,
    }
    return render(request, "delivery/domains.html", context, status=status)


@require_GET
@require_permission("delivery.domains.view")
def domain_list(request: TenantRequest) -> HttpResponse:
    """The domains this organisation checked (or sent to), with the TLS posture of each."""
    return _domains_page(request)


@require_POST
@require_permission("delivery.domains.view")
def domain_check(request: TenantRequest) -> HttpResponse:
    """Check one domain now: a fresh probe, then back to the list (or the form with its error)."""
    domain = request.POST.get("domain", "")[:300]
    try:
        posture = recipient_domain_check(tenant=request.tenant, user=request.user, domain=domain)
    except InvalidDomain as invalid:
        return _domains_page(request, domain=domain, error=str(invalid), status=400)
    except CheckRateLimited:
        return _domains_page(request, domain=domain, error="Too many checks this hour; try again later.", status=429)
    outcome = {"verified": "verified TLS", "unverified": "TLS without verification", "none": "no TLS"}[posture.tls]
    refused = " Delivery to it is refused." if posture.delivery_refused else ""
    messages.success(request, f"Checked {posture.domain}: {outcome}.{refused}")
    return redirect("delivery:domain_list")
