"""Writing events: ``events_record`` stores a batch and updates every rollup in the caller's
transaction, so the figures reports read are exactly the events stored.

Callers: the message state machine (``campaigns.messages``: every move of a campaign message
is an event), the launch (queued), tracking (opens and clicks), inbound reports (complaints),
consent (unsubscribes) and the escrow portal (opened, read, reply).

How an event counts (``metrics_of``):

- every event counts once under its kind, per campaign and day, per campaign and recipient
  domain, per organisation and day, and per organisation, day and domain;
- an open or click by a machine (a privacy proxy prefetching images, a link scanner) counts
  under ``opened_machine`` / ``clicked_machine`` instead, never as a person's;
- a person's first open (click) of a message also counts under ``opened_unique``
  (``clicked_unique``): ``MessageEngagement`` remembers the first, and the upsert that sets it
  is conditional, so of two concurrent first opens exactly one is unique;
- a hard or soft bounce of a message that had been accepted (an asynchronous report) also counts
  under ``bounced_after_sent``: delivered = sent − bounced_after_sent;
- a click on a tracked link also counts per campaign and link (``CampaignLinkStat``; its
  ``clicked_unique`` is the message's first human click, landing on that link);
- a sent message adds its delivery time (accepted − first attempt) to its domain row.

Rollup rows are upserted in a fixed order (sorted keys), so concurrent batches updating the same
rows queue behind each other instead of deadlocking.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from reporting.models import EventKind
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

K = EventKind
INSERT_CHUNK = 1000
ENGAGEMENT_KINDS = {K.OPENED: "opened", K.CLICKED: "clicked"}
BOUNCES = frozenset({K.BOUNCED_HARD, K.BOUNCED_SOFT})
AFTER_SENT = "bounced_after_sent"


@dataclass(frozen=True, slots=True)
class NewEvent:
    kind: str
    occurred_at: datetime
    campaign_id: uuid.UUID | None = None
    message_id: int | None = None
    contact_id: uuid.UUID | None = None
    recipient_domain: str = ""
    machine: bool = False
    link_id: int | None = None
    detail: str = ""
    # A bounce of a message that had already been accepted (sent).
    after_delivery: bool = False
    # Sent: milliseconds from the first attempt to acceptance.
    delivery_ms: int | None = None


def metric_names(event: NewEvent, *, unique: bool) -> list[str]:
    """The rollup metrics one event adds 1 to (``unique``: it is the message's first human open
    or click)."""
    kind = str(event.kind)
    if kind in ENGAGEMENT_KINDS:
        base = ENGAGEMENT_KINDS[kind]
        if event.machine:
            return [f"{base}_machine"]
        return [base, f"{base}_unique"] if unique else [base]
    if kind in BOUNCES and event.after_delivery:
        return [kind, AFTER_SENT]
    return [kind]


def events_record(*, tenant: Organisation, events: Sequence[NewEvent]) -> int:
    """Store ``events`` for ``tenant`` and update the rollups, in the caller's transaction (run it
    inside ``tenant_context``). Returns how many were stored."""
    require_tenant_is_current(tenant)
    if not events:
        return 0
    unique = _first_engagements(tenant, events)
    _touch_contact_engagement(tenant, events)
    for start in range(0, len(events), INSERT_CHUNK):
        _insert_events(tenant, events[start : start + INSERT_CHUNK])
    _update_rollups(tenant, events, unique)
    return len(events)


# --- Unique opens and clicks, contact engagement -------------------------------------------------


def _human(events: Iterable[NewEvent], kind: str) -> Iterable[NewEvent]:
    return (e for e in events if e.kind == kind and not e.machine)


def _first_engagements(tenant: Organisation, events: Sequence[NewEvent]) -> set[int]:
    """Indexes into ``events`` of the human opens and clicks that are their message's first."""
    unique: set[int] = set()
    for kind, column in ((K.OPENED, "first_opened_at"), (K.CLICKED, "first_clicked_at")):
        earliest: dict[int, int] = {}
        for index, event in enumerate(events):
            if event.kind != kind or event.machine or event.message_id is None:
                continue
            seen = earliest.get(event.message_id)
            if seen is None or event.occurred_at < events[seen].occurred_at:
                earliest[event.message_id] = index
        if not earliest:
            continue
        rows = sorted(earliest.items())
        values = ", ".join(["(%s, %s, %s)"] * len(rows))
        params: list[Any] = []
        for message_id, index in rows:
            params += [message_id, tenant.pk, _dt(events[index].occurred_at)]
        table = "reporting_messageengagement"
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (message_id, tenant_id, {column}) VALUES {values} "  # noqa: S608
                f"ON CONFLICT (message_id) DO UPDATE SET {column} = excluded.{column} "
                f"WHERE {table}.{column} IS NULL RETURNING message_id",
                params,
            )
            won = {int(row[0]) for row in cursor.fetchall()}
        unique.update(index for message_id, index in rows if message_id in won)
    return unique


def _touch_contact_engagement(tenant: Organisation, events: Sequence[NewEvent]) -> None:
    for kind, column in ((K.OPENED, "last_opened_at"), (K.CLICKED, "last_clicked_at")):
        latest: dict[uuid.UUID, datetime] = {}
        for event in _human(events, kind):
            if event.contact_id is not None:
                at = latest.get(event.contact_id)
                latest[event.contact_id] = event.occurred_at if at is None else max(at, event.occurred_at)
        if not latest:
            continue
        rows = sorted(latest.items())
        values = ", ".join(["(%s, %s, %s)"] * len(rows))
        params: list[Any] = []
        for contact_id, at in rows:
            params += [_uuid(contact_id), tenant.pk, _dt(at)]
        table = "reporting_contactengagement"
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (contact_id, tenant_id, {column}) VALUES {values} "  # noqa: S608
                f"ON CONFLICT (contact_id) DO UPDATE SET {column} = excluded.{column} "
                f"WHERE {table}.{column} IS NULL OR {table}.{column} < excluded.{column}",
                params,
            )


# --- Raw events ----------------------------------------------------------------------------------

EVENT_COLUMNS = (
    "tenant_id",
    "campaign_id",
    "message_id",
    "contact_id",
    "kind",
    "occurred_at",
    "recipient_domain",
    "machine",
    "link_id",
    "detail",
)
PG_ARRAY_TYPES = ("bigint", "uuid", "bigint", "uuid", "text", "timestamptz", "text", "boolean", "bigint", "text")


def _event_row(tenant: Organisation, e: NewEvent) -> list[Any]:
    return [
        tenant.pk,
        _uuid(e.campaign_id),
        e.message_id,
        _uuid(e.contact_id),
        str(e.kind),
        _dt(e.occurred_at),
        e.recipient_domain[:253],
        e.machine,
        e.link_id,
        e.detail[:64],
    ]


def _insert_events(tenant: Organisation, events: Sequence[NewEvent]) -> None:
    rows = [_event_row(tenant, e) for e in events]
    columns = ", ".join(EVENT_COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One array per column: binding ten arrays is far cheaper than ten thousand values.
            arrays = [list(column) for column in zip(*rows, strict=True)]
            unnest = ", ".join(f"%s::{t}[]" for t in PG_ARRAY_TYPES)
            cursor.execute(
                f"INSERT INTO reporting_event ({columns}) SELECT * FROM unnest({unnest})",  # noqa: S608
                arrays,
            )
            return
        placeholders = "(" + ", ".join(["%s"] * len(EVENT_COLUMNS)) + ")"
        cursor.execute(
            f"INSERT INTO reporting_event ({columns}) VALUES {', '.join([placeholders] * len(rows))}",  # noqa: S608
            [value for row in rows for value in row],
        )


# --- Rollups -------------------------------------------------------------------------------------


def _update_rollups(tenant: Organisation, events: Sequence[NewEvent], unique: set[int]) -> None:
    campaign_day: Counter[tuple[str, date, str]] = Counter()
    campaign_domain: Counter[tuple[str, str, str]] = Counter()
    campaign_domain_ms: Counter[tuple[str, str, str]] = Counter()
    tenant_day: Counter[tuple[date, str]] = Counter()
    tenant_domain_day: Counter[tuple[date, str, str]] = Counter()
    campaign_link: Counter[tuple[str, int, str]] = Counter()
    for index, event in enumerate(events):
        day = _utc_day(event.occurred_at)
        domain = event.recipient_domain[:253]
        for metric in metric_names(event, unique=index in unique):
            tenant_day[(day, metric)] += 1
            if domain:
                tenant_domain_day[(day, domain, metric)] += 1
            if event.campaign_id is None:
                continue
            campaign = str(event.campaign_id)
            campaign_day[(campaign, day, metric)] += 1
            if event.link_id is not None:
                campaign_link[(campaign, int(event.link_id), metric)] += 1
            if domain:
                campaign_domain[(campaign, domain, metric)] += 1
                if event.delivery_ms is not None and metric == K.SENT:
                    campaign_domain_ms[(campaign, domain, metric)] += max(0, int(event.delivery_ms))
    _upsert(
        "reporting_campaigndailystat",
        ("campaign_id", "day", "metric"),
        [((_uuid(uuid.UUID(c)), _date(d), m), n, None) for (c, d, m), n in sorted(campaign_day.items())],
        tenant,
    )
    _upsert(
        "reporting_campaigndomainstat",
        ("campaign_id", "domain", "metric"),
        [
            ((_uuid(uuid.UUID(c)), dom, m), n, campaign_domain_ms.get((c, dom, m), 0))
            for (c, dom, m), n in sorted(campaign_domain.items())
        ],
        tenant,
    )
    _upsert(
        "reporting_campaignlinkstat",
        ("campaign_id", "link_id", "metric"),
        [((_uuid(uuid.UUID(c)), link, m), n, None) for (c, link, m), n in sorted(campaign_link.items())],
        tenant,
    )
    _upsert(
        "reporting_tenantdailystat",
        ("tenant_id", "day", "metric"),
        [((tenant.pk, _date(d), m), n, None) for (d, m), n in sorted(tenant_day.items())],
        tenant,
    )
    _upsert(
        "reporting_tenantdomaindailystat",
        ("tenant_id", "day", "domain", "metric"),
        [((tenant.pk, _date(d), dom, m), n, None) for (d, dom, m), n in sorted(tenant_domain_day.items())],
        tenant,
    )


def _upsert(
    table: str, key: tuple[str, ...], rows: list[tuple[tuple[Any, ...], int, int | None]], tenant: Organisation
) -> None:
    """Add each row's count (and delivery time) to the row with its key, creating it if new."""
    if not rows:
        return
    with_ms = rows[0][2] is not None
    owns_tenant = "tenant_id" in key
    columns = ([] if owns_tenant else ["tenant_id"]) + list(key) + ["count"] + (["delivery_ms"] if with_ms else [])
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    params: list[Any] = []
    for values, count, ms in rows:
        params += ([] if owns_tenant else [tenant.pk]) + list(values) + [count] + ([ms] if with_ms else [])
    updates = f"count = {table}.count + excluded.count"
    if with_ms:
        updates += f", delivery_ms = {table}.delivery_ms + excluded.delivery_ms"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([placeholders] * len(rows))} "  # noqa: S608
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}",
            params,
        )


# --- Values as the backend stores them (raw SQL bypasses the fields' own conversion) -------------


def _utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date() if timezone.is_aware(at) else at.date()


def _dt(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _date(value: date) -> Any:
    return connection.ops.adapt_datefield_value(value)


def _uuid(value: uuid.UUID | str | None) -> Any:
    if value is None:
        return None
    if not isinstance(value, uuid.UUID):
        value = uuid.UUID(str(value))
    return value if connection.vendor == "postgresql" else value.hex


def events_record_campaign_moves(
    *, tenant: Organisation, campaign_id: uuid.UUID, kind: str, status: str, at: datetime
) -> int:
    """Record ``kind`` for every message of the campaign that a bulk statement just moved to
    ``status`` at ``at`` (launch: queued; cancel: cancelled), with one ``INSERT … SELECT`` and
    the rollups from one grouped count, in the caller's transaction. Returns how many."""
    require_tenant_is_current(tenant)
    where = "tenant_id = %s AND campaign_id = %s AND status = %s AND updated_at = %s"
    where_params = [tenant.pk, _uuid(campaign_id), status, _dt(at)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO reporting_event ({', '.join(EVENT_COLUMNS)}) "  # noqa: S608
            "SELECT tenant_id, campaign_id, id, contact_id, %s, %s, recipient_domain, %s, NULL, '' "
            f"FROM campaigns_message WHERE {where}",
            [str(kind), _dt(at), False, *where_params],
        )
        cursor.execute(
            f"SELECT recipient_domain, COUNT(*) FROM campaigns_message WHERE {where} "  # noqa: S608
            "GROUP BY recipient_domain ORDER BY recipient_domain",
            where_params,
        )
        by_domain = [(str(domain or ""), int(count)) for domain, count in cursor.fetchall()]
    total = sum(count for _, count in by_domain)
    if not total:
        return 0
    day, metric, campaign = _date(_utc_day(at)), str(kind), _uuid(campaign_id)
    domains = [(domain, count) for domain, count in by_domain if domain]
    _upsert(
        "reporting_campaigndailystat",
        ("campaign_id", "day", "metric"),
        [((campaign, day, metric), total, None)],
        tenant,
    )
    _upsert(
        "reporting_tenantdailystat", ("tenant_id", "day", "metric"), [((tenant.pk, day, metric), total, None)], tenant
    )
    _upsert(
        "reporting_campaigndomainstat",
        ("campaign_id", "domain", "metric"),
        [((campaign, domain, metric), count, 0) for domain, count in domains],
        tenant,
    )
    _upsert(
        "reporting_tenantdomaindailystat",
        ("tenant_id", "day", "domain", "metric"),
        [((tenant.pk, day, domain, metric), count, None) for domain, count in domains],
        tenant,
    )
    return total
