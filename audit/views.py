from __future__ import annotations

import json
from collections.abc import Iterable

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from audit.exports import csv_rows, json_document
from audit.forms import AuditFilterForm
from audit.models import AuditEvent
from audit.selectors import audit_checkpoints, audit_event_get, audit_event_list, audit_latest_checkpoint
from audit.services import actor_for_request, record
from audit.verify import verify_chain
from authn.stepup import require_step_up
from tenants.access import require_permission
from tenants.http import TenantRequest

EVENTS_PER_PAGE = 50


def _mark_break_glass(events: Iterable[AuditEvent]) -> None:
    """Flag the events to highlight: emergency access itself (``break_glass.*``) and everything
    done under it (``details["break_glass"]``, the grant id)."""
    for event in events:
        marker = json.loads(event.details or "{}").get("break_glass") if '"break_glass"' in event.details else None
        # A grant id; conditional-access decisions may also carry a plain True/False signal.
        event.break_glass_grant = marker if isinstance(marker, str) else None  # type: ignore[attr-defined]
        event.is_break_glass = bool(marker) or event.action.startswith("break_glass.")  # type: ignore[attr-defined]


@require_GET
@require_permission("audit.view")
def event_list(request: TenantRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    filters = form.filters()
    paginator = Paginator(audit_event_list(tenant=request.tenant, filters=filters), EVENTS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    _mark_break_glass(page.object_list)
    record(
        tenant=request.tenant,
        action="audit.viewed",
        actor=actor_for_request(request),
        details={"filters": filters.used(), "page": page.number},
    )
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "checkpoint": audit_latest_checkpoint(tenant=request.tenant),
    }
    return render(request, "audit/event_list.html", context)


@require_GET
@require_permission("audit.view")
def event_detail(request: TenantRequest, event_id: int) -> HttpResponse:
    event = audit_event_get(tenant=request.tenant, event_id=event_id)
    _mark_break_glass([event])
    record(
        tenant=request.tenant, action="audit.viewed", actor=actor_for_request(request), details={"event_id": event.pk}
    )
    return render(request, "audit/event_detail.html", {"event": event})


@require_POST
@require_permission("audit.view")
def verify_now(request: TenantRequest) -> HttpResponse:
    report = verify_chain(request.tenant)
    context = {
        "report": report,
        "checked_at": timezone.now(),
        "checkpoint": audit_latest_checkpoint(tenant=request.tenant),
    }
    template = "audit/_verification.html" if request.htmx else "audit/verification.html"
    return render(request, template, context)


def _export_filename(request: TenantRequest, extension: str) -> str:
    return f"sealpost-audit-{request.tenant.slug}-{timezone.now():%Y%m%d-%H%M%S}.{extension}"


def _exported_events(request: TenantRequest, export_format: str) -> QuerySet[AuditEvent]:
    """The filtered chain, oldest first, with the export itself recorded."""
    filters = AuditFilterForm(request.GET or None).filters()
    events = audit_event_list(tenant=request.tenant, filters=filters).order_by("seq")
    record(
        tenant=request.tenant,
        action="audit.exported",
        actor=actor_for_request(request),
        details={"format": export_format, "filters": filters.used(), "count": events.count()},
    )
    return events


def _download(request: TenantRequest, body: str, content_type: str, extension: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{_export_filename(request, extension)}"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@require_permission("audit.export")
@require_step_up
def export_csv(request: TenantRequest) -> HttpResponse:
    events = _exported_events(request, "csv")
    # Built inside the request's transaction, where row-level security admits the tenant's rows.
    return _download(request, "".join(csv_rows(events.iterator(chunk_size=2000))), "text/csv", "csv")


@require_GET
@require_permission("audit.export")
@require_step_up
def export_json(request: TenantRequest) -> HttpResponse:
    events = _exported_events(request, "json")
    document = json_document(
        tenant_slug=request.tenant.slug,
        chain_id=request.tenant.pk,
        events=events.iterator(chunk_size=2000),
        checkpoints=audit_checkpoints(tenant=request.tenant),
    )
    return _download(request, document, "application/json", "json")
