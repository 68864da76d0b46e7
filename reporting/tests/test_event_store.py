"""The event store: every rollup equals a direct count of the stored events, whatever the
stream (hypothesis), and the message state machine records each move as its event."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.messages import message_mark, messages_claim, messages_first_attempt
from campaigns.models import MessageStatus
from campaigns.services import campaign_cancel, campaign_launch
from campaigns.tests.conftest import sent_tasks, verified_domains  # noqa: F401
from campaigns.tests.support import consenting, make_campaign
from reporting.events import AFTER_SENT, NOT_PER_DOMAIN, NewEvent, events_record
from reporting.models import (
    CampaignDailyStat,
    CampaignDomainStat,
    CampaignLinkStat,
    ContactEngagement,
    Event,
    EventKind,
    MessageEngagement,
    TenantDailyStat,
    TenantDomainDailyStat,
)
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db
K = EventKind
S = MessageStatus
CAMPAIGNS = [uuid.UUID(int=1), uuid.UUID(int=2)]
CONTACTS = [uuid.UUID(int=100 + i) for i in range(4)]
DOMAINS = ["", "clinic-one.example", "mail-two.example"]
START = datetime(2026, 3, 7, 22, 0, tzinfo=UTC)  # streams cross midnight UTC

event_strategy = st.builds(
    NewEvent,
    kind=st.sampled_from([str(k) for k in K]),
    occurred_at=st.integers(0, 36 * 60).map(lambda minutes: START + timedelta(minutes=minutes)),
    campaign_id=st.sampled_from([None, *CAMPAIGNS]),
    message_id=st.sampled_from([None, 1, 2, 3, 4, 5]),
    contact_id=st.sampled_from([None, *CONTACTS]),
    recipient_domain=st.sampled_from(DOMAINS),
    machine=st.booleans(),
    link_id=st.sampled_from([None, 11, 12]),
    after_delivery=st.booleans(),
    delivery_ms=st.sampled_from([None, 0, 1500, 90_000]),
)


def _clear(tenant):
    for model in (
        Event,
        CampaignDailyStat,
        CampaignDomainStat,
        CampaignLinkStat,
        TenantDailyStat,
        TenantDomainDailyStat,
        MessageEngagement,
        ContactEngagement,
    ):
        model.objects.for_tenant(tenant).delete()


def _expected(events: list[NewEvent]):
    """Direct counts over the raw stream (no rollup code involved)."""
    per_day: Counter = Counter()
    by_domain: Counter = Counter()
    per_link: Counter = Counter()
    tenant_day: Counter = Counter()
    tenant_domain: Counter = Counter()
    delivery_ms: Counter = Counter()
    unique_per_campaign: Counter = Counter()
    first_seen: set[tuple[str, int]] = set()
    for event in events:
        day = event.occurred_at.astimezone(UTC).date()
        metrics = []
        if event.kind in (K.OPENED, K.CLICKED):
            base = "opened" if event.kind == K.OPENED else "clicked"
            metrics.append(f"{base}_machine" if event.machine else base)
            if not event.machine and event.message_id is not None:
                key = (base, event.message_id)
                if key not in first_seen:  # the first recorded human one (batches are in order)
                    first_seen.add(key)
                    metrics.append(f"{base}_unique")
        else:
            metrics.append(str(event.kind))
            if event.kind in (K.BOUNCED_HARD, K.BOUNCED_SOFT) and event.after_delivery:
                metrics.append(AFTER_SENT)
        for metric in metrics:
            tenant_day[(day, metric)] += 1
            per_domain = bool(event.recipient_domain) and metric not in NOT_PER_DOMAIN
            if per_domain:
                tenant_domain[(day, event.recipient_domain, metric)] += 1
            if event.campaign_id is None:
                continue
            per_day[(event.campaign_id, day, metric)] += 1
            if metric.endswith("_unique"):
                unique_per_campaign[(event.campaign_id, metric)] += 1
            if event.link_id is not None:
                per_link[(event.campaign_id, event.link_id, metric)] += 1
            if per_domain:
                by_domain[(event.campaign_id, event.recipient_domain, metric)] += 1
                if metric == K.SENT and event.delivery_ms is not None:
                    delivery_ms[(event.campaign_id, event.recipient_domain)] += event.delivery_ms
    return per_day, by_domain, per_link, tenant_day, tenant_domain, delivery_ms


def _stored(tenant):
    per_day = Counter({(r.campaign_id, r.day, r.metric): r.count for r in CampaignDailyStat.objects.for_tenant(tenant)})
    domain_rows = list(CampaignDomainStat.objects.for_tenant(tenant))
    per_domain = Counter({(r.campaign_id, r.domain, r.metric): r.count for r in domain_rows})
    delivery_ms = Counter({(r.campaign_id, r.domain): r.delivery_ms for r in domain_rows if r.metric == K.SENT})
    per_link = Counter(
        {(r.campaign_id, r.link_id, r.metric): r.count for r in CampaignLinkStat.objects.for_tenant(tenant)}
    )
    tenant_day = Counter({(r.day, r.metric): r.count for r in TenantDailyStat.objects.for_tenant(tenant)})
    tenant_domain = Counter(
        {(r.day, r.domain, r.metric): r.count for r in TenantDomainDailyStat.objects.for_tenant(tenant)}
    )
    return per_day, per_domain, per_link, tenant_day, tenant_domain, +delivery_ms


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stream=st.lists(event_strategy, max_size=60),
    cuts=st.lists(st.integers(0, 60), max_size=5),
)
def test_rollups_equal_direct_counts_of_any_event_stream(world, stream, cuts):
    tenant = world.a.tenant
    batches, start = [], 0
    for cut in sorted(set(cuts)):
        batches.append(stream[start:cut])
        start = max(start, cut)
    batches.append(stream[start:])
    with tenant_context(tenant):
        _clear(tenant)
        for batch in batches:
            events_record(tenant=tenant, events=batch)
        assert Event.objects.for_tenant(tenant).count() == len(stream)
        expected = _expected(stream)
        stored = _stored(tenant)
        names = ("campaign/day", "campaign/domain", "campaign/link", "tenant/day", "tenant/domain/day", "delivery ms")
        for name, want, got in zip(names, expected, stored, strict=True):
            assert got == +want, name
        # A unique open is a distinct message: the rollup matches a count over the raw events.
        for campaign in CAMPAIGNS:
            distinct_opened = (
                Event.objects.for_tenant(tenant)
                .filter(campaign_id=campaign, kind=K.OPENED, machine=False, message_id__isnull=False)
                .values("message_id")
                .distinct()
                .count()
            )
            unique_rows = CampaignDailyStat.objects.for_tenant(tenant).filter(
                campaign_id=campaign, metric="opened_unique"
            )
            # A message opened under two campaigns counts once (the first): at most the distinct count.
            assert sum(r.count for r in unique_rows) <= distinct_opened


def test_a_second_first_open_of_the_same_message_is_not_unique(world):
    tenant = world.a.tenant
    at = START
    first = NewEvent(kind=K.OPENED, occurred_at=at, campaign_id=CAMPAIGNS[0], message_id=9, contact_id=CONTACTS[0])
    with tenant_context(tenant):
        events_record(tenant=tenant, events=[first])
        events_record(tenant=tenant, events=[first, first])
        stats = {r.metric: r.count for r in CampaignDailyStat.objects.for_tenant(tenant)}
        engagement = ContactEngagement.objects.for_tenant(tenant).get(contact_id=CONTACTS[0])
    assert stats == {"opened": 3, "opened_unique": 1}
    assert engagement.last_opened_at == at and engagement.last_clicked_at is None


def test_machine_opens_touch_no_engagement(world):
    tenant = world.a.tenant
    machine = NewEvent(
        kind=K.OPENED, occurred_at=START, campaign_id=CAMPAIGNS[0], message_id=9, contact_id=CONTACTS[0], machine=True
    )
    with tenant_context(tenant):
        events_record(tenant=tenant, events=[machine])
        assert not ContactEngagement.objects.for_tenant(tenant).exists()
        assert not MessageEngagement.objects.for_tenant(tenant).exists()
        assert {r.metric for r in CampaignDailyStat.objects.for_tenant(tenant)} == {"opened_machine"}


def test_contact_engagement_keeps_the_latest_time(world):
    tenant = world.a.tenant
    later, earlier = START + timedelta(days=2), START
    with tenant_context(tenant):
        for at in (later, earlier):
            events_record(
                tenant=tenant,
                events=[NewEvent(kind=K.CLICKED, occurred_at=at, message_id=1, contact_id=CONTACTS[1])],
            )
        assert ContactEngagement.objects.for_tenant(tenant).get(contact_id=CONTACTS[1]).last_clicked_at == later


# --- The state machine records its moves ---------------------------------------------------------


def _metrics(tenant, campaign):
    with tenant_context(tenant):
        return Counter(
            {r.metric: r.count for r in CampaignDailyStat.objects.for_tenant(tenant).filter(campaign_id=campaign.pk)}
        )


def test_launch_moves_and_cancel_are_recorded_as_events(world, verified_domains, sent_tasks):  # noqa: F811
    a = world.a
    for _ in range(3):
        consenting(a)
    campaign = make_campaign(a)
    user = a.users[Role.MARKETER]
    with tenant_context(a.tenant):
        campaign = campaign_launch(tenant=a.tenant, user=user, campaign=campaign)
    assert _metrics(a.tenant, campaign) == {"queued": 3}
    with tenant_context(a.tenant):
        claimed = messages_claim(tenant=a.tenant, campaign=campaign, owner="w1", limit=2, lease_seconds=60)
        first, second = claimed
        messages_first_attempt(
            tenant=a.tenant, ids=claimed, owner="w1", domains={first: "clinic-one.example", second: "mail-two.example"}
        )
        message_mark(
            tenant=a.tenant, message_id=first, owner="w1", from_status=S.SENDING, to_status=S.SENT, smtp_code=250
        )
        message_mark(
            tenant=a.tenant,
            message_id=second,
            owner="w1",
            from_status=S.SENDING,
            to_status=S.BOUNCED,
            smtp_code=550,
            smtp_enhanced="5.1.1",
        )
        # An asynchronous bounce of the accepted message (a DSN).
        message_mark(tenant=a.tenant, message_id=first, owner="", from_status=S.SENT, to_status=S.BOUNCED)
    with tenant_context(a.tenant):
        campaign_cancel(tenant=a.tenant, user=user, campaign=campaign)
    assert _metrics(a.tenant, campaign) == {
        "queued": 3,
        "sent": 1,
        "bounced_hard": 2,
        AFTER_SENT: 1,
        "cancelled": 1,
    }
    with tenant_context(a.tenant):
        domains = {
            (r.domain, r.metric): r.count
            for r in CampaignDomainStat.objects.for_tenant(a.tenant).filter(campaign_id=campaign.pk)
        }
        bounce = Event.objects.for_tenant(a.tenant).get(message_id=second, kind=K.BOUNCED_HARD)
    assert domains == {
        ("clinic-one.example", "sent"): 1,
        ("clinic-one.example", "bounced_hard"): 1,
        ("clinic-one.example", AFTER_SENT): 1,
        ("mail-two.example", "bounced_hard"): 1,
    }
    assert bounce.detail == "5.1.1" and bounce.recipient_domain == "mail-two.example"


def test_a_deferral_bounce_after_giving_up_is_soft(world, verified_domains, sent_tasks):  # noqa: F811
    a = world.a
    consenting(a)
    campaign = make_campaign(a)
    with tenant_context(a.tenant):
        campaign = campaign_launch(tenant=a.tenant, user=a.users[Role.MARKETER], campaign=campaign)
        (message_id,) = messages_claim(tenant=a.tenant, campaign=campaign, owner="w1", limit=5, lease_seconds=60)
        message_mark(
            tenant=a.tenant,
            message_id=message_id,
            owner="w1",
            from_status=S.SENDING,
            to_status=S.BOUNCED,
            smtp_code=451,
            reason_codes=["gave_up"],
        )
    assert _metrics(a.tenant, campaign)["bounced_soft"] == 1
