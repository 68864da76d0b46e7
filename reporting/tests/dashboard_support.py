"""Synthetic event streams for the dashboard tests and the benchmark, and the same figures
counted directly over the raw ``reporting.models.Event`` rows (what the rollups must agree with).

A stream is plausible rather than exhaustive: each message is queued, then sent, escrowed,
bounced, deferred (then sent or given up) or blocked; some sent messages bounce later, get
opened and clicked (by people and by machines), unsubscribed from or complained about; some
escrowed ones are read in the portal. Events come back sorted by time, so recording them in
order makes "first open" mean the earliest one.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from reporting.events import NewEvent, events_record
from reporting.models import Event, TrackedLink
from tenants.context import tenant_context

DOMAINS = (
    "mail-one.example",
    "mail-two.example",
    "clinic-mail.example",
    "patients.example",
    "inbox.example",
    "old-isp.example",
)
K = "kind"


def make_links(tenant: Any, version: Any, count: int = 3) -> list[int]:
    """Tracked links of ``version`` (synthetic URLs); returns their ids."""
    with tenant_context(tenant):
        return [
            TrackedLink.objects.create(
                tenant=tenant, version=version, url=f"https://clinic.example/page-{n}?from=news", position=n
            ).pk
            for n in range(count)
        ]


def synthetic_stream(
    *,
    seed: int,
    campaign_id: uuid.UUID | None,
    start: datetime,
    messages: int,
    links: Sequence[int] = (),
    domains: Sequence[str] = DOMAINS,
    first_message_id: int = 1,
    spread_days: int = 5,
) -> list[NewEvent]:
    rng = random.Random(seed)
    events: list[NewEvent] = []
    minute = timedelta(minutes=1)

    def add(kind: str, at: datetime, message_id: int, contact: uuid.UUID, domain: str, **extra: Any) -> None:
        events.append(
            NewEvent(
                kind=kind,
                occurred_at=at,
                campaign_id=campaign_id,
                message_id=message_id,
                contact_id=contact,
                recipient_domain=domain,
                **extra,
            )
        )

    for offset in range(messages):
        message_id = first_message_id + offset
        contact = uuid.UUID(int=rng.getrandbits(128))
        domain = rng.choice(domains)
        at = start + timedelta(minutes=rng.randrange(0, spread_days * 24 * 60)) + timedelta(microseconds=offset)
        add("queued", at, message_id, contact, domain)
        roll = rng.random()
        if roll < 0.04:
            add("bounced_hard", at + minute, message_id, contact, domain)
            continue
        if roll < 0.06:
            add("blocked", at + minute, message_id, contact, domain)
            continue
        if roll < 0.12:  # deferred, then given up or sent
            add("deferred", at + minute, message_id, contact, domain)
            add("deferred", at + 30 * minute, message_id, contact, domain)
            if rng.random() < 0.4:
                add("bounced_soft", at + 240 * minute, message_id, contact, domain)
                continue
            at += 240 * minute
        if roll > 0.88:
            escrowed_at = at + minute
            add("escrow_notice_sent", escrowed_at, message_id, contact, domain)
            if rng.random() < 0.6:
                add("escrow_opened", escrowed_at + 60 * minute, message_id, contact, domain)
                add("escrow_read", escrowed_at + 61 * minute, message_id, contact, domain)
            continue
        sent_at = at + minute
        add("sent", sent_at, message_id, contact, domain, delivery_ms=rng.randrange(50, 20_000))
        if rng.random() < 0.03:
            add("bounced_hard", sent_at + 5 * minute, message_id, contact, domain, after_delivery=True)
            continue
        when = sent_at
        if rng.random() < 0.15:
            add("opened", sent_at + minute, message_id, contact, domain, machine=True)
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
            when += timedelta(minutes=rng.randrange(5, 3000))
            add("opened", when, message_id, contact, domain)
            if links and rng.random() < 0.35:
                add("clicked", when + minute, message_id, contact, domain, link_id=rng.choice(links))
        if links and rng.random() < 0.05:
            add("clicked", sent_at + minute, message_id, contact, domain, link_id=rng.choice(links), machine=True)
        if rng.random() < 0.02:
            add("unsubscribed", when + 2 * minute, message_id, contact, domain)
        if rng.random() < 0.01:
            add("complained", when + 3 * minute, message_id, contact, domain)
    events.sort(key=lambda e: e.occurred_at)
    return events


def launched_campaign(fixture: Any, *, name: str = "", messages: int = 120, first_message_id: int = 1, **stream: Any):
    """A campaign marked as launched, with tracked links and a synthetic stream of events over
    the last week recorded through ``events_record``."""
    from django.utils import timezone

    from campaigns.models import Campaign, CampaignStatus
    from campaigns.tests.support import approved_template, make_campaign

    version = approved_template(fixture)
    campaign = make_campaign(fixture, version=version, **({"name": name} if name else {}))
    with tenant_context(fixture.tenant):
        Campaign.objects.for_tenant(fixture.tenant).filter(pk=campaign.pk).update(
            status=CampaignStatus.SENDING, launched_at=timezone.now(), audience_size=messages
        )
        campaign.refresh_from_db()
    links = make_links(fixture.tenant, version, count=3)
    start = datetime.now(tz=UTC).replace(microsecond=0) - timedelta(days=6)
    events = synthetic_stream(
        seed=first_message_id,
        campaign_id=campaign.pk,
        start=start,
        messages=messages,
        links=links,
        first_message_id=first_message_id,
        **stream,
    )
    record(fixture.tenant, events)
    return campaign


def record(tenant: Any, events: Sequence[NewEvent], batch: int = 500) -> None:
    with tenant_context(tenant):
        for n in range(0, len(events), batch):
            events_record(tenant=tenant, events=events[n : n + batch])


# --- Direct counts over the raw events ----------------------------------------------------------


@dataclass
class Direct:
    """Figures counted from ``Event`` rows, keyed like the rollups' metrics."""

    counts: Counter[str]
    daily: dict[tuple[date, str], int]
    domains: dict[str, Counter[str]]
    links: dict[int, Counter[str]]


def _day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def direct_counts(
    tenant: Any, *, campaign_id: uuid.UUID | None = None, first: date | None = None, last: date | None = None
) -> Direct:
    with tenant_context(tenant):
        rows = Event.objects.for_tenant(tenant)
        if campaign_id is not None:
            rows = rows.filter(campaign_id=campaign_id)
        fetched = list(
            rows.order_by("occurred_at", "id").values_list(
                "kind", "occurred_at", "message_id", "recipient_domain", "machine", "link_id"
            )
        )
    sent_at: dict[int, datetime] = {}
    first_open: set[int] = set()
    first_click: set[int] = set()
    counts: Counter[str] = Counter()
    daily: dict[tuple[date, str], int] = defaultdict(int)
    domains: dict[str, Counter[str]] = defaultdict(Counter)
    links: dict[int, Counter[str]] = defaultdict(Counter)
    for kind, at, message_id, domain, machine, link_id in fetched:
        metrics = [kind]
        if kind in ("opened", "clicked"):
            seen = first_open if kind == "opened" else first_click
            if machine:
                metrics = [f"{kind}_machine"]
            elif message_id not in seen:
                seen.add(message_id)
                metrics = [kind, f"{kind}_unique"]
        if kind == "sent":
            sent_at.setdefault(message_id, at)
        if kind in ("bounced_hard", "bounced_soft") and message_id in sent_at and sent_at[message_id] < at:
            metrics.append("bounced_after_sent")
        day = _day(at)
        if (first is not None and day < first) or (last is not None and day > last):
            continue
        for metric in metrics:
            counts[metric] += 1
            daily[(day, metric)] += 1
            if domain:
                domains[domain][metric] += 1
            if link_id is not None:
                links[int(link_id)][metric] += 1
    return Direct(counts, dict(daily), dict(domains), dict(links))


def delivery_ms_by_domain(events: Sequence[NewEvent]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for event in events:
        if event.kind == "sent" and event.delivery_ms is not None:
            out[event.recipient_domain] += event.delivery_ms
    return dict(out)
