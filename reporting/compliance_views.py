"""Compliance report pages (compliance officers and admins: ``reports.compliance``): the report
over a period (PHI exposure summary and paged messages, consent, BAA status, audit summary), and
its exports (request, live progress, download after a fresh passkey step-up).
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from audit.selectors import audit_latest_checkpoint
from audit.services import actor_for_request
from authn.stepup import require_step_up
from reporting.compliance import (
    MINIMUM_NECESSARY,
    audit_summary,
    baa_summary,
    consent_summary,
    exposure_row,
    phi_exposure_rows,
    phi_exposure_summary,
)
from reporting.compliance_exports import (
    RECENT_SHOWN,
    ExportNotReady,
    report_export_download,
    report_export_get,
    report_export_list,
    report_export_request,
)
from reporting.compliance_forms import ExportRequestForm, PeriodForm
from reporting.models import ExportFormat, ReportExport
from tenants.access import require_permission
from tenants.http import TenantRequest

ROWS_PER_PAGE = 50
CONTENT_TYPES = {ExportFormat.CSV: "text/csv; charset=utf-8", ExportFormat.HTML: "text/html; charset=utf-8"}


@require_GET
@require_permission("reports.compliance")
def report_view(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant
    asked = "start" in request.GET or "end" in request.GET
    form = PeriodForm(request.GET if asked else None)
    period = form.period()
    if not asked:  # show the default period in the fields
        form = PeriodForm(initial={"start": period.start, "end": period.end})
    summary = phi_exposure_summary(tenant=tenant, period=period)
    paginator = Paginator(phi_exposure_rows(tenant=tenant, period=period), ROWS_PER_PAGE)
    paginator.count = summary.total  # type: ignore[misc]  # the summary counted them: no second count
    page = paginator.get_page(request.GET.get("page"))
    page.object_list = [exposure_row(row) for row in page.object_list]
    query = urlencode({"start": period.start.isoformat(), "end": period.end.isoformat()})
    context = {
        "form": form,
        "period": period,
        "summary": summary,
        "page": page,
        "query": query,
        "consent": consent_summary(tenant=tenant, period=period),
        "baa": baa_summary(tenant=tenant),
        "audit": audit_summary(tenant=tenant, period=period),
        "checkpoint": audit_latest_checkpoint(tenant=tenant),
        "exports": list(report_export_list(tenant=tenant)[:RECENT_SHOWN]),
        "export_form": ExportRequestForm(initial={"start": period.start, "end": period.end}),
        "minimum_necessary": MINIMUM_NECESSARY,
    }
    return render(request, "reporting/compliance_report.html", context)


@require_POST
@require_permission("reports.compliance")
def export_request_view(request: TenantRequest) -> HttpResponse:
    form = ExportRequestForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect("reporting_compliance:report")
    period = PeriodForm(request.POST).period()
    export = report_export_request(
        tenant=request.tenant,
        actor=actor_for_request(request),
        user=request.user,  # type: ignore[arg-type]
        period=period,
        export_format=form.cleaned_data["format"],
    )
    return redirect("reporting_compliance:export_detail", export_id=export.pk)


def _progress_context(export: ReportExport) -> dict[str, object]:
    return {"export": export}


@require_GET
@require_permission("reports.compliance")
def export_detail_view(request: TenantRequest, export_id: uuid.UUID) -> HttpResponse:
    export = report_export_get(tenant=request.tenant, export_id=export_id)
    return render(request, "reporting/compliance_export_detail.html", _progress_context(export))


@require_GET
@require_permission("reports.compliance")
def export_progress_view(request: TenantRequest, export_id: uuid.UUID) -> HttpResponse:
    export = report_export_get(tenant=request.tenant, export_id=export_id)
    return render(request, "reporting/_compliance_export_progress.html", _progress_context(export))


@require_GET
@require_permission("reports.compliance")
@require_step_up
def export_download_view(request: TenantRequest, export_id: uuid.UUID) -> HttpResponse:
    """The decrypted file, streamed; every download is audited (after a fresh step-up, like
    every export)."""
    export = report_export_get(tenant=request.tenant, export_id=export_id)
    try:
        chunks = report_export_download(tenant=request.tenant, actor=actor_for_request(request), export=export)
    except ExportNotReady as error:
        messages.error(request, str(error))
        return redirect("reporting_compliance:export_detail", export_id=export.pk)
    response = StreamingHttpResponse(chunks, content_type=CONTENT_TYPES[ExportFormat(export.format)])
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response  # type: ignore[return-value]  # streamed: the decorators only pass it through
