"""Compliance report exports: requested by a member (or an API token), generated in the
background, stored encrypted, downloaded by the organisation's members with the permission.

1. ``report_export_request`` records the request (``report.export_requested``) and queues the
   Celery task once the request commits.
2. ``report_export_run`` (the task) claims the export (compare-and-set), writes the report's
   sections (BAA status, consent summary, audit summary with the chain's verification), then
   the PHI-bearing messages **in keyset chunks** of ``CHUNK_ROWS``, each read and written in a
   short transaction of its own and counted on the export's row (committed: the progress bar
   polls it), then the PHI exposure totals, computed from the very rows written. The file is
   encrypted as it is written (``reporting.export_files``). It ends ``done`` with
   ``report.export_generated``, or ``failed`` with ``report.export_failed`` (an error code).
   Messages are those whose last change fell in the period and before the export started; a
   message that changes state while the export runs may appear with its earlier state.
3. ``report_export_download`` records each download (``report.export_downloaded``) and streams
   the decrypted file. Exports expire after ``EXPORT_TTL`` (the file is deleted).

Every cell of the CSV is escaped against formula injection (``audit.exports.spreadsheet_safe``);
the HTML document escapes every value and carries its own print stylesheet.
"""

from __future__ import annotations

import csv
import io
import logging
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.http import Http404
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import escape

from audit.exports import spreadsheet_safe
from audit.services import Actor, Target, record, system_actor
from authn.models import User
from reporting.compliance import (
    MINIMUM_NECESSARY,
    PROTECTION_LABELS,
    ROW_FIELDS,
    PhiExposureSummary,
    ReportPeriod,
    _phi_messages,
    audit_summary,
    baa_summary,
    consent_summary,
    exposure_row,
    summarise,
)
from reporting.export_files import ExportFileError, ExportWriter, export_chunks, export_delete
from reporting.models import ExportFormat, ExportKind, ExportStatus, ReportExport
from tenants.context import require_tenant_is_current, tenant_context
from tenants.models import Organisation

logger = logging.getLogger(__name__)

CHUNK_ROWS = 2000
EXPORT_TTL = timedelta(days=7)
# A running export whose row has not moved for this long lost its worker: a redelivered task
# may take it over (tasks ack late).
STALE_AFTER = timedelta(minutes=15)
RECENT_SHOWN = 10
GENERATOR = system_actor("reporting.export")

CSV_COLUMNS = (
    "section",
    "item",
    "value",
    "message_id",
    "last_change",
    "campaign_id",
    "campaign",
    "recipient_domain",
    "status",
    "level",
    "protection",
    "tls_version",
    "reason_codes",
)


class ExportNotReady(Exception):
    """The export is not (or no longer) downloadable; ``code``: not_ready, expired, missing."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# --- Request, read ------------------------------------------------------------------------------


def report_export_request(
    *, tenant: Organisation, actor: Actor, user: User, period: ReportPeriod, export_format: str
) -> ReportExport:
    """Record the request and queue its generation (after commit)."""
    from reporting.compliance_tasks import compliance_export_task

    require_tenant_is_current(tenant)
    if export_format not in ExportFormat.values:
        raise ValueError("Unknown export format.")
    with transaction.atomic():
        export = ReportExport(
            tenant=tenant,
            kind=ExportKind.COMPLIANCE,
            format=export_format,
            period_start=period.start,
            period_end=period.end,
            requested_by=user,
        )
        export.save()
        record(
            tenant=tenant,
            action="report.export_requested",
            actor=actor,
            target=Target.of(export),
            details={
                "report": ExportKind.COMPLIANCE.value,
                "format": export_format,
                "from": period.start.isoformat(),
                "to": period.end.isoformat(),
            },
        )
        tenant_id, export_id = tenant.pk, str(export.pk)
        transaction.on_commit(lambda: compliance_export_task.delay(tenant_id, export_id))
    return export


def report_export_get(*, tenant: Organisation, export_id: uuid.UUID | str) -> ReportExport:
    """404 both for an export that does not exist and for another organisation's."""
    require_tenant_is_current(tenant)
    try:
        export_uuid = uuid.UUID(str(export_id))
    except ValueError:
        raise Http404("No such export.") from None
    export = ReportExport.objects.for_tenant(tenant).filter(pk=export_uuid).select_related("requested_by").first()
    if export is None:
        raise Http404("No such export.")
    return export


def report_export_list(*, tenant: Organisation) -> QuerySet[ReportExport]:
    require_tenant_is_current(tenant)
    return ReportExport.objects.for_tenant(tenant).select_related("requested_by").order_by("-created_at")


# --- Download -----------------------------------------------------------------------------------


def report_export_download(*, tenant: Organisation, actor: Actor, export: ReportExport) -> Iterator[bytes]:
    """Record the download and return the decrypted file's chunks. ``ExportNotReady`` when it is
    not finished, expired or its file is gone (nothing recorded then)."""
    require_tenant_is_current(tenant)
    if export.status != ExportStatus.DONE:
        code = "expired" if export.status == ExportStatus.EXPIRED else "not_ready"
        raise ExportNotReady(code, "This export is not ready for download." if code == "not_ready" else "Expired.")
    if export.expires_at is not None and export.expires_at <= timezone.now():
        raise ExportNotReady("expired", "This export has expired; request a new one.")
    chunks = export_chunks(tenant=tenant, export_id=export.pk)
    try:
        first = next(chunks)  # fails now (not mid-response) for a missing or altered file
    except ExportFileError as error:
        logger.warning("report export %s could not be read (%s)", export.pk, type(error).__name__)
        raise ExportNotReady("missing", "The export's file could not be read; request a new one.") from error
    with transaction.atomic():
        ReportExport.objects.for_tenant(tenant).filter(pk=export.pk).update(download_count=F("download_count") + 1)
        record(
            tenant=tenant,
            action="report.export_downloaded",
            actor=actor,
            target=Target.of(export),
            details={"format": export.format, "bytes": export.size_bytes},
        )

    def stream() -> Iterator[bytes]:
        yield first
        yield from chunks

    return stream()


def report_exports_expire(*, tenant: Organisation, now: datetime | None = None) -> int:
    """Delete the files of exports past their expiry and mark them expired."""
    require_tenant_is_current(tenant)
    now = now or timezone.now()
    expired = list(
        ReportExport.objects.for_tenant(tenant)
        .filter(status=ExportStatus.DONE, expires_at__lte=now)
        .values_list("pk", flat=True)
    )
    for export_id in expired:
        export_delete(tenant=tenant, export_id=export_id)
    if expired:
        ReportExport.objects.for_tenant(tenant).filter(pk__in=expired).update(status=ExportStatus.EXPIRED)
    return len(expired)


# --- Generation ---------------------------------------------------------------------------------


def _claim(tenant: Organisation, export_id: str, now: datetime) -> ReportExport | None:
    with tenant_context(tenant):
        claimed = (
            ReportExport.objects.for_tenant(tenant)
            .filter(pk=export_id)
            .filter(Q(status=ExportStatus.QUEUED) | Q(status=ExportStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER))
            .update(status=ExportStatus.RUNNING, started_at=now, heartbeat_at=now, processed_rows=0, total_rows=0)
        )
        if not claimed:
            return None
        return ReportExport.objects.for_tenant(tenant).get(pk=export_id)


def _progress(tenant: Organisation, export: ReportExport, **fields: Any) -> None:
    """Commit progress on the export's row (the page polls it), with a heartbeat: a live export
    is never taken for a stale one."""
    with tenant_context(tenant):
        ReportExport.objects.for_tenant(tenant).filter(pk=export.pk, status=ExportStatus.RUNNING).update(
            heartbeat_at=timezone.now(), **fields
        )


def report_export_run(*, tenant: Organisation, export_id: str, now: datetime | None = None) -> str:
    """Generate one export (the task's body); returns its final status, or "skipped" when it
    was not this call's to run (already done, or running elsewhere)."""
    started = now or timezone.now()
    export = _claim(tenant, export_id, started)
    if export is None:
        return "skipped"
    period = ReportPeriod(export.period_start, export.period_end)
    writer = ExportWriter(tenant=tenant, export_id=export.pk)
    try:
        with tenant_context(tenant):
            total = _phi_messages(tenant, period, before=started).count()
            context = _sections(tenant, period, started)
        _progress(tenant, export, total_rows=total)
        out = CsvOut(writer) if export.format == ExportFormat.CSV else HtmlOut(writer)
        with tenant_context(tenant):
            out.head(tenant=tenant, export=export, context=context)
        groups = _write_rows(tenant, export, period, started, out)
        with tenant_context(tenant):
            out.tail(summarise(period, groups))
            size = writer.finish()
            written = sum(groups.values())
            ReportExport.objects.for_tenant(tenant).filter(pk=export.pk).update(
                status=ExportStatus.DONE,
                processed_rows=written,
                total_rows=written,
                size_bytes=size,
                finished_at=timezone.now(),
                expires_at=timezone.now() + EXPORT_TTL,
            )
            record(
                tenant=tenant,
                action="report.export_generated",
                actor=GENERATOR,
                target=Target.of(export),
                details={"format": export.format, "rows": written, "bytes": size},
            )
        return ExportStatus.DONE
    except Exception as error:
        writer.abort()
        # The error's type only: a database error's text may quote row values.
        logger.error("report export %s failed (%s)", export.pk, type(error).__name__)
        code = "keys_unavailable" if type(error).__name__ == "KeyUnavailable" else "generation_failed"
        with tenant_context(tenant):
            ReportExport.objects.for_tenant(tenant).filter(pk=export.pk).update(
                status=ExportStatus.FAILED, error=code, finished_at=timezone.now()
            )
            record(
                tenant=tenant,
                action="report.export_failed",
                actor=GENERATOR,
                target=Target.of(export),
                details={"format": export.format, "error": code},
            )
        return ExportStatus.FAILED


def _sections(tenant: Organisation, period: ReportPeriod, started: datetime) -> dict[str, Any]:
    from audit.selectors import audit_latest_checkpoint
    from audit.verify import verify_chain

    return {
        "period": period,
        "generated_at": started,
        "baa": baa_summary(tenant=tenant),
        "consent": consent_summary(tenant=tenant, period=period),
        "audit": audit_summary(tenant=tenant, period=period),
        "verification": verify_chain(tenant),
        "checkpoint": audit_latest_checkpoint(tenant=tenant),
        "minimum_necessary": MINIMUM_NECESSARY,
    }


def _write_rows(
    tenant: Organisation, export: ReportExport, period: ReportPeriod, started: datetime, out: Any
) -> Counter[tuple[str, str, str]]:
    """The messages oldest first, ``CHUNK_ROWS`` per short transaction, after the last one
    written (keyset on (updated_at, id)); returns their counts per (status, action, protocol)."""
    groups: Counter[tuple[str, str, str]] = Counter()
    written = 0
    after: tuple[datetime, int] | None = None
    while True:
        with tenant_context(tenant):
            rows = _phi_messages(tenant, period, before=started)
            if after is not None:
                rows = rows.filter(updated_at__gte=after[0]).exclude(updated_at=after[0], id__lte=after[1])
            chunk = list(rows.order_by("updated_at", "id").values(*ROW_FIELDS)[:CHUNK_ROWS])
            if not chunk:
                return groups
            shaped = [exposure_row(row) for row in chunk]
            out.rows(shaped)
        for row in chunk:
            groups[(row["status"], row["protection_action"], row["tls_version"])] += 1
        written += len(chunk)
        after = (chunk[-1]["updated_at"], chunk[-1]["id"])
        _progress(tenant, export, processed_rows=written)
        if len(chunk) < CHUNK_ROWS:
            return groups


# --- Formats ------------------------------------------------------------------------------------


class CsvOut:
    """One table; ``section`` says what a row is (the report's facts, BAA, consent, audit, one
    PHI-bearing message, the totals). Every cell is escaped against formula injection."""

    def __init__(self, writer: ExportWriter) -> None:
        self.writer = writer

    def _write(self, rows: Sequence[Sequence[Any]]) -> None:
        buffer = io.StringIO()
        out = csv.writer(buffer)
        for row in rows:
            out.writerow([spreadsheet_safe(cell) for cell in row])
        self.writer.write(buffer.getvalue())

    @staticmethod
    def _fact(section: str, item: str, value: Any) -> list[Any]:
        return [section, item, value] + [""] * (len(CSV_COLUMNS) - 3)

    def head(self, *, tenant: Organisation, export: ReportExport, context: dict[str, Any]) -> None:
        period: ReportPeriod = context["period"]
        baa = context["baa"]
        consent = context["consent"]
        audit = context["audit"]
        verification = context["verification"]
        f = self._fact
        rows: list[list[Any]] = [
            list(CSV_COLUMNS),
            f("report", "organisation", tenant.name),
            f("report", "from", period.start.isoformat()),
            f("report", "to", period.end.isoformat()),
            f("report", "generated_at", context["generated_at"].isoformat()),
            f("report", "minimum_necessary", context["minimum_necessary"]),
            f("baa", "phi_sending_allowed", "yes" if baa.phi_allowed else "no"),
            f("baa", "status", baa.code),
            f("baa", "expiry_date", baa.expiry_date.isoformat() if baa.expiry_date else ""),
            f("baa", "subprocessors_handling_phi", baa.subprocessors_handling_phi),
        ]
        rows += [f("baa", "subprocessor_without_baa", name) for name in baa.subprocessors_without_baa]
        rows.append(f("consent", "contacts_total", consent.contacts_total))
        for purpose in consent.purposes:
            for status in ("granted", "pending", "revoked", "never_asked"):
                rows.append(f("consent", f"{purpose.purpose.key}:{status}", getattr(purpose, status)))
        for change in consent.changes:
            rows.append(f("consent_change", f"{change.kind}:{change.purpose}:{change.to_status}", change.count))
        rows.append(f("audit", "events_total", audit.total))
        rows += [f("audit", action, n) for action, n in audit.by_action]
        rows.append(f("audit_chain", "verified", "yes" if verification.ok else "no"))
        rows.append(f("audit_chain", "events", verification.events))
        if not verification.ok:
            rows.append(f("audit_chain", "first_broken_seq", verification.first_broken_seq))
        self._write(rows)

    def rows(self, rows: list[dict[str, Any]]) -> None:
        self._write(
            [
                [
                    "phi_message",
                    "",
                    "",
                    row["id"],
                    row["updated_at"].isoformat(),
                    row["campaign_id"],
                    row["campaign__name"],
                    row["recipient_domain"],
                    row["status"],
                    row["level"],
                    row["protection"],
                    row["tls_version"],
                    " ".join(row["reason_codes"]),
                ]
                for row in rows
            ]
        )

    def tail(self, summary: PhiExposureSummary) -> None:
        f = self._fact
        rows = [f("phi_summary", "total", summary.total)]
        rows += [f("phi_summary", row.code, row.count) for row in summary.by_protection]
        rows += [f("phi_tls", version or "none", n) for version, n in summary.tls_versions.items()]
        self._write(rows)


class HtmlOut:
    """A standalone document with its own print stylesheet: the report's sections, the table of
    PHI-bearing messages (written a chunk at a time), then the totals."""

    def __init__(self, writer: ExportWriter) -> None:
        self.writer = writer

    def head(self, *, tenant: Organisation, export: ReportExport, context: dict[str, Any]) -> None:
        self.writer.write(
            render_to_string(
                "reporting/compliance_print_head.html",
                {**context, "organisation": tenant, "export": export, "labels": PROTECTION_LABELS},
            )
        )

    def rows(self, rows: list[dict[str, Any]]) -> None:
        lines = [
            '<tr class="m">'
            f"<td>{row['id']}</td>"
            f"<td>{escape(row['updated_at'].strftime('%Y-%m-%d %H:%M'))}</td>"
            f"<td>{escape(row['campaign__name'])}</td>"
            f"<td>{escape(row['recipient_domain'] or '—')}</td>"
            f"<td>{escape(row['level'])}</td>"
            f"<td>{escape(row['protection_label'])}</td>"
            f"<td>{escape(row['status'])}</td>"
            f"<td>{escape(' '.join(row['reason_codes']) or '—')}</td>"
            "</tr>\n"
            for row in rows
        ]
        self.writer.write("".join(lines))

    def tail(self, summary: PhiExposureSummary) -> None:
        self.writer.write(render_to_string("reporting/compliance_print_tail.html", {"summary": summary}))
