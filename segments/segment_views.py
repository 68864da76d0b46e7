"""Web pages of saved segments: everyone sees them with live counts; admins and marketers build,
change and delete them. The builder's preview shows a count and a masked sample (initials and a
masked email), never names or addresses in full."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from audit.services import actor_for_request
from segments.models import Segment
from segments.rules import InvalidRules, RuleError
from segments.segment_services import (
    SegmentError,
    builder_catalogue,
    segment_counts,
    segment_create,
    segment_delete,
    segment_get,
    segment_list,
    segment_preview,
    segment_update,
)
from segments.services import contact_list_view_record
from tenants.access import require_permission
from tenants.http import TenantRequest
from tenants.permissions import role_has_permission

MAX_RULES_BYTES = 64 * 1024
EMPTY_RULES: dict[str, Any] = {"all": []}


def _rules_from(request: TenantRequest) -> tuple[Any, list[RuleError]]:
    raw = request.POST.get("rules", "")
    if len(raw) > MAX_RULES_BYTES:
        return None, [RuleError("rules", "The rules are too large.")]
    try:
        return json.loads(raw), []
    except ValueError:
        return None, [RuleError("rules", "The rules are not valid JSON.")]


def _preview_context(request: TenantRequest, rules: Any, errors: list[RuleError]) -> dict[str, Any]:
    if not errors:
        try:
            preview = segment_preview(tenant=request.tenant, rules=rules)
        except InvalidRules as invalid:
            errors = invalid.errors
        else:
            # Initials and masked emails are still drawn from PHI: audited like the masked list.
            contact_list_view_record(tenant=request.tenant, actor=actor_for_request(request), contacts=preview.sample)
            return {"count": preview.count, "sample": preview.sample, "rule_errors": []}
    return {"count": None, "sample": [], "rule_errors": errors}


def _builder(
    request: TenantRequest,
    *,
    segment: Segment | None,
    name: str,
    description: str,
    rules_text: str,
    rules: Any,
    errors: list[RuleError],
    field_errors: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "segment": segment,
        "name": name,
        "description": description,
        "rules_text": rules_text,
        "catalogue": builder_catalogue(tenant=request.tenant),
        "can_manage": role_has_permission(request.membership.role, "segments.manage"),
        "field_errors": field_errors or {},
        **_preview_context(request, rules, errors),
    }
    return render(request, "segments/segment_builder.html", context, status=status)


def _save(request: TenantRequest, segment: Segment | None) -> HttpResponse:
    name = request.POST.get("name", "")
    description = request.POST.get("description", "")
    rules_text = request.POST.get("rules", "")
    rules, errors = _rules_from(request)
    field_errors: dict[str, str] = {}
    if not errors:
        try:
            if segment is None:
                segment = segment_create(
                    tenant=request.tenant,
                    actor=actor_for_request(request),
                    created_by=request.user,  # type: ignore[arg-type]
                    name=name,
                    description=description,
                    rules=rules,
                )
                messages.success(request, "Segment saved.")
            else:
                segment_update(
                    tenant=request.tenant,
                    actor=actor_for_request(request),
                    segment=segment,
                    name=name,
                    description=description,
                    rules=rules,
                )
                messages.success(request, "Segment updated.")
            return redirect("segments:segment_detail", segment_id=segment.pk)
        except InvalidRules as invalid:
            errors = invalid.errors
        except SegmentError as error:
            field_errors[error.field] = error.message
    return _builder(
        request,
        segment=segment,
        name=name,
        description=description,
        rules_text=rules_text,
        rules=rules,
        errors=errors,
        field_errors=field_errors,
        status=400,
    )


@require_http_methods(["GET"])
@require_permission("segments.view")
def segment_list_view(request: TenantRequest) -> HttpResponse:
    segments = segment_list(tenant=request.tenant)
    counts = segment_counts(tenant=request.tenant, segments=segments)
    context = {
        "rows": [(segment, counts[segment.pk]) for segment in segments],
        "can_manage": role_has_permission(request.membership.role, "segments.manage"),
    }
    return render(request, "segments/segment_list.html", context)


@require_http_methods(["GET", "POST"])
@require_permission("segments.manage")
def segment_create_view(request: TenantRequest) -> HttpResponse:
    if request.method == "POST":
        return _save(request, None)
    text = json.dumps(EMPTY_RULES)
    return _builder(request, segment=None, name="", description="", rules_text=text, rules=EMPTY_RULES, errors=[])


@require_http_methods(["GET", "POST"])
@require_permission("segments.view")
def segment_detail_view(request: TenantRequest, segment_id: uuid.UUID) -> HttpResponse:
    """Everyone with segments.view sees the builder read-only; saving changes needs manage."""
    segment = segment_get(tenant=request.tenant, segment_id=segment_id)
    if request.method == "POST":
        if not role_has_permission(request.membership.role, "segments.manage"):
            raise PermissionDenied("Your role does not include segments.manage.")
        return _save(request, segment)
    return _builder(
        request,
        segment=segment,
        name=segment.name,
        description=segment.description,
        rules_text=json.dumps(segment.rules, indent=2),
        rules=segment.rules,
        errors=[],
    )


@require_http_methods(["GET", "POST"])
@require_permission("segments.manage")
def segment_delete_view(request: TenantRequest, segment_id: uuid.UUID) -> HttpResponse:
    segment = segment_get(tenant=request.tenant, segment_id=segment_id)
    if request.method == "POST":
        segment_delete(tenant=request.tenant, actor=actor_for_request(request), segment=segment)
        messages.success(request, "Segment deleted.")
        return redirect("segments:segment_list")
    return render(request, "segments/segment_delete.html", {"segment": segment})


@require_http_methods(["POST"])
@require_permission("segments.view")
def segment_preview_view(request: TenantRequest) -> HttpResponse:
    """The builder's live count and masked sample for the posted rules (htmx partial)."""
    rules, errors = _rules_from(request)
    return render(request, "segments/_segment_preview.html", _preview_context(request, rules, errors))
