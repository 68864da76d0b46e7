"""Helpers for the compliance report tests: PHI-bearing campaign messages written directly (no
pipeline), finished exports, and the isolation harness's object kwargs. Synthetic data only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from audit.services import actor_for_user
from campaigns.models import Campaign, Message
from campaigns.tests.support import make_campaign
from reporting.compliance import compliance_period
from reporting.compliance_exports import report_export_request, report_export_run
from reporting.models import ExportFormat, ReportExport
from tenants.context import tenant_context
from tenants.roles import Role


@dataclass(frozen=True)
class Spec:
    status: str
    action: str = ""
    tls: str = ""
    domain: str = "clinic-patients.example"
    codes: tuple[str, ...] = ()
    level: str = "phi"
    ago: timedelta = timedelta(hours=1)


# A mix covering every protection the report distinguishes.
MIX = (
    Spec("sent", "verified_tls", "TLSv1.3", codes=("phi_verified_tls",)),
    Spec("sent", "verified_tls", "TLSv1.3", domain="other-patients.example", codes=("phi_verified_tls",)),
    Spec("sent", "verified_tls", "TLSv1.2", codes=("phi_verified_tls", "rule_finding_diagnosis")),
    Spec("sent", "standard", "TLSv1.3", codes=("phi_patient_accepts_unencrypted",)),
    Spec("escrowed", "escrow", "", codes=("phi_no_verified_tls", "escrow_notice")),
    Spec("escrowed", "escrow", "", codes=("ssn",)),
    Spec("blocked", "block", "", codes=("baa_no_agreement",)),
    Spec("quarantined", "quarantine", "", codes=("phi_in_marketing",)),
    Spec("deferred", "verified_tls", "", codes=("phi_verified_tls",)),
    Spec("bounced", "verified_tls", "", codes=("phi_verified_tls",)),
    Spec("unknown", "verified_tls", "", codes=("phi_verified_tls",)),
    # Not in the report: no PHI, or outside the period.
    Spec("sent", "standard", "TLSv1.3", level="none"),
    Spec("sent", "standard", "TLSv1.3", level="pii"),
    Spec("sent", "verified_tls", "TLSv1.3", ago=timedelta(days=90)),
)


def campaign_for(fixture: Any, name: str = "") -> Campaign:
    return make_campaign(fixture, **({"name": name} if name else {}))


def phi_messages(fixture: Any, campaign: Campaign, specs: tuple[Spec, ...] | list[Spec], now: datetime | None = None):
    """Messages as the pipeline leaves them (no contact: the report never needs one)."""
    now = now or timezone.now()
    rows = [
        Message(
            tenant=fixture.tenant,
            campaign=campaign,
            contact=None,
            status=spec.status,
            send_after=now - spec.ago,
            protection_action=spec.action,
            reason_codes=list(spec.codes),
            level=spec.level,
            tls_version=spec.tls,
            recipient_domain=spec.domain,
            smtp_code=250 if spec.status == "sent" else None,
            created_at=now - spec.ago,
            updated_at=now - spec.ago,
        )
        for spec in specs
    ]
    with tenant_context(fixture.tenant):
        return Message.objects.bulk_create(rows)


def finished_export(fixture: Any, export_format: str = ExportFormat.CSV) -> ReportExport:
    """A generated export of the last 30 days, requested by the compliance officer."""
    officer = fixture.users[Role.COMPLIANCE_OFFICER]
    with tenant_context(fixture.tenant):
        export = report_export_request(
            tenant=fixture.tenant,
            actor=actor_for_user(officer),
            user=officer,
            period=compliance_period(start=None, end=None),
            export_format=export_format,
        )
    report_export_run(tenant=fixture.tenant, export_id=str(export.pk))
    with tenant_context(fixture.tenant):
        return ReportExport.objects.for_tenant(fixture.tenant).get(pk=export.pk)


def report_export_rows(fixture: Any) -> None:
    """A row in reporting's export table for the fixture's tenant (row-level security tests)."""
    with tenant_context(fixture.tenant):
        ReportExport.objects.create(
            tenant=fixture.tenant,
            format=ExportFormat.CSV,
            period_start=timezone.now().date(),
            period_end=timezone.now().date(),
            requested_by=fixture.users[Role.COMPLIANCE_OFFICER],
        )


# --- tests/test_isolation.py ------------------------------------------------------------------------


def export_kwargs(world: Any) -> dict[str, Any]:
    return {"export_id": finished_export(world.a).pk}


def export_unchanged(world: Any, kwargs: dict[str, Any]) -> bool:
    """Still done and never downloaded by anyone (B's attempts reached nothing)."""
    with tenant_context(world.a.tenant):
        export = ReportExport.objects.for_tenant(world.a.tenant).get(pk=kwargs["export_id"])
    return export.status == "done" and export.download_count == 0
