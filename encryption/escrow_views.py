"""The staff side of escrow: the list of escrowed messages (metadata only; the content stays
encrypted and is read only by its recipient), retraction, recipients' secure replies (each
reading after a fresh passkey step-up, audited) and the organisation's escrow settings."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from authn.stepup import require_step_up
from encryption.escrow import (
    EscrowSettingsInvalid,
    EscrowUnavailable,
    escrow_get,
    escrow_list,
    escrow_retract,
    escrow_settings_for,
    escrow_settings_update,
    reply_get,
    reply_list,
    reply_read,
)
from encryption.models import EscrowStatus
from templates.fields import merge_fields
from tenants.access import require_permission
from tenants.http import TenantRequest
from tenants.permissions import role_has_permission

LOGO_FIELD = "logo"


@require_GET
@require_permission("escrow.view")
def escrow_list_view(request: TenantRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in EscrowStatus.values:
        status = ""
    context = {
        "items": escrow_list(tenant=request.tenant, status=status),
        "status": status,
        "statuses": EscrowStatus.choices,
        "unread_replies": len(reply_list(tenant=request.tenant, unread_only=True, limit=100))
        if role_has_permission(request.membership.role, "escrow.replies")
        else 0,
        "can_retract": role_has_permission(request.membership.role, "escrow.retract"),
    }
    return render(request, "encryption/escrow_list.html", context)


@require_POST
@require_permission("escrow.retract")
def escrow_retract_view(request: TenantRequest, escrow_id: uuid.UUID) -> HttpResponse:
    escrow = escrow_get(tenant=request.tenant, escrow_id=escrow_id)
    try:
        escrow_retract(tenant=request.tenant, user=request.user, escrow=escrow)
    except EscrowUnavailable as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Retracted: the message's content is deleted and its link now says so.")
    return redirect("encryption:escrow_list")


@require_GET
@require_permission("escrow.replies")
def reply_list_view(request: TenantRequest) -> HttpResponse:
    return render(request, "encryption/escrow_replies.html", {"replies": reply_list(tenant=request.tenant)})


@never_cache
@require_GET
@require_permission("escrow.replies")
@require_step_up
def reply_detail_view(request: TenantRequest, reply_id: uuid.UUID) -> HttpResponse:
    reply = reply_get(tenant=request.tenant, reply_id=reply_id)
    reply_read(tenant=request.tenant, user=request.user, reply=reply)
    return render(request, "encryption/escrow_reply.html", {"reply": reply})


def _secret_choices(request: TenantRequest) -> list[tuple[str, str]]:
    fields = merge_fields(tenant=request.tenant)
    return [("", "No shared secret")] + [
        (name, field.label)
        for name, field in sorted(fields.items())
        if name.startswith(("contact.", "attributes.")) and field.kind != "list" and name != "contact.email"
    ]


@require_http_methods(["GET", "POST"])
@require_permission("escrow.settings")
def escrow_settings_view(request: TenantRequest) -> HttpResponse:
    row = escrow_settings_for(tenant=request.tenant)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        upload = request.FILES.get(LOGO_FIELD)
        try:
            days = int(request.POST.get("expiry_days", ""))
        except ValueError:
            days = 0
        try:
            escrow_settings_update(
                tenant=request.tenant,
                user=request.user,
                expiry_days=days,
                notice_subject=request.POST.get("notice_subject", ""),
                shared_secret_field=request.POST.get("shared_secret_field", ""),
                shared_secret_prompt=request.POST.get("shared_secret_prompt", ""),
                allow_passkeys=request.POST.get("allow_passkeys") == "on",
                brand_colour=request.POST.get("brand_colour", ""),
                logo=upload.read(200_001) if upload is not None else None,
                remove_logo=request.POST.get("remove_logo") == "on",
            )
        except EscrowSettingsInvalid as invalid:
            errors, status = invalid.errors, 400
        else:
            messages.success(request, "Escrow settings saved.")
            return redirect("encryption:escrow_settings")
    context = {"row": row, "errors": errors, "secret_choices": _secret_choices(request), "posted": request.POST}
    return render(request, "encryption/escrow_settings.html", context, status=status)
