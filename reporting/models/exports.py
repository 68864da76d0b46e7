"""Report exports generated in the background.

A ``ReportExport`` is one request for a report file (the compliance report as CSV or as a
printable HTML document) over a period. A Celery task writes the file in chunks, encrypted at
rest under the organisation's data key (``reporting.export_files``), and counts its progress
on this row; members of the same organisation with the permission download it until it expires.
The row holds no PHI: the period, the format, counts and times.
"""

from __future__ import annotations

from django.db import models

from tenants.managers import TenantModel

__all__ = ["ExportFormat", "ExportKind", "ExportStatus", "ReportExport"]


class ExportKind(models.TextChoices):
    COMPLIANCE = "compliance", "Compliance report"


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    HTML = "html", "Printable HTML"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Generating"
    DONE = "done", "Ready"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


class ReportExport(TenantModel):
    kind = models.CharField(max_length=16, choices=ExportKind.choices, default=ExportKind.COMPLIANCE)
    format = models.CharField(max_length=8, choices=ExportFormat.choices)
    period_start = models.DateField()
    period_end = models.DateField()  # inclusive
    status = models.CharField(max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    requested_by = models.ForeignKey("authn.User", on_delete=models.PROTECT, related_name="+")
    # Rows to write (the PHI-bearing messages of the period) and rows written so far.
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    size_bytes = models.PositiveBigIntegerField(default=0)  # plaintext size of the finished file
    # A code for people and programs ("generation_failed", "keys_unavailable"), never text of the data.
    error = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Moves with each chunk written: a running export whose heartbeat stopped lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    download_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="reporting_export_recent")]

    def __str__(self) -> str:
        return f"Report export {self.pk} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == ExportStatus.DONE:
            return 100
        if not self.total_rows:
            return 0
        return min(99, int(self.processed_rows * 100 / self.total_rows))

    @property
    def running(self) -> bool:
        return self.status in (ExportStatus.QUEUED, ExportStatus.RUNNING)

    @property
    def filename(self) -> str:
        return f"sealpost-compliance-{self.period_start:%Y%m%d}-{self.period_end:%Y%m%d}.{self.format}"
