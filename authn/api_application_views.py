"""The API applications pages: admins register integrations, approve their scopes, rotate and
revoke their tokens. Every change needs a fresh step-up; a token's secret is shown once, on the
response that created it, and never cached."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from authn.forms import ApiApplicationForm, ApiApplicationScopesForm, ApiTokenRotateForm
from authn.scopes import all_scopes
from authn.selectors import api_application_get, api_application_list, api_token_list
from authn.services import (
    IssuedToken,
    api_application_create,
    api_application_revoke,
    api_application_update_scopes,
    api_token_rotate,
)
from authn.stepup import require_step_up
from tenants.access import require_permission
from tenants.http import TenantRequest

PERMISSION = "api_tokens.manage"


def _scope_options(form: ApiApplicationForm | ApiApplicationScopesForm) -> list[dict[str, Any]]:
    """The registry's scopes with their descriptions, ticked as the form's data or initial says."""
    chosen = set(form["scopes"].value() or [])
    return [
        {"code": scope.code, "description": scope.description, "checked": scope.code in chosen, "id": f"scope-{i}"}
        for i, scope in enumerate(all_scopes())
    ]


def _show_secret(request: TenantRequest, issued: IssuedToken, *, rotated: bool) -> HttpResponse:
    context = {"application": issued.application, "issued": issued, "rotated": rotated}
    response = render(request, "authn/api_application_secret.html", context)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@require_permission(PERMISSION)
def api_application_list_view(request: TenantRequest) -> HttpResponse:
    applications = api_application_list(tenant=request.tenant)
    return render(request, "authn/api_applications.html", {"applications": applications})


@require_http_methods(["GET", "POST"])
@require_permission(PERMISSION)
@require_step_up
def api_application_create_view(request: TenantRequest) -> HttpResponse:
    form = ApiApplicationForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            issued = api_application_create(
                tenant=request.tenant,
                actor=request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                scopes=form.cleaned_data["scopes"],
                lifetime=form.lifetime(),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return _show_secret(request, issued, rotated=False)
    status = 400 if form.errors else 200
    context = {"form": form, "scope_options": _scope_options(form)}
    return render(request, "authn/api_application_new.html", context, status=status)


@require_GET
@require_permission(PERMISSION)
def api_application_detail_view(request: TenantRequest, application_id: uuid.UUID) -> HttpResponse:
    application = api_application_get(tenant=request.tenant, application_id=application_id)
    context = {
        "application": application,
        "tokens": api_token_list(tenant=request.tenant, application=application),
        "scope_descriptions": [scope for scope in all_scopes() if scope.code in application.scopes],
        "rotate_form": ApiTokenRotateForm(),
    }
    return render(request, "authn/api_application_detail.html", context)


@require_http_methods(["GET", "POST"])
@require_permission(PERMISSION)
@require_step_up
def api_application_scopes_view(request: TenantRequest, application_id: uuid.UUID) -> HttpResponse:
    application = api_application_get(tenant=request.tenant, application_id=application_id)
    if application.revoked_at is not None:
        messages.error(request, "This application was revoked; its scopes can no longer change.")
        return redirect("authn:api_application_detail", application_id=application.pk)
    form = ApiApplicationScopesForm(
        request.POST if request.method == "POST" else None, initial={"scopes": application.scopes}
    )
    if request.method == "POST" and form.is_valid():
        try:
            api_application_update_scopes(
                tenant=request.tenant, actor=request.user, application=application, scopes=form.cleaned_data["scopes"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Saved the scopes of “{application.name}”. They apply to its next call.")
            return redirect("authn:api_application_detail", application_id=application.pk)
    status = 400 if form.errors else 200
    context = {"application": application, "form": form, "scope_options": _scope_options(form)}
    return render(request, "authn/api_application_scopes.html", context, status=status)


@require_POST
@require_permission(PERMISSION)
@require_step_up
def api_token_rotate_view(request: TenantRequest, application_id: uuid.UUID) -> HttpResponse:
    application = api_application_get(tenant=request.tenant, application_id=application_id)
    form = ApiTokenRotateForm(request.POST)
    if form.is_valid():
        try:
            issued = api_token_rotate(
                tenant=request.tenant, actor=request.user, application=application, lifetime=form.lifetime()
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            return _show_secret(request, issued, rotated=True)
    else:
        messages.error(request, "Choose how long the new token lasts.")
    return redirect("authn:api_application_detail", application_id=application.pk)


@require_POST
@require_permission(PERMISSION)
@require_step_up
def api_application_revoke_view(request: TenantRequest, application_id: uuid.UUID) -> HttpResponse:
    application = api_application_get(tenant=request.tenant, application_id=application_id)
    api_application_revoke(tenant=request.tenant, actor=request.user, application=application)
    messages.success(request, f"Revoked “{application.name}”. Calls with its tokens now fail.")
    return redirect("authn:api_application_list")
