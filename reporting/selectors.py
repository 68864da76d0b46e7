"""Reads for the dashboards: the campaign dashboard and the organisation overview.

They read only the rollups ``reporting.events.events_record`` maintains (never the raw
``reporting_event`` table), each in a fixed number of queries whatever the campaign's size:

- ``campaign_dashboard``: 3 queries (per-day totals, the recipient-domain table, top links);
- ``organisation_overview``: 3 queries (per-day totals of both periods, domain degradation,
  campaigns active in the period).

How each figure is computed, and the thresholds behind the warnings, are in
``docs/reporting.md``; the formulas live in ``Totals`` and ``DomainRow`` below so the web pages
and the API show the same numbers.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus
from reporting.models import (
    CampaignDailyStat,
    CampaignDomainStat,
    CampaignLinkStat,
    TenantDailyStat,
    TenantDomainDailyStat,
    TrackedLink,
)
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

# --- Figures from metric counts ------------------------------------------------------------------

SENT, ESCROWED, DEFERRED = "sent", "escrow_notice_sent", "deferred"
BOUNCED_HARD, BOUNCED_SOFT, AFTER_SENT = "bounced_hard", "bounced_soft", "bounced_after_sent"

# Longest daily series a campaign dashboard draws (the most recent days of a long campaign).
MAX_SERIES_DAYS = 366
TOP_LINKS = 10
TOP_DOMAINS = 20
TOP_CAMPAIGNS = 10
OVERVIEW_PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole > 0 else None


@dataclass(frozen=True)
class Totals:
    """Counts per metric (``reporting.events.metric_names``) and the figures derived from them."""

    counts: Mapping[str, int] = field(default_factory=dict)

    # A method, not ``__getitem__``: templates try ``totals["delivered"]`` before the attribute.
    def metric(self, name: str) -> int:
        return int(self.counts.get(name, 0))

    # Delivery
    @property
    def sent(self) -> int:
        """Accepted by the recipient's server over TLS (escrow notices not included)."""
        return self.metric(SENT)

    @property
    def escrowed(self) -> int:
        return self.metric(ESCROWED)

    @property
    def bounced(self) -> int:
        return self.metric(BOUNCED_HARD) + self.metric(BOUNCED_SOFT)

    @property
    def bounced_after_sent(self) -> int:
        return self.metric(AFTER_SENT)

    @property
    def delivered(self) -> int:
        return max(0, self.sent - self.bounced_after_sent)

    @property
    def attempted(self) -> int:
        """Messages with a final outcome at the transport: sent, escrow notices, and bounces of
        messages that were never accepted."""
        return self.sent + self.escrowed + max(0, self.bounced - self.bounced_after_sent)

    @property
    def deferred(self) -> int:
        return self.metric(DEFERRED)

    @property
    def bounce_rate(self) -> float | None:
        return _rate(self.bounced, self.attempted)

    @property
    def deferral_rate(self) -> float | None:
        """Deferrals per delivery attempt (a message may be deferred several times)."""
        return _rate(self.deferred, self.attempted + self.deferred)

    @property
    def escrow_share(self) -> float | None:
        return _rate(self.escrowed, self.sent + self.escrowed)

    @property
    def escrow_read_rate(self) -> float | None:
        rate = _rate(self.metric("escrow_read"), self.escrowed)
        return None if rate is None else min(rate, 1.0)

    # Engagement (people only; machine opens and clicks are counted apart)
    @property
    def opens_unique(self) -> int:
        return self.metric("opened_unique")

    @property
    def opens_total(self) -> int:
        return self.metric("opened")

    @property
    def opens_machine(self) -> int:
        return self.metric("opened_machine")

    @property
    def clicks_unique(self) -> int:
        return self.metric("clicked_unique")

    @property
    def clicks_total(self) -> int:
        return self.metric("clicked")

    @property
    def clicks_machine(self) -> int:
        return self.metric("clicked_machine")

    @property
    def open_rate_unique(self) -> float | None:
        return _rate(self.opens_unique, self.delivered)

    @property
    def open_rate_total(self) -> float | None:
        return _rate(self.opens_total, self.delivered)

    @property
    def click_rate_unique(self) -> float | None:
        return _rate(self.clicks_unique, self.delivered)

    @property
    def click_rate_total(self) -> float | None:
        return _rate(self.clicks_total, self.delivered)

    @property
    def click_to_open_rate(self) -> float | None:
        return _rate(self.clicks_unique, self.opens_unique)

    # Responses and complaints
    @property
    def unsubscribes(self) -> int:
        return self.metric("unsubscribed")

    @property
    def complaints(self) -> int:
        return self.metric("complained")

    @property
    def unsubscribe_rate(self) -> float | None:
        return _rate(self.unsubscribes, self.delivered)

    @property
    def complaint_rate(self) -> float | None:
        return _rate(self.complaints, self.delivered)

    @property
    def replies(self) -> int:
        return self.metric("reply_received")

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in TOTALS_FIELDS} | {
            "counts": {metric: int(n) for metric, n in sorted(self.counts.items())}
        }


TOTALS_FIELDS = (
    "sent",
    "delivered",
    "escrowed",
    "attempted",
    "bounced",
    "bounced_after_sent",
    "deferred",
    "bounce_rate",
    "deferral_rate",
    "escrow_share",
    "escrow_read_rate",
    "opens_unique",
    "opens_total",
    "opens_machine",
    "open_rate_unique",
    "open_rate_total",
    "clicks_unique",
    "clicks_total",
    "clicks_machine",
    "click_rate_unique",
    "click_rate_total",
    "click_to_open_rate",
    "unsubscribes",
    "unsubscribe_rate",
    "complaints",
    "complaint_rate",
    "replies",
)


def _totals(rows: Iterable[tuple[str, int]]) -> Totals:
    counts: dict[str, int] = defaultdict(int)
    for metric, count in rows:
        counts[metric] += int(count)
    return Totals(dict(counts))


@dataclass(frozen=True)
class Daily:
    """Counts per metric per day over consecutive days (missing days are zero)."""

    days: list[date]
    by_metric: dict[str, list[int]]

    def values(self, *metrics: str) -> list[int]:
        """The sum of ``metrics`` per day."""
        rows = [self.by_metric.get(metric) for metric in metrics]
        return [sum(row[i] for row in rows if row is not None) for i in range(len(self.days))]

    def as_dict(self, metrics: Iterable[str]) -> dict[str, Any]:
        return {
            "days": [day.isoformat() for day in self.days],
            "metrics": {metric: self.values(metric) for metric in metrics},
        }


def _daily(rows: Iterable[tuple[date, str, int]], first: date | None = None, last: date | None = None) -> Daily:
    cells: dict[tuple[date, str], int] = defaultdict(int)
    for day, metric, count in rows:
        cells[(day, metric)] += int(count)
    seen = [day for day, _ in cells]
    if first is None:
        first = min(seen, default=None)
    if last is None:
        last = max(seen, default=None)
    if first is None or last is None or last < first:
        return Daily([], {})
    first = max(first, last - timedelta(days=MAX_SERIES_DAYS - 1))
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    index = {day: n for n, day in enumerate(days)}
    by_metric: dict[str, list[int]] = {}
    for (day, metric), count in cells.items():
        if day in index:
            by_metric.setdefault(metric, [0] * len(days))[index[day]] += count
    return Daily(days, by_metric)


# --- Campaign dashboard --------------------------------------------------------------------------


@dataclass(frozen=True)
class DomainRow:
    domain: str
    sent: int
    escrowed: int
    deferred: int
    bounced: int
    bounced_after_sent: int
    delivery_ms: int

    @property
    def delivered(self) -> int:
        return max(0, self.sent - self.bounced_after_sent)

    @property
    def attempted(self) -> int:
        return self.sent + self.escrowed + max(0, self.bounced - self.bounced_after_sent)

    @property
    def bounce_rate(self) -> float | None:
        return _rate(self.bounced, self.attempted)

    @property
    def deferral_rate(self) -> float | None:
        return _rate(self.deferred, self.attempted + self.deferred)

    @property
    def tls_share(self) -> float | None:
        return _rate(self.sent, self.sent + self.escrowed)

    @property
    def average_delivery_ms(self) -> float | None:
        return self.delivery_ms / self.sent if self.sent else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "attempted": self.attempted,
            "delivered": self.delivered,
            "deferred": self.deferred,
            "bounced": self.bounced,
            "bounce_rate": self.bounce_rate,
            "sent_tls": self.sent,
            "escrowed": self.escrowed,
            "tls_share": self.tls_share,
            "average_delivery_ms": self.average_delivery_ms,
        }


@dataclass(frozen=True)
class LinkRow:
    link_id: int
    url: str  # empty when the link row is gone
    position: int | None
    clicks_unique: int
    clicks_total: int
    clicks_machine: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "link_id": self.link_id,
            "url": self.url,
            "position": self.position,
            "clicks_unique": self.clicks_unique,
            "clicks_total": self.clicks_total,
            "clicks_machine": self.clicks_machine,
        }


@dataclass(frozen=True)
class CampaignDashboard:
    campaign: Campaign
    totals: Totals
    daily: Daily
    domains: list[DomainRow]
    domain_count: int  # all recipient domains; ``domains`` holds the busiest ``TOP_DOMAINS``
    other_domains: DomainRow | None  # the others summed, when there are more
    links: list[LinkRow]
    link_count: int  # links clicked at least once (by anyone); ``links`` holds the top ones

    @property
    def is_empty(self) -> bool:
        return not self.totals.counts


DAILY_DELIVERY = (SENT, ESCROWED, BOUNCED_HARD, BOUNCED_SOFT, DEFERRED)
DAILY_ENGAGEMENT = ("opened_unique", "opened", "opened_machine", "clicked_unique", "clicked", "clicked_machine")
DAILY_RESPONSES = ("unsubscribed", "complained", "escrow_read")


def campaign_dashboard(*, tenant: Organisation, campaign: Campaign) -> CampaignDashboard:
    """The campaign's figures, daily series, recipient domains and top links (3 queries)."""
    require_tenant_is_current(tenant)
    if campaign.tenant_id != tenant.pk:
        raise ValueError("The campaign belongs to another organisation.")
    rows = list(
        CampaignDailyStat.objects.for_tenant(tenant)
        .filter(campaign_id=campaign.pk)
        .values_list("day", "metric", "count")
    )
    totals = _totals((metric, count) for _, metric, count in rows)
    domains, domain_count, other = _campaign_domains(tenant, campaign.pk)
    links, link_count = _campaign_links(tenant, campaign.pk)
    return CampaignDashboard(
        campaign=campaign,
        totals=totals,
        daily=_daily(rows),
        domains=domains,
        domain_count=domain_count,
        other_domains=other,
        links=links,
        link_count=link_count,
    )


_DOMAIN_COLUMNS = ("sent", "escrowed", "deferred", "bounced", "after_sent", "delivery_ms")


def _campaign_domains(tenant: Organisation, campaign_id: uuid.UUID) -> tuple[list[DomainRow], int, DomainRow | None]:
    """The busiest domains, how many there are, and the rest summed (one query: a grouped pivot
    with window totals over all domains before the LIMIT)."""
    table = CampaignDomainStat._meta.db_table
    window = ", ".join(f"SUM({name}) OVER ()" for name in _DOMAIN_COLUMNS)
    sql = f"""
        WITH per_domain AS (
            SELECT domain,
                COALESCE(SUM(count) FILTER (WHERE metric = %s), 0) AS sent,
                COALESCE(SUM(count) FILTER (WHERE metric = %s), 0) AS escrowed,
                COALESCE(SUM(count) FILTER (WHERE metric = %s), 0) AS deferred,
                COALESCE(SUM(count) FILTER (WHERE metric IN (%s, %s)), 0) AS bounced,
                COALESCE(SUM(count) FILTER (WHERE metric = %s), 0) AS after_sent,
                COALESCE(SUM(delivery_ms) FILTER (WHERE metric = %s), 0) AS delivery_ms
            FROM {table}
            WHERE tenant_id = %s AND campaign_id = %s AND metric IN (%s, %s, %s, %s, %s, %s)
            GROUP BY domain
        )
        SELECT domain, {", ".join(_DOMAIN_COLUMNS)}, COUNT(*) OVER (), {window}
        FROM per_domain
        ORDER BY sent + escrowed + bounced - after_sent + deferred DESC, domain
        LIMIT %s
    """  # noqa: S608 - table name and columns are ours; values are parameters
    metrics = [SENT, ESCROWED, DEFERRED, BOUNCED_HARD, BOUNCED_SOFT, AFTER_SENT]
    params: list[Any] = [SENT, ESCROWED, DEFERRED, BOUNCED_HARD, BOUNCED_SOFT, AFTER_SENT, SENT]
    params += [tenant.pk, _uuid(campaign_id), *metrics, TOP_DOMAINS]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    if not fetched:
        return [], 0, None
    n = len(_DOMAIN_COLUMNS)
    rows = [DomainRow(str(row[0]), *(int(v) for v in row[1 : 1 + n])) for row in fetched]
    count = int(fetched[0][1 + n])
    other = None
    if count > len(rows):
        everything = [int(v or 0) for v in fetched[0][2 + n : 2 + 2 * n]]
        fields = ("sent", "escrowed", "deferred", "bounced", "bounced_after_sent", "delivery_ms")  # _DOMAIN_COLUMNS
        shown = [sum(getattr(row, name) for row in rows) for name in fields]
        other = DomainRow(
            f"{count - len(rows)} other domains", *(a - b for a, b in zip(everything, shown, strict=True))
        )
    return rows, count, other


def _campaign_links(tenant: Organisation, campaign_id: uuid.UUID) -> tuple[list[LinkRow], int]:
    stats, links = CampaignLinkStat._meta.db_table, TrackedLink._meta.db_table
    sql = f"""
        WITH per_link AS (
            SELECT link_id,
                COALESCE(SUM(count) FILTER (WHERE metric = 'clicked_unique'), 0) AS clicks_unique,
                COALESCE(SUM(count) FILTER (WHERE metric = 'clicked'), 0) AS clicks_total,
                COALESCE(SUM(count) FILTER (WHERE metric = 'clicked_machine'), 0) AS clicks_machine
            FROM {stats}
            WHERE tenant_id = %s AND campaign_id = %s
            GROUP BY link_id
        )
        SELECT per_link.link_id, link.url, link.position, clicks_unique, clicks_total, clicks_machine,
            COUNT(*) OVER ()
        FROM per_link
        LEFT JOIN {links} link ON link.id = per_link.link_id AND link.tenant_id = %s
        ORDER BY clicks_unique DESC, clicks_total DESC, per_link.link_id
        LIMIT %s
    """  # noqa: S608 - table names are ours; values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [tenant.pk, _uuid(campaign_id), tenant.pk, TOP_LINKS])
        fetched = cursor.fetchall()
    rows = [
        LinkRow(int(link_id), str(url or ""), None if position is None else int(position), int(u), int(t), int(m))
        for link_id, url, position, u, t, m, _ in fetched
    ]
    return rows, int(fetched[0][6]) if fetched else 0


def _date(value: date) -> Any:
    return connection.ops.adapt_datefield_value(value)


def _uuid(value: uuid.UUID | str) -> Any:
    value = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    return value if connection.vendor == "postgresql" else value.hex


# --- Organisation overview -----------------------------------------------------------------------

# Mailbox providers' limits (docs/reporting.md): Gmail and Yahoo require bulk senders to keep
# spam complaints under 0.3% and recommend under 0.1%; bounces under 2% is the usual guideline
# (Amazon SES reviews an account at 5%).
COMPLAINT_WATCH, COMPLAINT_LIMIT = 0.001, 0.003
BOUNCE_WATCH, BOUNCE_LIMIT = 0.01, 0.02
# Below this many delivered (attempted) messages in a period a rate says little: no warning.
MIN_RATE_VOLUME = 100


@dataclass(frozen=True)
class DegradationRule:
    floor: float  # the recent rate must be at least this
    factor: float  # … and this many times the baseline rate
    margin: float  # … and this much above it (absolute)


RECENT_DAYS, BASELINE_DAYS = 7, 28
MIN_RECENT_ATTEMPTS, MIN_BASELINE_ATTEMPTS = 50, 50
BOUNCE_DEGRADATION = DegradationRule(floor=0.05, factor=2.0, margin=0.03)
DEFERRAL_DEGRADATION = DegradationRule(floor=0.10, factor=2.0, margin=0.05)
MAX_DEGRADED_DOMAINS = 20


@dataclass(frozen=True)
class Trend:
    key: str
    label: str
    current: int
    previous: int

    @property
    def change(self) -> float | None:
        """Relative change from the previous period (None when it had none)."""
        return (self.current - self.previous) / self.previous if self.previous else None

    def as_dict(self) -> dict[str, Any]:
        return {"current": self.current, "previous": self.previous, "change": self.change}


@dataclass(frozen=True)
class RateCheck:
    """A rate of the period against a mailbox provider's threshold."""

    code: str  # complaint_rate, bounce_rate
    label: str
    rate: float | None
    volume: int
    watch: float
    limit: float

    @property
    def level(self) -> str:
        """``ok``, ``watch`` (approaching the limit), ``over`` (at or above it) or
        ``insufficient`` (too few messages to judge)."""
        if self.rate is None or self.volume < MIN_RATE_VOLUME:
            return "insufficient"
        if self.rate >= self.limit:
            return "over"
        if self.rate >= self.watch:
            return "watch"
        return "ok"

    def as_dict(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "volume": self.volume,
            "watch": self.watch,
            "limit": self.limit,
            "level": self.level,
        }


@dataclass(frozen=True)
class DomainWindow:
    attempted: int
    bounced: int
    deferred: int

    @property
    def bounce_rate(self) -> float | None:
        return _rate(self.bounced, self.attempted)

    @property
    def deferral_rate(self) -> float | None:
        return _rate(self.deferred, self.attempted + self.deferred)


@dataclass(frozen=True)
class DomainWarning:
    domain: str
    recent: DomainWindow
    baseline: DomainWindow
    degraded: tuple[str, ...]  # "bounce", "deferral"

    @property
    def has_baseline(self) -> bool:
        return self.baseline.attempted >= MIN_BASELINE_ATTEMPTS

    def as_dict(self) -> dict[str, Any]:
        def window(w: DomainWindow) -> dict[str, Any]:
            return {
                "attempted": w.attempted,
                "bounced": w.bounced,
                "deferred": w.deferred,
                "bounce_rate": w.bounce_rate,
                "deferral_rate": w.deferral_rate,
            }

        return {
            "domain": self.domain,
            "degraded": list(self.degraded),
            "recent": window(self.recent),
            "baseline": window(self.baseline) if self.has_baseline else None,
        }


def _degraded(rule: DegradationRule, recent: float | None, baseline: float | None) -> bool:
    if recent is None or recent < rule.floor:
        return False
    if baseline is None:  # a domain new to the organisation: the floor alone
        return True
    return recent >= baseline * rule.factor and recent - baseline >= rule.margin


@dataclass(frozen=True)
class CampaignRow:
    campaign_id: uuid.UUID
    name: str
    status: str
    totals: Totals

    @property
    def status_label(self) -> str:
        return str(dict(CampaignStatus.choices).get(self.status, self.status))

    def as_dict(self) -> dict[str, Any]:
        t = self.totals
        return {
            "campaign_id": str(self.campaign_id),
            "name": self.name,
            "status": self.status,
            "sent": t.sent,
            "delivered": t.delivered,
            "escrowed": t.escrowed,
            "bounce_rate": t.bounce_rate,
            "open_rate_unique": t.open_rate_unique,
            "click_rate_unique": t.click_rate_unique,
            "complaints": t.complaints,
        }


@dataclass(frozen=True)
class OrganisationOverview:
    days: int
    start: date
    end: date  # inclusive, today (UTC)
    previous_start: date
    totals: Totals
    previous: Totals
    daily: Daily
    checks: list[RateCheck]
    degraded_domains: list[DomainWarning]
    campaigns: list[CampaignRow]

    @property
    def trends(self) -> list[Trend]:
        pairs = (
            ("Sent over TLS", "sent"),
            ("Delivered", "delivered"),
            ("Escrow notices", "escrowed"),
            ("Bounced", "bounced"),
            ("Unique opens", "opens_unique"),
            ("Unique clicks", "clicks_unique"),
            ("Unsubscribes", "unsubscribes"),
            ("Complaints", "complaints"),
        )
        return [Trend(name, label, getattr(self.totals, name), getattr(self.previous, name)) for label, name in pairs]

    @property
    def warnings(self) -> list[str]:
        """Plain-language warnings, most serious first."""
        out = []
        for check in self.checks:
            if check.level == "over":
                out.append(f"{check.label} is at or above the {check.limit:.1%} mailbox providers tolerate.")
        for warning in self.degraded_domains:
            what = " and ".join(f"{name} rate" for name in warning.degraded)
            out.append(f"{warning.domain}: the {what} rose sharply in the last {RECENT_DAYS} days.")
        for check in self.checks:
            if check.level == "watch":
                out.append(f"{check.label} is approaching the {check.limit:.1%} limit.")
        return out

    @property
    def is_empty(self) -> bool:
        return not self.totals.counts and not self.previous.counts


def overview_period(value: Any) -> int:
    """A period the overview offers (days), the default for anything else."""
    try:
        days = int(value)
    except (TypeError, ValueError):
        return DEFAULT_PERIOD
    return days if days in OVERVIEW_PERIODS else DEFAULT_PERIOD


def organisation_overview(
    *, tenant: Organisation, days: int = DEFAULT_PERIOD, today: date | None = None
) -> OrganisationOverview:
    """The last ``days`` days (UTC, today included) against the ``days`` before, the rates
    against providers' thresholds, degrading recipient domains and the period's campaigns
    (3 queries)."""
    require_tenant_is_current(tenant)
    if days < 1 or days > 366:
        raise ValueError("The period is 1 to 366 days.")
    end = today or timezone.now().date()
    start = end - timedelta(days=days - 1)
    previous_start = start - timedelta(days=days)
    rows = list(
        TenantDailyStat.objects.for_tenant(tenant)
        .filter(day__gte=previous_start, day__lte=end)
        .values_list("day", "metric", "count")
    )
    current = [(day, metric, count) for day, metric, count in rows if day >= start]
    totals = _totals((metric, count) for _, metric, count in current)
    previous = _totals((metric, count) for day, metric, count in rows if day < start)
    checks = [
        RateCheck(
            "complaint_rate",
            "Complaint rate",
            totals.complaint_rate,
            totals.delivered,
            COMPLAINT_WATCH,
            COMPLAINT_LIMIT,
        ),
        RateCheck("bounce_rate", "Bounce rate", totals.bounce_rate, totals.attempted, BOUNCE_WATCH, BOUNCE_LIMIT),
    ]
    return OrganisationOverview(
        days=days,
        start=start,
        end=end,
        previous_start=previous_start,
        totals=totals,
        previous=previous,
        daily=_daily(current, start, end),
        checks=checks,
        degraded_domains=domain_degradation(tenant=tenant, today=end),
        campaigns=_period_campaigns(tenant, start, end),
    )


def domain_degradation(*, tenant: Organisation, today: date | None = None) -> list[DomainWarning]:
    """Recipient domains whose bounce or deferral rate over the last ``RECENT_DAYS`` days is well
    above their rate over the ``BASELINE_DAYS`` before (one grouped query)."""
    require_tenant_is_current(tenant)
    end = today or timezone.now().date()
    recent_start = end - timedelta(days=RECENT_DAYS - 1)
    baseline_start = recent_start - timedelta(days=BASELINE_DAYS)
    table = TenantDomainDailyStat._meta.db_table

    groups = ([SENT], [ESCROWED], [DEFERRED], [BOUNCED_HARD, BOUNCED_SOFT], [AFTER_SENT])

    def pivot(window: str) -> str:
        return ", ".join(
            f"COALESCE(SUM(count) FILTER (WHERE {window} AND metric IN ({', '.join(['%s'] * len(group))})), 0)"
            for group in groups
        )

    sql = f"""
        SELECT domain, {pivot("day >= %s")}, {pivot("day < %s")}
        FROM {table}
        WHERE tenant_id = %s AND day >= %s AND day <= %s AND metric IN (%s, %s, %s, %s, %s, %s)
        GROUP BY domain
        HAVING COALESCE(SUM(count) FILTER (WHERE day >= %s AND metric IN (%s, %s, %s, %s)), 0) >= %s
    """  # noqa: S608 - table name is ours; values are parameters
    split = _date(recent_start)
    params: list[Any] = []
    for _window in ("recent", "baseline"):  # both windows split at the recent window's first day
        for group in groups:
            params += [split, *group]
    params += [tenant.pk, _date(baseline_start), _date(end), SENT, ESCROWED, DEFERRED, BOUNCED_HARD, BOUNCED_SOFT]
    params += [AFTER_SENT, split, SENT, ESCROWED, BOUNCED_HARD, BOUNCED_SOFT, MIN_RECENT_ATTEMPTS]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    warnings = []
    for domain, *values in fetched:
        r_sent, r_escrow, r_deferred, r_bounced, r_after, b_sent, b_escrow, b_deferred, b_bounced, b_after = (
            int(v) for v in values
        )
        recent = DomainWindow(r_sent + r_escrow + max(0, r_bounced - r_after), r_bounced, r_deferred)
        baseline = DomainWindow(b_sent + b_escrow + max(0, b_bounced - b_after), b_bounced, b_deferred)
        if recent.attempted < MIN_RECENT_ATTEMPTS:
            continue
        has_baseline = baseline.attempted >= MIN_BASELINE_ATTEMPTS
        degraded = tuple(
            name
            for name, rule, now, before in (
                ("bounce", BOUNCE_DEGRADATION, recent.bounce_rate, baseline.bounce_rate),
                ("deferral", DEFERRAL_DEGRADATION, recent.deferral_rate, baseline.deferral_rate),
            )
            if _degraded(rule, now, before if has_baseline else None)
        )
        if degraded:
            warnings.append(DomainWarning(str(domain), recent, baseline, degraded))
    warnings.sort(key=lambda w: (-w.recent.attempted, w.domain))
    return warnings[:MAX_DEGRADED_DOMAINS]


def _period_campaigns(tenant: Organisation, start: date, end: date) -> list[CampaignRow]:
    """The campaigns with activity in the period, busiest first, with their period figures."""
    stats, campaigns = CampaignDailyStat._meta.db_table, Campaign._meta.db_table
    sql = f"""
        WITH per_campaign AS (
            SELECT campaign_id, metric, SUM(count) AS n
            FROM {stats}
            WHERE tenant_id = %s AND day >= %s AND day <= %s
            GROUP BY campaign_id, metric
        ), ranked AS (
            SELECT campaign_id,
                SUM(n) FILTER (WHERE metric IN (%s, %s, %s, %s)) AS volume
            FROM per_campaign GROUP BY campaign_id
            ORDER BY volume DESC NULLS LAST, campaign_id
            LIMIT %s
        )
        SELECT c.id, c.name, c.status, p.metric, p.n, r.volume
        FROM ranked r
        JOIN per_campaign p ON p.campaign_id = r.campaign_id
        JOIN {campaigns} c ON c.id = r.campaign_id AND c.tenant_id = %s
        ORDER BY r.volume DESC NULLS LAST, c.id
    """  # noqa: S608 - table names are ours; values are parameters
    params = [tenant.pk, _date(start), _date(end), SENT, ESCROWED, BOUNCED_HARD, BOUNCED_SOFT, TOP_CAMPAIGNS, tenant.pk]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    order: list[uuid.UUID] = []
    names: dict[uuid.UUID, tuple[str, str]] = {}
    counts: dict[uuid.UUID, dict[str, int]] = defaultdict(dict)
    for campaign_id, name, status, metric, n, _volume in fetched:
        if campaign_id not in names:
            order.append(campaign_id)
            names[campaign_id] = (str(name), str(status))
        counts[campaign_id][str(metric)] = int(n or 0)
    return [CampaignRow(cid, names[cid][0], names[cid][1], Totals(counts[cid])) for cid in order]
