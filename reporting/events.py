"""Writing events: ``events_record`` stores a batch and updates every rollup in the caller's
transaction, so the figures reports read are exactly the events stored.

Callers: the message state machine (``campaigns.messages``: every move of a campaign message
is an event), the launch (queued), tracking (opens and clicks), inbound reports (complaints),
consent (unsubscribes) and the escrow portal (opened, read, reply).

How an event counts (``metrics_of``):

- every event counts once under its kind, per campaign and day and per organisation and day;
  all but opens and clicks (``NOT_PER_DOMAIN``) also per campaign and recipient domain and per
  organisation, day and domain;
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

import psycopg
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
# Opens and clicks (and launch's queued, which has no domain yet) are kept per campaign and day
# only, not per recipient domain: the domain table and degradation warnings read delivery
# outcomes, and counting engagement per domain too doubled the rows each batch upserts.
NOT_PER_DOMAIN = frozenset(
    {
        K.QUEUED,
        "opened",
        "opened_unique",
        "opened_machine",
        "clicked",
        "clicked_unique",
        "clicked_machine",
    }
)


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
        base = ENGAGEMENT_KINDS[EventKind(kind)]
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


def _cursor() -> Any:
    """A cursor for this module's statements. On PostgreSQL it binds parameters on the server,
    in binary where it can: Django's cursors quote every value into the query text on the client,
    which for the column arrays bound here cost more than running the statements. Same
    connection, so the caller's transaction and tenant setting apply."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


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
        won = _upsert_first(
            tenant,
            "reporting_messageengagement",
            "message_id",
            column,
            [(message_id, events[index].occurred_at) for message_id, index in rows],
            later_wins=False,
        )
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
        _upsert_first(
            tenant, "reporting_contactengagement", "contact_id", column, sorted(latest.items()), later_wins=True
        )


def _upsert_first(
    tenant: Organisation, table: str, key: str, column: str, rows: list[tuple[Any, datetime]], *, later_wins: bool
) -> set[Any]:
    """Upsert ``(key, time)`` rows setting ``column``: where it is empty, or (``later_wins``)
    older. Returns the keys written (for first opens: exactly the first ones, also under
    concurrency, because the condition is re-checked on the locked row)."""
    condition = f"{table}.{column} IS NULL"
    if later_wins:
        condition += f" OR {table}.{column} < excluded.{column}"
    key_type = "bigint" if key == "message_id" else "uuid"
    with _cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {table} ({key}, tenant_id, {column}) "  # noqa: S608
                f"SELECT k, %s, t FROM unnest(%b::{key_type}[], %b::timestamptz[]) AS v(k, t) "
                f"ON CONFLICT ({key}) DO UPDATE SET {column} = excluded.{column} WHERE {condition} "
                f"RETURNING {key}",
                [tenant.pk, [k for k, _ in rows], [t for _, t in rows]],
            )
        else:
            values = ", ".join(["(%s, %s, %s)"] * len(rows))
            params: list[Any] = []
            for k, t in rows:
                params += [_uuid(k) if key_type == "uuid" else k, tenant.pk, _dt(t)]
            cursor.execute(
                f"INSERT INTO {table} ({key}, tenant_id, {column}) VALUES {values} "  # noqa: S608
                f"ON CONFLICT ({key}) DO UPDATE SET {column} = excluded.{column} WHERE {condition} "
                f"RETURNING {key}",
                params,
            )
        written = [row[0] for row in cursor.fetchall()]
    if key_type == "uuid":
        return {uuid.UUID(str(k)) for k in written}
    return {int(k) for k in written}


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


def _insert_events(tenant: Organisation, events: Sequence[NewEvent]) -> None:
    columns = ", ".join(EVENT_COLUMNS)
    with _cursor() as cursor:
        if connection.vendor == "postgresql":
            # One array per column: binding ten arrays is far cheaper than ten thousand values.
            arrays: list[list[Any]] = [
                [e.campaign_id for e in events],
                [e.message_id for e in events],
                [e.contact_id for e in events],
                [str(e.kind) for e in events],
                [e.occurred_at for e in events],
                [e.recipient_domain[:253] for e in events],
                [e.machine for e in events],
                [e.link_id for e in events],
                [e.detail[:64] for e in events],
            ]
            unnest = ", ".join(f"%b::{t}[]" for t in PG_ARRAY_TYPES[1:])
            cursor.execute(
                f"INSERT INTO reporting_event ({columns}) SELECT %s, v.* FROM unnest({unnest}) AS v",  # noqa: S608
                [tenant.pk, *arrays],
            )
            return
        rows = [
            [
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
            for e in events
        ]
        placeholders = "(" + ", ".join(["%s"] * len(EVENT_COLUMNS)) + ")"
        cursor.execute(
            f"INSERT INTO reporting_event ({columns}) VALUES {', '.join([placeholders] * len(rows))}",  # noqa: S608
            [value for row in rows for value in row],
        )


# --- Rollups -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rollup:
    """A rollup table: its key columns besides the tenant (name, PostgreSQL type), the unique
    key upserts meet on, and whether it sums delivery time."""

    table: str
    keys: tuple[tuple[str, str], ...]
    conflict: tuple[str, ...]
    with_ms: bool = False


CAMPAIGN_DAY = Rollup(
    "reporting_campaigndailystat",
    (("campaign_id", "uuid"), ("day", "date"), ("metric", "text")),
    ("campaign_id", "day", "metric"),
)
CAMPAIGN_DOMAIN = Rollup(
    "reporting_campaigndomainstat",
    (("campaign_id", "uuid"), ("domain", "text"), ("metric", "text")),
    ("campaign_id", "domain", "metric"),
    with_ms=True,
)
CAMPAIGN_LINK = Rollup(
    "reporting_campaignlinkstat",
    (("campaign_id", "uuid"), ("link_id", "bigint"), ("metric", "text")),
    ("campaign_id", "link_id", "metric"),
)
TENANT_DAY = Rollup("reporting_tenantdailystat", (("day", "date"), ("metric", "text")), ("tenant_id", "day", "metric"))
TENANT_DOMAIN_DAY = Rollup(
    "reporting_tenantdomaindailystat",
    (("day", "date"), ("domain", "text"), ("metric", "text")),
    ("tenant_id", "day", "domain", "metric"),
)


def _update_rollups(tenant: Organisation, events: Sequence[NewEvent], unique: set[int]) -> None:
    campaign_day: Counter[tuple[Any, date, str]] = Counter()
    campaign_domain: Counter[tuple[Any, str, str]] = Counter()
    campaign_domain_ms: Counter[tuple[Any, str, str]] = Counter()
    campaign_link: Counter[tuple[Any, int, str]] = Counter()
    tenant_day: Counter[tuple[date, str]] = Counter()
    tenant_domain_day: Counter[tuple[date, str, str]] = Counter()
    days: dict[datetime, date] = {}
    for index, event in enumerate(events):
        day = days.get(event.occurred_at)
        if day is None:
            day = days[event.occurred_at] = _utc_day(event.occurred_at)
        domain = event.recipient_domain[:253]
        campaign = event.campaign_id
        for metric in metric_names(event, unique=index in unique):
            tenant_day[(day, metric)] += 1
            per_domain = bool(domain) and metric not in NOT_PER_DOMAIN
            if per_domain:
                tenant_domain_day[(day, domain, metric)] += 1
            if campaign is None:
                continue
            campaign_day[(campaign, day, metric)] += 1
            if event.link_id is not None:
                campaign_link[(campaign, int(event.link_id), metric)] += 1
            if per_domain:
                campaign_domain[(campaign, domain, metric)] += 1
                if event.delivery_ms is not None and metric == K.SENT:
                    campaign_domain_ms[(campaign, domain, metric)] += max(0, int(event.delivery_ms))
    _upsert(tenant, CAMPAIGN_DAY, campaign_day)
    _upsert(tenant, CAMPAIGN_DOMAIN, campaign_domain, campaign_domain_ms)
    _upsert(tenant, CAMPAIGN_LINK, campaign_link)
    _upsert(tenant, TENANT_DAY, tenant_day)
    _upsert(tenant, TENANT_DOMAIN_DAY, tenant_domain_day)


def _sort_key(item: tuple[tuple[Any, ...], int]) -> tuple[str, ...]:
    return tuple(str(part) for part in item[0])


def _upsert(
    tenant: Organisation,
    rollup: Rollup,
    counts: Counter[Any],
    delivery_ms: Counter[Any] | None = None,
) -> None:
    """Add each key's count (and delivery time) to its row, creating it if new. Rows go in key
    order, so two transactions upserting the same rows lock them in the same order."""
    if not counts:
        return
    items = sorted(counts.items(), key=_sort_key)
    names = [name for name, _ in rollup.keys]
    columns = ["tenant_id", *names, "count"] + (["delivery_ms"] if rollup.with_ms else [])
    updates = f"count = {rollup.table}.count + excluded.count"
    if rollup.with_ms:
        updates += f", delivery_ms = {rollup.table}.delivery_ms + excluded.delivery_ms"
    conflict = f"ON CONFLICT ({', '.join(rollup.conflict)}) DO UPDATE SET {updates}"
    with _cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays: list[list[Any]] = [[key[i] for key, _ in items] for i in range(len(names))]
            arrays.append([count for _, count in items])
            types = [pg_type for _, pg_type in rollup.keys] + ["bigint"]
            if rollup.with_ms:
                arrays.append([(delivery_ms or {}).get(key, 0) for key, _ in items])
                types.append("bigint")
            unnest = ", ".join(f"%b::{t}[]" for t in types)
            cursor.execute(
                f"INSERT INTO {rollup.table} ({', '.join(columns)}) "  # noqa: S608
                f"SELECT %s, v.* FROM unnest({unnest}) AS v {conflict}",
                [tenant.pk, *arrays],
            )
            return
        params: list[Any] = []
        for key, count in items:
            params += [tenant.pk, *(_sqlite_value(value, t) for value, (_, t) in zip(key, rollup.keys, strict=True))]
            params.append(count)
            if rollup.with_ms:
                params.append((delivery_ms or {}).get(key, 0))
        placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
        cursor.execute(
            f"INSERT INTO {rollup.table} ({', '.join(columns)}) "  # noqa: S608
            f"VALUES {', '.join([placeholders] * len(items))} {conflict}",
            params,
        )


def _sqlite_value(value: Any, pg_type: str) -> Any:
    if pg_type == "uuid":
        return _uuid(value)
    if pg_type == "date":
        return _date(value)
    return value


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
    day, metric = _utc_day(at), str(kind)
    campaign = campaign_id if isinstance(campaign_id, uuid.UUID) else uuid.UUID(str(campaign_id))
    domains = [(domain, count) for domain, count in by_domain if domain and metric not in NOT_PER_DOMAIN]
    _upsert(tenant, CAMPAIGN_DAY, Counter({(campaign, day, metric): total}))
    _upsert(tenant, TENANT_DAY, Counter({(day, metric): total}))
    _upsert(tenant, CAMPAIGN_DOMAIN, Counter({(campaign, domain, metric): count for domain, count in domains}))
    _upsert(tenant, TENANT_DOMAIN_DAY, Counter({(day, domain, metric): count for domain, count in domains}))
    return total
