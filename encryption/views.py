from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from authn.stepup import require_step_up
from encryption.providers import get_key_provider
from encryption.selectors import latest_rotation, tenant_key_list
from encryption.services import data_key_rotate, tenant_keys_destroy
from tenants.access import require_permission
from tenants.http import TenantRequest


@require_GET
@require_permission("encryption.manage")
def keys(request: TenantRequest) -> HttpResponse:
    context = {
        "keys": tenant_key_list(tenant=request.tenant),
        "rotation": latest_rotation(tenant=request.tenant),
        "provider": get_key_provider().name,
    }
    return render(request, "encryption/keys.html", context)


@require_GET
@require_permission("encryption.manage")
def rotation_progress(request: TenantRequest) -> HttpResponse:
    context = {"rotation": latest_rotation(tenant=request.tenant), "keys": tenant_key_list(tenant=request.tenant)}
    return render(request, "encryption/_rotation.html", context)


@require_POST
@require_permission("encryption.manage")
@require_step_up
def rotate(request: TenantRequest) -> HttpResponse:
    try:
        rotation = data_key_rotate(tenant=request.tenant, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"Data key v{rotation.to_version} is active; re-encrypting {rotation.rows_total} rows."
        )
    return redirect("encryption:keys")


@require_POST
@require_permission("encryption.manage")
@require_step_up
def destroy(request: TenantRequest) -> HttpResponse:
    try:
        count = tenant_keys_destroy(
            tenant=request.tenant, actor=request.user, confirmation=request.POST.get("confirmation", "")
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Destroyed {count} keys. The organisation's encrypted data can no longer be read.")
    return redirect("encryption:keys")
