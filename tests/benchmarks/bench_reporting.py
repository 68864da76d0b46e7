"""Reporting (``make bench``): event ingestion through ``reporting.events.events_record`` and
the campaign dashboard's server time on a large campaign.

1. **Ingestion** (goal ≥ 20,000 events/s): ``REPORTING_BENCH_INGEST_EVENTS`` events (200,000 by
   default) of a synthetic campaign, recorded in batches of ``REPORTING_BENCH_BATCH`` (1,000),
   each batch in its own transaction and tenant context as the pipeline records a batch of
   message moves: raw rows plus every rollup (campaign × day, campaign × domain, campaign × link,
   organisation × day, organisation × day × domain, first opens and clicks, contacts' last
   engagement). Its own organisation, emptied before each run.

2. **Campaign dashboard** (goal ≤ 200 ms): a campaign of ``REPORTING_BENCH_MESSAGES`` messages
   (1,000,000) and about ``REPORTING_BENCH_EVENTS`` events (3,000,000) over 30 days, 2,000
   recipient domains (Zipf-like: a few large providers, a long tail) and 8 tracked links,
   loaded once through ``events_record`` (a database that already holds it is reused). Timed: the
   whole GET of the dashboard page by a signed-in marketer through Django's test client
   (middleware, selector, charts, template), the median of ``REPORTING_BENCH_RUNS`` runs (7)
   after one warm-up; the selector alone and the organisation overview are printed beside it.

For a quick check: ``REPORTING_BENCH_INGEST_EVENTS=20000 REPORTING_BENCH_MESSAGES=30000
REPORTING_BENCH_EVENTS=100000 python -m tests.benchmarks reporting``.
"""

from __future__ import annotations

import itertools
import os
import random
import statistics
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import django

INGEST_EVENTS = int(os.environ.get("REPORTING_BENCH_INGEST_EVENTS", "200000"))
BATCH = int(os.environ.get("REPORTING_BENCH_BATCH", "1000"))
MESSAGES = int(os.environ.get("REPORTING_BENCH_MESSAGES", "1000000"))
EVENTS = int(os.environ.get("REPORTING_BENCH_EVENTS", "3000000"))
RUNS = int(os.environ.get("REPORTING_BENCH_RUNS", "7"))
DOMAINS = int(os.environ.get("REPORTING_BENCH_DOMAINS", "2000"))
LINKS = 8
SPREAD_DAYS = 30
SLUG, INGEST_SLUG = "bench-reporting", "bench-reporting-ingest"
# Synthetic message ids far above any real one (first opens are keyed by message id).
DASHBOARD_FIRST_ID, INGEST_FIRST_ID = 9_000_000_000_000_000, 8_000_000_000_000_000
LOAD_BATCH = 5000


# --- Synthetic events ----------------------------------------------------------------------------


def _domains(count: int) -> tuple[list[str], list[float]]:
    names = ["mail-giant.example", "webmail.example", "inbox-corp.example", "isp-one.example", "isp-two.example"]
    names += [f"clinic-{n:04d}.example" for n in range(max(0, count - len(names)))]
    names = names[:count]
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(names))]
    return names, list(itertools.accumulate(weights))


def events_for(
    *, campaign_id: uuid.UUID, messages: int, events_per_message: float, first_id: int, links: list[int], seed: int
) -> Iterator[list[Any]]:
    """Lists of ``NewEvent`` (a few thousand messages each, every message's events in one list,
    in time order). Each message: queued, an outcome (sent 88%, escrowed 7%, bounced, deferred
    then sent or given up, blocked) and, when sent, opens, clicks, machine opens, unsubscribes
    and complaints, tuned so the stream averages ``events_per_message``."""
    from reporting.events import NewEvent

    rng = random.Random(seed)
    names, cumulative = _domains(DOMAINS)
    start = datetime(2026, 10, 1, 8, tzinfo=UTC)
    # Extra engagement events per sent message beyond queued + outcome (≈ 2.02 per message).
    # Per sent message: 0.1 machine opens + k human opens (geometric, mean x) with 0.3 clicks each.
    extra = max(0.0, (events_per_message - 2.02) / 0.88 - 0.1)
    mean_opens = extra / 1.3
    open_p = min(0.95, mean_opens / (1 + mean_opens))
    chunk: list[Any] = []
    for offset in range(messages):
        message_id = first_id + offset
        contact = uuid.UUID(int=rng.getrandbits(128))
        domain = rng.choices(names, cum_weights=cumulative)[0]
        at = start + timedelta(seconds=rng.randrange(0, 2 * 86_400))
        base: dict[str, Any] = {
            "campaign_id": campaign_id,
            "message_id": message_id,
            "contact_id": contact,
            "recipient_domain": domain,
        }
        out = [NewEvent(kind="queued", occurred_at=at, **base)]
        roll = rng.random()
        if roll < 0.02:
            out.append(NewEvent(kind="bounced_hard", occurred_at=at + timedelta(seconds=5), **base))
        elif roll < 0.03:
            out.append(NewEvent(kind="blocked", occurred_at=at + timedelta(seconds=1), **base))
        elif roll < 0.10:
            out.append(NewEvent(kind="escrow_notice_sent", occurred_at=at + timedelta(seconds=3), **base))
            if rng.random() < 0.5:
                out.append(NewEvent(kind="escrow_read", occurred_at=at + timedelta(hours=rng.randrange(1, 72)), **base))
        else:
            sent_at = at + timedelta(seconds=rng.randrange(1, 20))
            if roll < 0.12:
                out.append(NewEvent(kind="deferred", occurred_at=at + timedelta(seconds=2), **base))
                if roll < 0.11:
                    out.append(NewEvent(kind="bounced_soft", occurred_at=at + timedelta(hours=4), **base))
                    chunk.extend(out)
                    continue
                sent_at = at + timedelta(minutes=30)
            ms = int((sent_at - at).total_seconds() * 1000) + rng.randrange(0, 900)
            out.append(NewEvent(kind="sent", occurred_at=sent_at, delivery_ms=ms, **base))
            if rng.random() < 0.01:
                out.append(
                    NewEvent(
                        kind="bounced_hard", occurred_at=sent_at + timedelta(minutes=3), after_delivery=True, **base
                    )
                )
            else:
                when = sent_at
                if rng.random() < 0.10:
                    out.append(
                        NewEvent(kind="opened", occurred_at=sent_at + timedelta(seconds=30), machine=True, **base)
                    )
                while rng.random() < open_p:
                    when += timedelta(minutes=rng.randrange(1, SPREAD_DAYS * 24 * 60 // 6))
                    out.append(NewEvent(kind="opened", occurred_at=when, **base))
                    if links and rng.random() < 0.3:
                        link = rng.choice(links)
                        out.append(
                            NewEvent(kind="clicked", occurred_at=when + timedelta(seconds=40), link_id=link, **base)
                        )
                if rng.random() < 0.004:
                    out.append(NewEvent(kind="unsubscribed", occurred_at=when + timedelta(minutes=1), **base))
                if rng.random() < 0.0008:
                    out.append(NewEvent(kind="complained", occurred_at=when + timedelta(minutes=2), **base))
        chunk.extend(out)
        if len(chunk) >= LOAD_BATCH:
            chunk.sort(key=lambda e: e.occurred_at)
            yield chunk
            chunk = []
    if chunk:
        chunk.sort(key=lambda e: e.occurred_at)
        yield chunk


# --- Fixtures -------------------------------------------------------------------------------------


def _fixtures(slug: str, name: str) -> tuple[Any, Any, Any, list[int]]:
    """An organisation, a marketer, a launched campaign and its template's tracked links."""
    from authn.models import User
    from campaigns.models import Campaign, CampaignStatus
    from reporting.models import TrackedLink
    from templates.models import EmailTemplate, TemplateContent, TemplateVersion, VersionStatus
    from tenants.context import tenant_context
    from tenants.models import Membership, Organisation
    from tenants.roles import Role
    from tenants.services import membership_create

    tenant, _ = Organisation.objects.get_or_create(slug=slug, defaults={"name": name})
    email = f"{slug}@example.com"
    user = User.objects.filter(email=email).first() or User.objects.create_user(email=email, password=None)
    with tenant_context(tenant):
        if not Membership.objects.for_tenant(tenant).filter(user=user).exists():
            membership_create(tenant=tenant, actor=None, user=user, role=Role.MARKETER)
        template, _ = EmailTemplate.objects.get_or_create(
            tenant=tenant, name="Bench newsletter", defaults={"purpose": "newsletters", "created_by": user}
        )
        version, created = TemplateVersion.objects.get_or_create(
            tenant=tenant, template=template, number=1, defaults={"status": VersionStatus.APPROVED, "created_by": user}
        )
        if created:
            TemplateContent.objects.create(
                tenant=tenant, version=version, language="en", subject="News", html_body="<p>{{ org.name }}</p>"
            )
        links = []
        for n in range(LINKS):
            link, _ = TrackedLink.objects.get_or_create(
                tenant=tenant,
                version=version,
                url=f"https://clinic.example/news/item-{n}?utm_source=sealpost",
                defaults={"position": n},
            )
            links.append(link.pk)
        campaign = Campaign.objects.for_tenant(tenant).filter(name="Bench campaign").first()
        if campaign is None:
            campaign = Campaign.objects.create(
                tenant=tenant,
                name="Bench campaign",
                purpose="newsletters",
                template=template,
                template_version=version,
                from_name="Bench",
                from_address=f"news@{slug}.example.com",
                status=CampaignStatus.COMPLETED,
                created_by=user,
                launched_at=datetime(2026, 10, 1, 8, tzinfo=UTC),
                audience_size=MESSAGES,
            )
    return tenant, user, campaign, links


def _record(tenant: Any, events: list[Any]) -> None:
    from django.db import transaction

    from reporting.events import events_record
    from tenants.context import tenant_context

    with transaction.atomic(), tenant_context(tenant):
        events_record(tenant=tenant, events=events)


def _empty(tenant: Any) -> None:
    """Remove the organisation's events and rollups (row-level security keeps it to them)."""
    from reporting import models
    from tenants.context import tenant_context

    with tenant_context(tenant):
        for model in (
            models.Event,
            models.CampaignDailyStat,
            models.CampaignDomainStat,
            models.CampaignLinkStat,
            models.TenantDailyStat,
            models.TenantDomainDailyStat,
            models.MessageEngagement,
            models.ContactEngagement,
        ):
            model.objects.for_tenant(tenant).all()._raw_delete(using="default")


def _owner_execute(statements: list[str]) -> None:
    import psycopg

    with psycopg.connect(os.environ["DATABASE_MIGRATE_URL"], autocommit=True) as owner:
        for statement in statements:
            owner.execute(statement)  # type: ignore[arg-type]


def _loaded_events(tenant: Any, campaign: Any) -> int:
    from django.db.models import Sum

    from reporting.models import CampaignDailyStat
    from tenants.context import tenant_context

    with tenant_context(tenant):
        total = CampaignDailyStat.objects.for_tenant(tenant).filter(campaign_id=campaign.pk, metric="queued")
        return int(total.aggregate(n=Sum("count"))["n"] or 0)


# --- The two measurements -----------------------------------------------------------------------


def bench_ingestion() -> None:
    tenant, _, campaign, links = _fixtures(INGEST_SLUG, "Benchmark reporting ingestion")
    _empty(tenant)
    per_message = EVENTS / MESSAGES if MESSAGES else 3.0
    pending: list[Any] = []
    for chunk in events_for(
        campaign_id=campaign.pk,
        messages=int(INGEST_EVENTS / per_message) + 1,
        events_per_message=per_message,
        first_id=INGEST_FIRST_ID,
        links=links,
        seed=7,
    ):
        pending.extend(chunk)
        if len(pending) >= INGEST_EVENTS:
            break
    events = pending[:INGEST_EVENTS]
    batches = [events[n : n + BATCH] for n in range(0, len(events), BATCH)]
    started = time.perf_counter()
    for batch in batches:
        _record(tenant, batch)
    elapsed = time.perf_counter() - started
    print(f"ingestion: {len(events)} events in {len(batches)} batches of {BATCH} in {elapsed:.1f} s", flush=True)
    print(f"RESULT reporting_ingest_events_per_s {len(events) / elapsed:.0f} events/s", flush=True)


def _signed_in_client(tenant: Any, user: Any) -> Any:
    from django.test import Client

    from authn.models import Factor
    from authn.tests.support import bind_client_session
    from tenants.resolution import SESSION_TENANT_KEY

    client = Client()
    client.force_login(user)
    bind_client_session(client, user, factor=Factor.PASSKEY)
    session = client.session
    session[SESSION_TENANT_KEY] = tenant.pk
    session.save()
    return client


def _median_ms(action: Any) -> float:
    action()  # warm-up: templates compiled, connections open
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def bench_dashboard() -> None:
    from django.urls import reverse

    from reporting.selectors import campaign_dashboard, organisation_overview
    from tenants.context import tenant_context

    tenant, user, campaign, links = _fixtures(SLUG, "Benchmark reporting")
    messages_loaded = _loaded_events(tenant, campaign)
    if messages_loaded != MESSAGES:
        _empty(tenant)
        started = time.perf_counter()
        total = 0
        for chunk in events_for(
            campaign_id=campaign.pk,
            messages=MESSAGES,
            events_per_message=EVENTS / MESSAGES,
            first_id=DASHBOARD_FIRST_ID,
            links=links,
            seed=1,
        ):
            _record(tenant, chunk)
            total += len(chunk)
        elapsed = time.perf_counter() - started
        print(f"setup: {MESSAGES} messages, {total} events loaded through events_record", flush=True)
        print(f"RESULT reporting_bench_setup_s {elapsed:.1f} s", flush=True)
        print(f"RESULT reporting_bench_setup_events_per_s {total / elapsed:.0f} events/s", flush=True)
        _owner_execute(
            [
                f"VACUUM ANALYZE {table}"
                for table in (
                    "reporting_campaigndailystat",
                    "reporting_campaigndomainstat",
                    "reporting_campaignlinkstat",
                    "reporting_tenantdailystat",
                    "reporting_tenantdomaindailystat",
                )
            ]
        )
    with tenant_context(tenant):
        dashboard = campaign_dashboard(tenant=tenant, campaign=campaign)
    print(
        f"dashboard: {dashboard.totals.metric('queued')} messages, {sum(dashboard.totals.counts.values())} metric "
        f"counts, {len(dashboard.daily.days)} days, {dashboard.domain_count} domains, {dashboard.link_count} links",
        flush=True,
    )

    client = _signed_in_client(tenant, user)
    url = reverse("reporting:campaign_dashboard", kwargs={"campaign_id": campaign.pk})

    def page() -> None:
        response = client.get(url)
        assert response.status_code == 200, response.status_code

    def selector() -> None:
        with tenant_context(tenant):
            campaign_dashboard(tenant=tenant, campaign=campaign)

    def overview() -> None:
        response = client.get(reverse("reporting:overview"), {"days": 90})
        assert response.status_code == 200, response.status_code

    print(f"RESULT reporting_dashboard_ms {_median_ms(page):.1f} ms", flush=True)
    print(f"RESULT reporting_dashboard_selector_ms {_median_ms(selector):.1f} ms", flush=True)
    with tenant_context(tenant):
        end = organisation_overview(tenant=tenant, days=1).end
    print(f"overview: today {end} (the bench campaign's events are in October 2026)", flush=True)
    print(f"RESULT reporting_overview_ms {_median_ms(overview):.1f} ms", flush=True)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sealpost.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("ensure_keys", verbosity=0)
    bench_ingestion()
    bench_dashboard()


if __name__ == "__main__":
    main()
