"""The consent report and the staff pages' reads: statuses by purpose, changes over a period,
authorisations about to expire, the CSV export, and the audit records of these reads.

Nothing here reads a contact's name or address: the report identifies contacts by id only, so it
can be read and exported without revealing who the patients are.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Count, QuerySet
from django.utils import timezone

from audit.exports import spreadsheet_safe
from audit.services import Actor, Target, record
from consent.models import (
    AuthorisationText,
    ConsentEvent,
    ConsentStatus,
    ContactConsent,
    MarketingAuthorisation,
    Suppression,
)
from consent.purposes import PurposeInfo, purposes_for
from consent.selectors import expiring_authorisations
from encryption.providers import KeyUnavailable
from segments.selectors import contact_count
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

DEFAULT_PERIOD_DAYS = 30
DEFAULT_EXPIRING_WITHIN_DAYS = 30
MAX_EXPIRING_WITHIN_DAYS = 365
# The longest period one report covers; a longer one is refused rather than scanning years.
MAX_PERIOD_DAYS = 3 * 366

# Statuses a ContactConsent row can hold; "never asked" is the absence of a row.
ROW_STATUSES = (ConsentStatus.GRANTED, ConsentStatus.PENDING, ConsentStatus.REVOKED)


class ReportPeriodError(ValueError):
    """A report period that is backwards or too long (the message names the problem)."""


@dataclass(frozen=True)
class ReportPeriod:
    start: date
    end: date  # inclusive

    @property
    def starts_at(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.start, time.min))

    @property
    def ends_before(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min))


def report_period(*, start: date | None, end: date | None, today: date | None = None) -> ReportPeriod:
    """The period asked for, defaulting to the last ``DEFAULT_PERIOD_DAYS`` days up to today."""
    today = today or timezone.localdate()
    end = end or today
    start = start or end - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if start > end:
        raise ReportPeriodError("The start of the period is after its end.")
    if (end - start).days >= MAX_PERIOD_DAYS:
        raise ReportPeriodError(f"A report covers at most {MAX_PERIOD_DAYS} days.")
    return ReportPeriod(start, end)


@dataclass
class PurposeCounts:
    purpose: PurposeInfo
    granted: int = 0
    pending: int = 0
    revoked: int = 0
    never_asked: int = 0


@dataclass
class ConsentCounts:
    contacts_total: int
    purposes: list[PurposeCounts] = field(default_factory=list)


def consent_counts(*, tenant: Organisation) -> ConsentCounts:
    """Contacts per purpose and status, in one grouped query (plus the contact total and the
    purposes). A contact with no row for a purpose was never asked: the total minus the rest.
    Archived purposes appear only while someone still has a status for them."""
    require_tenant_is_current(tenant)
    total = contact_count(tenant=tenant)
    grouped: dict[tuple[str, str], int] = {
        (row["purpose"], row["status"]): row["n"]
        for row in ContactConsent.objects.for_tenant(tenant)
        .order_by()
        .values("purpose", "status")
        .annotate(n=Count("id"))
    }
    counts = ConsentCounts(contacts_total=total)
    for purpose in purposes_for(tenant=tenant, include_archived=True):
        row = PurposeCounts(
            purpose,
            granted=grouped.get((purpose.key, ConsentStatus.GRANTED), 0),
            pending=grouped.get((purpose.key, ConsentStatus.PENDING), 0),
            revoked=grouped.get((purpose.key, ConsentStatus.REVOKED), 0),
        )
        asked = row.granted + row.pending + row.revoked
        if purpose.is_archived and not asked:
            continue
        row.never_asked = max(total - asked, 0)
        counts.purposes.append(row)
    return counts


@dataclass(frozen=True)
class ChangeCount:
    kind: str
    purpose: str
    to_status: str
    count: int


def consent_changes(*, tenant: Organisation, period: ReportPeriod) -> QuerySet[ConsentEvent]:
    """The consent history of every contact within ``period``, newest first."""
    require_tenant_is_current(tenant)
    return (
        ConsentEvent.objects.for_tenant(tenant)
        .filter(occurred_at__gte=period.starts_at, occurred_at__lt=period.ends_before)
        .order_by("-occurred_at", "-id")
    )


def consent_change_counts(*, tenant: Organisation, period: ReportPeriod) -> list[ChangeCount]:
    """Changes within ``period`` grouped by kind, purpose and the status they led to (one query)."""
    rows = (
        consent_changes(tenant=tenant, period=period)
        .order_by()
        .values("kind", "purpose", "to_status")
        .annotate(n=Count("id"))
        .order_by("kind", "purpose", "to_status")
    )
    return [ChangeCount(row["kind"], row["purpose"], row["to_status"], row["n"]) for row in rows]


def purpose_names(*, tenant: Organisation) -> dict[str, str]:
    """Purpose key -> name, archived ones included (history may name them)."""
    return {purpose.key: purpose.name for purpose in purposes_for(tenant=tenant, include_archived=True)}


@dataclass(frozen=True)
class AuthorisationTextHistory:
    name: str
    versions: list[AuthorisationText]  # newest first

    @property
    def current(self) -> AuthorisationText:
        return self.versions[0]


def authorisation_text_histories(*, tenant: Organisation) -> list[AuthorisationTextHistory]:
    """Each authorisation text by name, its versions newest first (one query)."""
    require_tenant_is_current(tenant)
    by_name: dict[str, list[AuthorisationText]] = {}
    for text in AuthorisationText.objects.for_tenant(tenant).order_by("name", "-version"):
        by_name.setdefault(text.name, []).append(text)
    return [AuthorisationTextHistory(name, versions) for name, versions in by_name.items()]


def authorisation_text_latest(*, tenant: Organisation, name: str) -> AuthorisationText | None:
    require_tenant_is_current(tenant)
    return AuthorisationText.objects.for_tenant(tenant).filter(name=name).order_by("-version").first()


# --- CSV export -------------------------------------------------------------------------------

CSV_COLUMNS = ("section", "kind", "contact_id", "purpose", "from_status", "status", "source", "date", "count")
EXPORT_CHUNK = 2000


def _csv_lines(rows: Iterator[list[object]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([spreadsheet_safe(value) for value in row])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _export_rows(
    tenant: Organisation, counts: ConsentCounts, period: ReportPeriod, expiring_within: int
) -> Iterator[list[object]]:
    for row in counts.purposes:
        for status in (*ROW_STATUSES, ConsentStatus.NEVER_ASKED):
            yield ["summary", "consent", "", row.purpose.key, "", status, "", "", getattr(row, status)]
    statuses = (
        ContactConsent.objects.for_tenant(tenant)
        .order_by("contact_id", "purpose")
        .values_list("contact_id", "purpose", "status", "source", "changed_at")
    )
    for contact_id, purpose, status, source, changed_at in statuses.iterator(chunk_size=EXPORT_CHUNK):
        yield ["status", "consent", contact_id, purpose, "", status, source, changed_at.isoformat(), ""]
    changes = (
        consent_changes(tenant=tenant, period=period)
        .order_by("occurred_at", "id")
        .values_list("kind", "contact_id", "purpose", "from_status", "to_status", "source", "occurred_at")
    )
    for kind, contact_id, purpose, from_status, to_status, source, at in changes.iterator(chunk_size=EXPORT_CHUNK):
        yield ["change", kind, contact_id, purpose, from_status, to_status, source, at.isoformat(), ""]
    expiring = (
        expiring_authorisations(tenant=tenant, within_days=expiring_within)
        .select_related(None)
        .values_list("contact_id", "purpose", "source", "expires_on")
    )
    for contact_id, purpose, source, expires_on in expiring.iterator(chunk_size=EXPORT_CHUNK):
        day = expires_on.isoformat() if expires_on else ""
        yield ["expiring", "authorisation", contact_id, purpose, "", "expires", source, day, ""]


def consent_report_csv(
    *, tenant: Organisation, actor: Actor, period: ReportPeriod, expiring_within: int
) -> Iterator[str]:
    """The report as CSV (contact ids, purposes, statuses, sources, dates; never names or
    addresses), its export recorded as ``consent.report_exported``. One table: ``section`` says
    whether a row is a summary count, a current status, a change in the period or an expiring
    authorisation."""
    require_tenant_is_current(tenant)
    counts = consent_counts(tenant=tenant)
    record(
        tenant=tenant,
        action="consent.report_exported",
        actor=actor,
        details={
            "format": "csv",
            "from": period.start.isoformat(),
            "to": period.end.isoformat(),
            "expiring_within": expiring_within,
        },
    )
    return _csv_lines(_export_rows(tenant, counts, period, expiring_within))


# --- Audit records of reads -------------------------------------------------------------------


def consent_history_view_record(*, tenant: Organisation, actor: Actor, contact_id: uuid.UUID, evidence: bool) -> None:
    """A contact's consent history was shown; ``evidence``: with the IP addresses and user
    agents recorded with it."""
    require_tenant_is_current(tenant)
    record(
        tenant=tenant,
        action="consent.history_viewed",
        actor=actor,
        target=Target("contact", str(contact_id)),
        details={"evidence": evidence},
    )


# --- Display helpers --------------------------------------------------------------------------


def masked_address(suppression: Suppression) -> str:
    """The first character and the domain, as ``Contact.masked_email``; "•••" when the
    organisation's keys were destroyed."""
    try:
        email = suppression.email
    except KeyUnavailable:
        return "•••"
    local, _, domain = (email or "").partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


def authorisation_state(authorisation: MarketingAuthorisation, today: date | None = None) -> str:
    """ "revoked", "expired" or "valid" on ``today``."""
    today = today or timezone.localdate()
    if authorisation.revoked_at is not None:
        return "revoked"
    if authorisation.expires_on is not None and authorisation.expires_on < today:
        return "expired"
    return "valid"
