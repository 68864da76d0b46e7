"""The dashboards' figures agree with the raw events: streams recorded through
``events_record`` and the same figures counted directly over ``Event`` rows; the selectors read
only rollups, in a fixed number of queries whatever the volume; warnings fire when they should."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.tests.support import approved_template, make_campaign
from reporting import selectors
from reporting.events import NewEvent
from reporting.selectors import Totals, campaign_dashboard, domain_degradation, organisation_overview
from reporting.tests.dashboard_support import (
    delivery_ms_by_domain,
    direct_counts,
    make_links,
    record,
    synthetic_stream,
)
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _campaign_with_stream(fixture, *, seed: int, messages: int, first_message_id: int, **stream):
    version = approved_template(fixture)
    campaign = make_campaign(fixture, version=version)
    links = make_links(fixture.tenant, version, count=4)
    events = synthetic_stream(
        seed=seed,
        campaign_id=campaign.pk,
        start=START,
        messages=messages,
        links=links,
        first_message_id=first_message_id,
        **stream,
    )
    record(fixture.tenant, events)
    return campaign, events, links


def _dashboard(fixture, campaign):
    with tenant_context(fixture.tenant):
        return campaign_dashboard(tenant=fixture.tenant, campaign=campaign)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_campaign_dashboard_matches_the_raw_events(world, seed):
    campaign, events, _links = _campaign_with_stream(world.a, seed=seed, messages=300, first_message_id=seed * 10_000)
    # Noise the dashboard must ignore: another campaign of A, and B's events.
    _campaign_with_stream(world.a, seed=seed + 100, messages=40, first_message_id=seed * 10_000 + 5_000)
    _campaign_with_stream(world.b, seed=seed + 200, messages=40, first_message_id=seed * 10_000 + 7_000)
    direct = direct_counts(world.a.tenant, campaign_id=campaign.pk)
    dashboard = _dashboard(world.a, campaign)
    t = dashboard.totals

    assert dict(t.counts) == dict(direct.counts)
    c = direct.counts
    bounced = c["bounced_hard"] + c["bounced_soft"]
    attempted = c["sent"] + c["escrow_notice_sent"] + bounced - c["bounced_after_sent"]
    delivered = c["sent"] - c["bounced_after_sent"]
    assert t.delivered == delivered and t.attempted == attempted and t.bounced == bounced
    assert t.bounce_rate == pytest.approx(bounced / attempted)
    assert t.open_rate_unique == pytest.approx(c["opened_unique"] / delivered)
    assert t.open_rate_total == pytest.approx(c["opened"] / delivered)
    assert t.click_rate_unique == pytest.approx(c["clicked_unique"] / delivered)
    assert t.opens_machine == c["opened_machine"] and t.clicks_machine == c["clicked_machine"]
    assert t.escrow_share == pytest.approx(c["escrow_notice_sent"] / (c["sent"] + c["escrow_notice_sent"]))
    assert t.escrow_read_rate == pytest.approx(c["escrow_read"] / c["escrow_notice_sent"])
    assert t.unsubscribes == c["unsubscribed"] and t.complaints == c["complained"]
    # Unique opens are messages opened by a person, whatever the number of opens.
    assert t.opens_unique == len({e.message_id for e in events if e.kind == "opened" and not e.machine})

    # Daily series: every day from the first event to the last, each cell as counted directly.
    days = dashboard.daily.days
    assert days[0] == min(day for day, _ in direct.daily) and days[-1] == max(day for day, _ in direct.daily)
    assert len(days) == (days[-1] - days[0]).days + 1
    for metric in ("sent", "opened_unique", "clicked", "deferred", "bounced_after_sent"):
        assert dashboard.daily.values(metric) == [direct.daily.get((day, metric), 0) for day in days], metric

    # Recipient domains (all six fit in the table).
    ms = delivery_ms_by_domain(events)
    assert dashboard.domain_count == len(direct.domains) and dashboard.other_domains is None
    for row in dashboard.domains:
        d = direct.domains[row.domain]
        assert row.sent == d["sent"] and row.escrowed == d["escrow_notice_sent"] and row.deferred == d["deferred"]
        assert row.bounced == d["bounced_hard"] + d["bounced_soft"]
        assert row.delivered == d["sent"] - d["bounced_after_sent"]
        assert row.average_delivery_ms == pytest.approx(ms[row.domain] / d["sent"])
    volumes = [r.attempted + r.deferred for r in dashboard.domains]
    assert volumes == sorted(volumes, reverse=True)

    # Top links, with the URL of the tracked link.
    assert dashboard.link_count == len(direct.links)
    for row in dashboard.links:
        d = direct.links[row.link_id]
        assert (row.clicks_unique, row.clicks_total, row.clicks_machine) == (
            d["clicked_unique"],
            d["clicked"],
            d["clicked_machine"],
        )
        assert row.url.startswith("https://clinic.example/page-")
    assert sum(row.clicks_unique for row in dashboard.links) == c["clicked_unique"]


def test_many_domains_show_the_busiest_and_sum_the_rest(world):
    domains = [f"d{n:02d}.example" for n in range(selectors.TOP_DOMAINS + 7)]
    campaign, _events, _ = _campaign_with_stream(
        world.a, seed=7, messages=400, first_message_id=90_000, domains=domains
    )
    direct = direct_counts(world.a.tenant, campaign_id=campaign.pk)
    dashboard = _dashboard(world.a, campaign)
    assert len(dashboard.domains) == selectors.TOP_DOMAINS
    assert dashboard.domain_count == len(direct.domains)
    other = dashboard.other_domains
    assert other is not None and other.domain == f"{len(direct.domains) - selectors.TOP_DOMAINS} other domains"
    for name, metric in (("sent", "sent"), ("escrowed", "escrow_notice_sent"), ("deferred", "deferred")):
        shown = sum(getattr(row, name) for row in dashboard.domains)
        assert shown + getattr(other, name) == direct.counts[metric]


def test_an_empty_campaign_has_an_empty_dashboard(world):
    campaign = make_campaign(world.a)
    dashboard = _dashboard(world.a, campaign)
    assert dashboard.is_empty and dashboard.daily.days == [] and dashboard.domains == [] and dashboard.links == []
    assert dashboard.totals.bounce_rate is None and dashboard.totals.open_rate_unique is None


def test_the_dashboard_never_reads_raw_events_and_its_query_count_is_fixed(world):
    small, _, _ = _campaign_with_stream(world.a, seed=11, messages=20, first_message_id=120_000)
    large, _, _ = _campaign_with_stream(
        world.a, seed=12, messages=600, first_message_id=130_000, domains=[f"x{n}.example" for n in range(40)]
    )
    counts = []
    for campaign in (small, large):
        with tenant_context(world.a.tenant), CaptureQueriesContext(connection) as queries:
            campaign_dashboard(tenant=world.a.tenant, campaign=campaign)
        assert not any("reporting_event" in q["sql"] for q in queries.captured_queries)
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1] <= 3


def test_a_campaign_of_another_tenant_is_refused(world):
    campaign = make_campaign(world.a)
    with tenant_context(world.b.tenant), pytest.raises(ValueError):
        campaign_dashboard(tenant=world.b.tenant, campaign=campaign)


# --- Organisation overview ----------------------------------------------------------------------

TODAY = date(2026, 3, 31)


def test_overview_periods_match_the_raw_events(world):
    # Activity spread over both 30-day periods (and older, which must not count).
    _campaign_with_stream(world.a, seed=21, messages=300, first_message_id=200_000, spread_days=75)
    _campaign_with_stream(world.b, seed=22, messages=50, first_message_id=210_000, spread_days=20)
    start = TODAY - timedelta(days=29)
    previous_start = start - timedelta(days=30)
    with tenant_context(world.a.tenant):
        overview = organisation_overview(tenant=world.a.tenant, days=30, today=TODAY)
    current = direct_counts(world.a.tenant, first=start, last=TODAY)
    previous = direct_counts(world.a.tenant, first=previous_start, last=start - timedelta(days=1))
    # Unique opens and bounces after acceptance depend on earlier events: compare the plain kinds.
    for metric in ("sent", "escrow_notice_sent", "deferred", "bounced_hard", "opened", "clicked", "complained"):
        assert overview.totals.metric(metric) == current.counts[metric], metric
        assert overview.previous.metric(metric) == previous.counts[metric], metric
    assert overview.daily.days[0] == start and overview.daily.days[-1] == TODAY and len(overview.daily.days) == 30
    assert sum(overview.daily.values("sent")) == current.counts["sent"]
    trend = next(t for t in overview.trends if t.key == "sent")
    assert (trend.current, trend.previous) == (current.counts["sent"], previous.counts["sent"])
    assert overview.campaigns and all(row.totals.sent + row.totals.escrowed >= 0 for row in overview.campaigns)


def test_overview_query_count_is_fixed(world):
    with tenant_context(world.a.tenant), CaptureQueriesContext(connection) as empty:
        organisation_overview(tenant=world.a.tenant, days=90, today=TODAY)
    _campaign_with_stream(world.a, seed=31, messages=200, first_message_id=300_000, spread_days=40)
    with tenant_context(world.a.tenant), CaptureQueriesContext(connection) as busy:
        overview = organisation_overview(tenant=world.a.tenant, days=90, today=TODAY)
    assert overview.totals.sent > 0
    assert len(empty.captured_queries) == len(busy.captured_queries) <= 3
    assert not any("reporting_event" in q["sql"] for q in busy.captured_queries)


def _day_events(domain: str, day: date, *, sent: int = 0, bounced: int = 0, deferred: int = 0, first_id: int):
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    out, n = [], first_id
    for kind, count in (("sent", sent), ("bounced_hard", bounced), ("deferred", deferred)):
        for _ in range(count):
            out.append(NewEvent(kind=kind, occurred_at=at, message_id=n, recipient_domain=domain))
            n += 1
    return out


def _domain_history(domain: str, *, first_id: int, baseline: tuple[int, int, int], recent: tuple[int, int, int]):
    """(sent, bounced, deferred) per day over the 28 baseline days and the 7 recent days."""
    events = []
    for offset in range(35):
        day = TODAY - timedelta(days=offset)
        sent, bounced, deferred = recent if offset < 7 else baseline
        events += _day_events(domain, day, sent=sent, bounced=bounced, deferred=deferred, first_id=first_id)
        first_id += 1000
    return events


def test_degrading_domains_are_flagged_and_steady_or_small_ones_are_not(world):
    events = []
    events += _domain_history("degrading.example", first_id=1_000_000, baseline=(20, 0, 0), recent=(18, 3, 0))
    events += _domain_history("steady.example", first_id=2_000_000, baseline=(20, 2, 0), recent=(20, 2, 0))
    events += _domain_history("slow.example", first_id=3_000_000, baseline=(20, 0, 1), recent=(20, 0, 8))
    events += _domain_history("tiny.example", first_id=4_000_000, baseline=(1, 0, 0), recent=(1, 1, 0))
    # New to the organisation: no baseline, a high bounce rate on enough volume.
    events += _domain_history("new.example", first_id=5_000_000, baseline=(0, 0, 0), recent=(12, 3, 0))
    record(world.a.tenant, events)
    with tenant_context(world.a.tenant):
        warnings = {w.domain: w for w in domain_degradation(tenant=world.a.tenant, today=TODAY)}
        overview = organisation_overview(tenant=world.a.tenant, days=30, today=TODAY)
    assert set(warnings) == {"degrading.example", "slow.example", "new.example"}
    assert warnings["degrading.example"].degraded == ("bounce",)
    assert warnings["slow.example"].degraded == ("deferral",)
    assert not warnings["new.example"].has_baseline
    assert any("degrading.example" in text for text in overview.warnings)
    with tenant_context(world.b.tenant):
        assert domain_degradation(tenant=world.b.tenant, today=TODAY) == []


@pytest.mark.parametrize(
    ("counts", "complaint", "bounce"),
    [
        ({"sent": 10_000, "complained": 5, "bounced_hard": 50}, "ok", "ok"),
        ({"sent": 10_000, "complained": 15, "bounced_hard": 150}, "watch", "watch"),
        ({"sent": 10_000, "complained": 31, "bounced_hard": 210}, "over", "over"),
        ({"sent": 50, "complained": 5, "bounced_hard": 5}, "insufficient", "insufficient"),
    ],
)
def test_rate_checks_against_provider_thresholds(counts, complaint, bounce):
    totals = Totals(counts)
    checks = {
        "complaint": selectors.RateCheck(
            "complaint_rate", "Complaint rate", totals.complaint_rate, totals.delivered, 0.001, 0.003
        ),
        "bounce": selectors.RateCheck("bounce_rate", "Bounce rate", totals.bounce_rate, totals.attempted, 0.01, 0.02),
    }
    assert checks["complaint"].level == complaint and checks["bounce"].level == bounce


def test_overview_warns_in_plain_words_when_complaints_are_over_the_limit(world):
    at = datetime(2026, 3, 30, 12, tzinfo=UTC)
    events = [NewEvent(kind="sent", occurred_at=at, message_id=600_000 + n) for n in range(1000)]
    events += [NewEvent(kind="complained", occurred_at=at, message_id=600_000 + n) for n in range(5)]
    record(world.a.tenant, events)
    with tenant_context(world.a.tenant):
        overview = organisation_overview(tenant=world.a.tenant, days=7, today=TODAY)
    check = next(c for c in overview.checks if c.code == "complaint_rate")
    assert check.level == "over" and check.rate == pytest.approx(0.005)
    assert overview.warnings[0].startswith("Complaint rate is at or above the 0.3%")


def test_overview_period_accepts_only_the_offered_periods():
    assert selectors.overview_period("90") == 90
    assert selectors.overview_period("45") == selectors.DEFAULT_PERIOD
    assert selectors.overview_period(None) == selectors.DEFAULT_PERIOD
    assert selectors.overview_period("<script>") == selectors.DEFAULT_PERIOD
