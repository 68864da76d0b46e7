"""The BAA pages: status and history (admins, compliance officers), signing and terminating
(admins, after a fresh passkey step-up), the signed copy as a self-contained HTML download, and
the sub-processor register."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.services import actor_for_request
from authn.stepup import has_fresh_step_up, require_step_up_for_changes, step_up_url
from baa.forms import SignForm, SubProcessorForm, TerminateForm
from baa.gate import phi_sending_decision
from baa.models import AgreementStatus, BaaStatus
from baa.selectors import (
    agreement_get,
    agreement_in_force,
    agreement_list,
    agreement_pending,
    document_current,
    subprocessor_get,
    subprocessor_list,
    utc_date,
)
from baa.services import (
    BaaError,
    agreement_download_record,
    agreement_draft_create,
    agreement_sign,
    agreement_terminate,
    subprocessor_add,
    subprocessor_remove,
    subprocessor_update,
)
from sealpost.request_id import client_ip
from tenants.access import require_permission
from tenants.http import TenantRequest
from tenants.permissions import role_has_permission

# An agreement in force this close to its expiry date can be renewed (signed again) from the page.
RENEWAL_WINDOW = timedelta(days=60)


@require_GET
@require_permission("baa.view")
def baa_status_view(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant
    in_force = agreement_in_force(tenant=tenant)
    document = document_current()
    renewal = in_force is not None and (
        (document is not None and document.version > in_force.document.version)
        or (in_force.expiry_date is not None and in_force.expiry_date - utc_date() <= RENEWAL_WINDOW)
    )
    context = {
        "decision": phi_sending_decision(tenant=tenant, phi=True),
        "in_force": in_force,
        "renewal": renewal,
        "pending": agreement_pending(tenant=tenant),
        "agreements": list(agreement_list(tenant=tenant)),
        "document": document,
        "can_sign": role_has_permission(request.membership.role, "baa.sign"),
        "statuses": AgreementStatus,
    }
    return render(request, "baa/status.html", context)


@require_POST
@require_permission("baa.sign")
def agreement_prepare_view(request: TenantRequest) -> HttpResponse:
    try:
        agreement = agreement_draft_create(
            tenant=request.tenant, actor=actor_for_request(request), created_by=request.user
        )
    except BaaError as error:
        messages.error(request, error.message)
        return redirect("baa:status")
    return redirect("baa:agreement_sign", agreement_id=agreement.pk)


@require_http_methods(["GET", "POST"])
@require_permission("baa.sign")
@require_step_up_for_changes
def agreement_sign_view(request: TenantRequest, agreement_id: uuid.UUID) -> HttpResponse:
    tenant = request.tenant
    agreement = agreement_get(tenant=tenant, agreement_id=agreement_id)
    if agreement.status != AgreementStatus.DRAFT:
        messages.info(request, "This agreement is already signed; it cannot be signed again.")
        return redirect("baa:status")
    initial = {
        "signer_name": request.user.full_name,
        "signer_organisation": tenant.name,
        "document_sha256": agreement.document.sha256,
    }
    form = SignForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            agreement_sign(
                tenant=tenant,
                actor=actor_for_request(request),
                agreement=agreement,
                signed_by=request.user,
                signer_name=data["signer_name"],
                signer_title=data["signer_title"],
                signer_organisation=data["signer_organisation"],
                document_sha256=data["document_sha256"],
                ip=client_ip(request) or None,
            )
        except BaaError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, "Agreement signed and countersigned by Sealpost: it is now in force.")
            return redirect("baa:status")
    context = {
        "agreement": agreement,
        "document": agreement.document,
        "form": form,
        "fresh_step_up": has_fresh_step_up(request),
        "step_up_link": step_up_url(request),
    }
    return render(request, "baa/sign.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@require_permission("baa.sign")
@require_step_up_for_changes
def agreement_terminate_view(request: TenantRequest, agreement_id: uuid.UUID) -> HttpResponse:
    tenant = request.tenant
    agreement = agreement_get(tenant=tenant, agreement_id=agreement_id)
    if agreement.status != AgreementStatus.ACTIVE:
        messages.info(request, "Only an active agreement can be terminated.")
        return redirect("baa:status")
    form = TerminateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            agreement_terminate(
                tenant=tenant,
                actor=actor_for_request(request),
                agreement=agreement,
                reason=form.cleaned_data["reason"],
                terminated_by=request.user,
            )
        except BaaError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, "Agreement terminated. No PHI will be sent until a new one is signed.")
            return redirect("baa:status")
    context = {
        "agreement": agreement,
        "form": form,
        "fresh_step_up": has_fresh_step_up(request),
        "step_up_link": step_up_url(request),
    }
    return render(request, "baa/terminate.html", context, status=400 if form.errors else 200)


@require_GET
@require_permission("baa.view")
def agreement_download_view(request: TenantRequest, agreement_id: uuid.UUID) -> HttpResponse:
    """The signed agreement as one self-contained HTML file (no external resources)."""
    tenant = request.tenant
    agreement = agreement_get(tenant=tenant, agreement_id=agreement_id)
    if not agreement.is_signed:
        raise Http404("This agreement is not signed yet.")
    agreement_download_record(tenant=tenant, actor=actor_for_request(request), agreement=agreement)
    body = render_to_string("baa/agreement_document.html", {"agreement": agreement, "document": agreement.document})
    response = HttpResponse(body, content_type="text/html; charset=utf-8")
    filename = f"sealpost-baa-v{agreement.document.version}-{agreement.pk}.html"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


# --- Sub-processors -----------------------------------------------------------------------------


@require_GET
@require_permission("baa.view")
def subprocessor_list_view(request: TenantRequest) -> HttpResponse:
    context = {
        "subprocessors": list(subprocessor_list(tenant=request.tenant)),
        "can_manage": role_has_permission(request.membership.role, "subprocessors.manage"),
    }
    return render(request, "baa/subprocessor_list.html", context)


def _apply(form: SubProcessorForm, error: BaaError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


@require_http_methods(["GET", "POST"])
@require_permission("subprocessors.manage")
def subprocessor_create_view(request: TenantRequest) -> HttpResponse:
    form = SubProcessorForm(request.POST or None, initial={"handles_phi": True, "baa_status": BaaStatus.PENDING})
    if request.method == "POST" and form.is_valid():
        try:
            subprocessor = subprocessor_add(
                tenant=request.tenant, actor=actor_for_request(request), data=form.to_input()
            )
        except BaaError as error:
            _apply(form, error)
        else:
            messages.success(request, f"{subprocessor.name} added to the sub-processors.")
            return redirect("baa:subprocessor_list")
    return render(
        request, "baa/subprocessor_form.html", {"form": form, "subprocessor": None}, status=400 if form.errors else 200
    )


@require_http_methods(["GET", "POST"])
@require_permission("subprocessors.manage")
def subprocessor_edit_view(request: TenantRequest, subprocessor_id: uuid.UUID) -> HttpResponse:
    subprocessor = subprocessor_get(tenant=request.tenant, subprocessor_id=subprocessor_id)
    initial = {
        "name": subprocessor.name,
        "purpose": subprocessor.purpose,
        "handles_phi": subprocessor.handles_phi,
        "baa_status": subprocessor.baa_status,
        "baa_date": subprocessor.baa_date,
    }
    form = SubProcessorForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            subprocessor = subprocessor_update(
                tenant=request.tenant, actor=actor_for_request(request), subprocessor=subprocessor, data=form.to_input()
            )
        except BaaError as error:
            _apply(form, error)
        else:
            messages.success(request, f"{subprocessor.name} saved.")
            return redirect("baa:subprocessor_list")
    context = {"form": form, "subprocessor": subprocessor}
    return render(request, "baa/subprocessor_form.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@require_permission("subprocessors.manage")
def subprocessor_delete_view(request: TenantRequest, subprocessor_id: uuid.UUID) -> HttpResponse:
    subprocessor = subprocessor_get(tenant=request.tenant, subprocessor_id=subprocessor_id)
    if request.method == "POST":
        subprocessor_remove(tenant=request.tenant, actor=actor_for_request(request), subprocessor=subprocessor)
        messages.success(request, f"{subprocessor.name} removed from the sub-processors.")
        return redirect("baa:subprocessor_list")
    return render(request, "baa/subprocessor_delete.html", {"subprocessor": subprocessor})
