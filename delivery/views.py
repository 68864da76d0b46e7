"""Delivery pages: the organisation's recipient domains and their TLS posture, its sending domains
(DKIM, SPF, DMARC), and the dev mailbox.

The dev mailbox shows what the local SMTP sink received, for development and demos only. It is
off (404) whenever ``DEV_MAILBOX_ENABLED`` is False, which production forces (its routes are not
even registered then). The check runs before the sign-in check, so a deployment that turns it
off does not reveal the pages exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from delivery.mailbox import MessageNotFound, is_valid_message_id, mailbox_get, mailbox_list
from delivery.models import SendingDomainStatus
from delivery.posture import CheckRateLimited, InvalidDomain, recipient_domain_check_request, recipient_domains
from delivery.sending_domains import (
    SendingDomainError,
    sending_domain_add,
    sending_domain_check,
    sending_domain_get,
    sending_domain_list,
    sending_domain_records,
    sending_domain_remove,
)
from tenants.access import login_only, require_permission
from tenants.http import TenantRequest
from tenants.permissions import role_has_permission

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


def _domains_context(request: TenantRequest) -> dict[str, Any]:
    rows = recipient_domains(tenant=request.tenant, limit=DOMAINS_SHOWN)
    return {"rows": rows, "shown_limit": DOMAINS_SHOWN, "checking": any(row.checking for row in rows)}


def _domains_page(request: TenantRequest, *, domain: str = "", error: str = "", status: int = 200) -> HttpResponse:
    context = {**_domains_context(request), "domain": domain, "error": error}
    return render(request, "delivery/domains.html", context, status=status)


@require_GET
@require_permission("delivery.domains.view")
def domain_list(request: TenantRequest) -> HttpResponse:
    """The domains this organisation checked (or sent to), with the TLS posture of each."""
    return _domains_page(request)


@require_GET
@require_permission("delivery.domains.view")
def domain_rows(request: TenantRequest) -> HttpResponse:
    """The table alone, polled by the page while a check runs."""
    return render(request, "delivery/_domain_rows.html", _domains_context(request))


@require_POST
@require_permission("delivery.domains.view")
def domain_check(request: TenantRequest) -> HttpResponse:
    """Ask for a check now: the probe runs in the background and the list shows it until done."""
    domain = request.POST.get("domain", "")[:300]
    try:
        row = recipient_domain_check_request(tenant=request.tenant, user=request.user, domain=domain)
    except InvalidDomain as invalid:
        return _domains_page(request, domain=domain, error=str(invalid), status=400)
    except CheckRateLimited:
        return _domains_page(request, domain=domain, error="Too many checks this hour; try again later.", status=429)
    messages.success(request, f"Checking {row.domain} now: the result appears in the list below in a few seconds.")
    return redirect("delivery:domain_list")


# --- Sending domains ------------------------------------------------------------------------------


def _sending_domains_page(
    request: TenantRequest, *, domain: str = "", error: str = "", status: int = 200
) -> HttpResponse:
    context = {
        "sending_domains": sending_domain_list(tenant=request.tenant),
        "can_manage": role_has_permission(request.membership.role, "sending_domains.manage"),
        "domain": domain,
        "error": error,
        "production": settings.PRODUCTION,
    }
    return render(request, "delivery/sending_domain_list.html", context, status=status)


@require_GET
@require_permission("sending_domains.view")
def sending_domain_list_view(request: TenantRequest) -> HttpResponse:
    """The organisation's sending domains and whether each is verified; admins add them here."""
    return _sending_domains_page(request)


@require_POST
@require_permission("sending_domains.manage")
def sending_domain_add_view(request: TenantRequest) -> HttpResponse:
    domain = request.POST.get("domain", "")[:300]
    try:
        sending_domain = sending_domain_add(tenant=request.tenant, actor=request.user, domain=domain)
    except (InvalidDomain, SendingDomainError) as invalid:
        return _sending_domains_page(request, domain=domain, error=str(invalid), status=400)
    messages.success(
        request, f"{sending_domain.domain} added with a new DKIM key: publish the records below, then check it."
    )
    return redirect("delivery:sending_domain_detail", domain_id=sending_domain.pk)


@require_GET
@require_permission("sending_domains.view")
def sending_domain_detail(request: TenantRequest, domain_id: uuid.UUID) -> HttpResponse:
    """The records to publish (host, type, value) and the last check of each, with why."""
    sending_domain = sending_domain_get(tenant=request.tenant, domain_id=domain_id)
    checks = [
        {
            "name": name.upper(),
            "ok": getattr(sending_domain, f"{name}_ok"),
            "explanation": getattr(sending_domain, f"{name}_explanation"),
            "seen": getattr(sending_domain, f"{name}_record_seen"),
        }
        for name in ("dkim", "spf", "dmarc")
    ]
    context = {
        "sending_domain": sending_domain,
        "records": sending_domain_records(sending_domain),
        "checks": checks,
        "can_manage": role_has_permission(request.membership.role, "sending_domains.manage"),
        "production": settings.PRODUCTION,
    }
    return render(request, "delivery/sending_domain_detail.html", context)


@require_POST
@require_permission("sending_domains.manage")
def sending_domain_check_view(request: TenantRequest, domain_id: uuid.UUID) -> HttpResponse:
    """Look the domain's records up now, then back to its page."""
    sending_domain = sending_domain_get(tenant=request.tenant, domain_id=domain_id)
    try:
        checked = sending_domain_check(tenant=request.tenant, actor=request.user, sending_domain=sending_domain)
    except SendingDomainError as error:
        messages.error(request, str(error))
        return redirect("delivery:sending_domain_list")
    if checked.status == SendingDomainStatus.VERIFIED:
        messages.success(request, f"{checked.domain} is verified: campaigns can send from it.")
    else:
        messages.error(request, f"{checked.domain} is not verified yet: see what each check found below.")
    return redirect("delivery:sending_domain_detail", domain_id=checked.pk)


@require_http_methods(["GET", "POST"])
@require_permission("sending_domains.manage")
def sending_domain_remove_view(request: TenantRequest, domain_id: uuid.UUID) -> HttpResponse:
    """GET asks to confirm; POST removes the domain and its DKIM key."""
    sending_domain = sending_domain_get(tenant=request.tenant, domain_id=domain_id)
    if request.method == "POST":
        sending_domain_remove(tenant=request.tenant, actor=request.user, sending_domain=sending_domain)
        messages.success(request, f"{sending_domain.domain} removed; campaigns can no longer send from it.")
        return redirect("delivery:sending_domain_list")
    return render(request, "delivery/sending_domain_remove.html", {"sending_domain": sending_domain})
