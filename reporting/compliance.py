"""The compliance reports a compliance officer (or an auditor) asks for, over a period:

- **PHI exposure**: every PHI-bearing campaign message (``Message.level == "phi"``) whose last
  state change fell in the period, with its classification (the level and the policy's reason
  codes, which name the finding types behind the decision), the protection applied (verified TLS
  with the negotiated protocol, standard email by the patient's recorded choice, escrow, blocked,
  quarantined; or not delivered) and the campaign's name and the recipient's domain. **Minimum
  necessary**: never the recipient's address or name, never the message's content.
- **Consent**: the consent report's summary (``consent.reports``), linked to the full report.
- **BAA status**: whether PHI may be sent now (``baa.gate``) and sub-processors that handle PHI
  without a signed BAA.
- **Audit summary**: the audit events of the period counted by action; the chain's verification
  (run by the export, and on the page on request).

Selectors here read inside the caller's tenant context; the exports (``reporting.compliance_exports``)
reuse them. The PHI exposure queries use ``campaigns_message_phi_time`` (a partial index on the
tenant's PHI-bearing messages by ``updated_at``, covering the summary's columns), so a period of a
million messages is an index range, never a table scan.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db.models import Count, QuerySet

from campaigns.models import Message, MessageStatus
from consent.reports import ReportPeriod, ReportPeriodError, report_period
from encryption.dlp.findings import LEVEL_PHI
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

__all__ = [
    "AuditSummary",
    "BaaSummary",
    "ConsentSummary",
    "PhiExposureSummary",
    "ReportPeriod",
    "ReportPeriodError",
    "audit_summary",
    "baa_summary",
    "compliance_period",
    "consent_summary",
    "phi_exposure_rows",
    "phi_exposure_summary",
    "protection_of",
]

MINIMUM_NECESSARY = (
    "Minimum necessary: messages are identified by their id, campaign and recipient domain only; "
    "no recipient address or name and no message content is in this report."
)

S = MessageStatus

# Protection applied, in the order reports list it.
VERIFIED_TLS = "verified_tls"
STANDARD = "standard"
ESCROW = "escrow"
BLOCKED = "blocked"
QUARANTINED = "quarantined"
PENDING = "pending"
NOT_DELIVERED = "not_delivered"
UNKNOWN = "unknown"
PROTECTION_LABELS: dict[str, str] = {
    VERIFIED_TLS: "Verified TLS",
    STANDARD: "Standard email (patient's recorded choice)",
    ESCROW: "Escrow (secure portal)",
    BLOCKED: "Blocked",
    QUARANTINED: "Quarantined",
    PENDING: "Not yet delivered",
    NOT_DELIVERED: "Not delivered (bounced, failed, skipped or cancelled)",
    UNKNOWN: "Handed off, outcome unknown",
}
_BY_STATUS: dict[str, str] = {
    S.ESCROWED: ESCROW,
    S.BLOCKED: BLOCKED,
    S.QUARANTINED: QUARANTINED,
    S.QUEUED: PENDING,
    S.SENDING: PENDING,
    S.DEFERRED: PENDING,
    S.BOUNCED: NOT_DELIVERED,
    S.FAILED: NOT_DELIVERED,
    S.SKIPPED: NOT_DELIVERED,
    S.CANCELLED: NOT_DELIVERED,
    S.UNKNOWN: UNKNOWN,
}


def protection_of(status: str, protection_action: str) -> str:
    """The protection a PHI-bearing message got, from its state and the policy's action."""
    if status == S.SENT:
        return VERIFIED_TLS if protection_action == VERIFIED_TLS else STANDARD
    return _BY_STATUS.get(status, NOT_DELIVERED)


def protection_label(status: str, protection_action: str, tls_version: str) -> str:
    protection = protection_of(status, protection_action)
    label = PROTECTION_LABELS[protection]
    if protection in (VERIFIED_TLS, STANDARD):
        label += f" ({tls_version})" if tls_version else (" (no TLS recorded)" if protection == STANDARD else "")
    return label


def compliance_period(*, start: date | None, end: date | None, today: date | None = None) -> ReportPeriod:
    """The period asked for (UTC days, end inclusive), by the consent report's rules: the last
    30 days by default, at most about three years. ``ReportPeriodError`` otherwise."""
    return report_period(start=start, end=end, today=today)


# --- PHI exposure -------------------------------------------------------------------------------


def _phi_messages(tenant: Organisation, period: ReportPeriod, before: datetime | None = None) -> QuerySet[Message]:
    """The tenant's PHI-bearing messages whose last move fell in ``period`` (and, for an export,
    before it started): the partial index's range."""
    require_tenant_is_current(tenant)
    ends = period.ends_before if before is None else min(period.ends_before, before)
    return Message.objects.for_tenant(tenant).filter(
        level=LEVEL_PHI, updated_at__gte=period.starts_at, updated_at__lt=ends
    )


@dataclass(frozen=True)
class ProtectionCount:
    code: str
    label: str
    count: int


@dataclass
class PhiExposureSummary:
    period: ReportPeriod
    total: int = 0
    by_protection: list[ProtectionCount] = field(default_factory=list)
    # Accepted over TLS (verified or not), by negotiated protocol ("" when none was recorded).
    tls_versions: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)

    def count(self, code: str) -> int:
        return next((row.count for row in self.by_protection if row.code == code), 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.period.start.isoformat(),
            "to": self.period.end.isoformat(),
            "total": self.total,
            "by_protection": {row.code: row.count for row in self.by_protection},
            "tls_versions": dict(self.tls_versions),
            "by_status": dict(self.by_status),
        }


def summarise(period: ReportPeriod, groups: Counter[tuple[str, str, str]]) -> PhiExposureSummary:
    """A summary from counts per (status, protection action, TLS protocol)."""
    protections: Counter[str] = Counter()
    versions: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for (status, action, tls_version), n in groups.items():
        protection = protection_of(status, action)
        protections[protection] += n
        statuses[status] += n
        if protection in (VERIFIED_TLS, STANDARD):
            versions[tls_version] += n
    return PhiExposureSummary(
        period=period,
        total=sum(groups.values()),
        by_protection=[ProtectionCount(code, label, protections[code]) for code, label in PROTECTION_LABELS.items()],
        tls_versions=dict(sorted(versions.items())),
        by_status=dict(sorted(statuses.items())),
    )


def phi_exposure_summary(
    *, tenant: Organisation, period: ReportPeriod, before: datetime | None = None
) -> PhiExposureSummary:
    """Counts by protection, protocol and status in one grouped query (an index-only scan)."""
    rows = (
        _phi_messages(tenant, period, before)
        .order_by()
        .values_list("status", "protection_action", "tls_version")
        .annotate(n=Count("*"))
    )
    return summarise(period, Counter({(status, action, tls): n for status, action, tls, n in rows}))


ROW_FIELDS = (
    "id",
    "updated_at",
    "status",
    "level",
    "reason_codes",
    "protection_action",
    "tls_version",
    "recipient_domain",
    "campaign_id",
    "campaign__name",
)


def phi_exposure_rows(*, tenant: Organisation, period: ReportPeriod) -> QuerySet[Message, dict[str, Any]]:
    """Every PHI-bearing message of the period, newest first, as dicts of ``ROW_FIELDS`` (ids,
    codes, the campaign's name and the recipient's domain: nothing else of the message)."""
    return _phi_messages(tenant, period).order_by("-updated_at", "-id").values(*ROW_FIELDS)


def exposure_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row of ``phi_exposure_rows`` with its protection worked out, for pages and exports."""
    protection = protection_of(row["status"], row["protection_action"])
    return {
        **row,
        "protection": protection,
        "protection_label": protection_label(row["status"], row["protection_action"], row["tls_version"]),
        "reason_codes": [str(code) for code in row["reason_codes"] or []],
    }


# --- Consent, BAA, audit --------------------------------------------------------------------------


@dataclass
class ConsentSummary:
    contacts_total: int
    purposes: list[Any]  # consent.reports.PurposeCounts
    changes: list[Any]  # consent.reports.ChangeCount
    purpose_names: dict[str, str]

    @property
    def changes_total(self) -> int:
        return sum(change.count for change in self.changes)


def consent_summary(*, tenant: Organisation, period: ReportPeriod) -> ConsentSummary:
    """The consent report's summary (the report itself is ``consent:report``)."""
    from consent.reports import consent_change_counts, consent_counts, purpose_names

    counts = consent_counts(tenant=tenant)
    return ConsentSummary(
        contacts_total=counts.contacts_total,
        purposes=counts.purposes,
        changes=consent_change_counts(tenant=tenant, period=period),
        purpose_names=purpose_names(tenant=tenant),
    )


@dataclass(frozen=True)
class BaaSummary:
    phi_allowed: bool
    code: str
    reason: str
    agreement_id: str | None
    expiry_date: date | None
    # Sub-processors that handle PHI without a signed BAA (names are not PHI).
    subprocessors_without_baa: list[str]
    subprocessors_handling_phi: int


def baa_summary(*, tenant: Organisation) -> BaaSummary:
    from baa.gate import phi_sending_decision
    from baa.models import BaaStatus
    from baa.selectors import subprocessor_list

    require_tenant_is_current(tenant)
    decision = phi_sending_decision(tenant=tenant, phi=True)
    handling = list(subprocessor_list(tenant=tenant).filter(handles_phi=True).values_list("name", "baa_status"))
    return BaaSummary(
        phi_allowed=decision.allowed,
        code=decision.code,
        reason=decision.reason,
        agreement_id=decision.agreement_id,
        expiry_date=decision.expiry_date,
        subprocessors_without_baa=[name for name, status in handling if status != BaaStatus.SIGNED],
        subprocessors_handling_phi=len(handling),
    )


@dataclass
class AuditSummary:
    period: ReportPeriod
    total: int
    by_action: list[tuple[str, int]]  # most frequent first

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "by_action": dict(self.by_action)}


def audit_summary(*, tenant: Organisation, period: ReportPeriod) -> AuditSummary:
    """The tenant's audit events of the period counted by action (the ``(chain_id,
    occurred_at)`` index's range, one grouped query)."""
    from audit.models import AuditEvent

    require_tenant_is_current(tenant)
    rows = (
        AuditEvent.objects.filter(
            chain_id=tenant.pk,
            tenant_id=tenant.pk,
            occurred_at__gte=period.starts_at,
            occurred_at__lt=period.ends_before,
        )
        .order_by()
        .values_list("action")
        .annotate(n=Count("*"))
    )
    counted = sorted(((action, n) for action, n in rows), key=lambda item: (-item[1], item[0]))
    return AuditSummary(period=period, total=sum(n for _, n in counted), by_action=counted)
