"""The message state machine: claims, leases, hand-off, compare-and-set moves, pause, cancel,
and a revocation after launch stopping the queued message."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.services import system_actor
from audit.tests.helpers import actions, head_seq
from campaigns.messages import (
    MESSAGE_TRANSITIONS,
    QUARANTINE_REJECTED,
    QUARANTINE_RELEASED,
    InvalidTransition,
    message_handed_off,
    message_mark,
    message_quarantine_decided,
    messages_claim,
    messages_first_attempt,
    messages_handed_off_many,
    messages_mark_many,
    messages_renew_lease,
    messages_skip_revoked,
)
from campaigns.models import (
    Campaign,
    CampaignStatus,
    Message,
    MessageStatus,
)
from campaigns.services import (
    CampaignStateError,
    campaign_cancel,
    campaign_complete_if_finished,
    campaign_launch,
    campaign_pause,
    campaign_resume,
)
from campaigns.tests.support import consenting, grant, make_campaign, message_rows
from consent.services import suppression_add
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db
S = MessageStatus
LEASE = 60


@pytest.fixture
def running(world, verified_domains, sent_tasks):
    """Tenant A's campaign, launched to three consenting contacts: (fixture, campaign, contacts)."""
    a = world.a
    contacts = [consenting(a) for _ in range(3)]
    campaign = make_campaign(a)
    with tenant_context(a.tenant):
        campaign = campaign_launch(tenant=a.tenant, user=a.users[Role.MARKETER], campaign=campaign)
    return a, campaign, contacts


def claim(fixture, campaign, owner, limit=10, now=None):
    with tenant_context(fixture.tenant):
        return messages_claim(
            tenant=fixture.tenant, campaign=campaign, owner=owner, limit=limit, lease_seconds=LEASE, now=now
        )


def mark(fixture, message_id, owner, from_status, to_status, **fields):
    with tenant_context(fixture.tenant):
        return message_mark(
            tenant=fixture.tenant,
            message_id=message_id,
            owner=owner,
            from_status=from_status,
            to_status=to_status,
            **fields,
        )


def by_id(fixture, campaign):
    return {m.pk: m for m in message_rows(fixture, campaign)}


def test_two_owners_claim_disjoint_batches(running):
    a, campaign, _ = running
    first = claim(a, campaign, "worker-a", limit=2)
    second = claim(a, campaign, "worker-b", limit=2)
    assert len(first) == 2 and len(second) == 1 and not set(first) & set(second)
    assert claim(a, campaign, "worker-a") == []
    rows = by_id(a, campaign)
    assert {rows[i].lease_owner for i in first} == {"worker-a"}
    assert all(row.status == S.SENDING and row.attempts == 1 for row in rows.values())


def test_only_the_lease_owner_moves_a_sending_message(running):
    a, campaign, _ = running
    [mine, *_] = claim(a, campaign, "worker-a")
    assert not mark(a, mine, "worker-b", S.SENDING, S.SENT)
    assert mark(a, mine, "worker-a", S.SENDING, S.SENT, smtp_code=250, smtp_enhanced="2.0.0")
    assert not mark(a, mine, "worker-a", S.SENDING, S.SENT)  # already moved: the CAS fails
    row = by_id(a, campaign)[mine]
    assert (row.status, row.smtp_code, row.smtp_enhanced, row.lease_owner) == (S.SENT, 250, "2.0.0", "")


def test_disallowed_transitions_raise(running):
    a, campaign, _ = running
    [one, *_] = claim(a, campaign, "worker-a")
    with pytest.raises(InvalidTransition):
        mark(a, one, "worker-a", S.SENT, S.QUEUED)
    with pytest.raises(InvalidTransition):
        mark(a, one, "worker-a", S.QUEUED, S.SENDING)  # only claims move into sending
    with pytest.raises(ValueError, match="cannot set"):
        mark(a, one, "worker-a", S.SENDING, S.SENT, status="queued")


def test_expired_lease_before_hand_off_is_reclaimed(running):
    a, campaign, _ = running
    taken = claim(a, campaign, "worker-a")
    later = timezone.now() + timedelta(seconds=LEASE + 1)
    retaken = claim(a, campaign, "worker-b", now=later)
    assert sorted(retaken) == sorted(taken)
    assert not mark(a, taken[0], "worker-a", S.SENDING, S.SENT)  # the crashed worker lost it
    assert all(row.attempts == 2 and row.lease_owner == "worker-b" for row in by_id(a, campaign).values())


def test_expired_lease_after_hand_off_becomes_unknown_and_is_never_resent(running):
    a, campaign, _ = running
    taken = claim(a, campaign, "worker-a")
    with tenant_context(a.tenant):
        assert message_handed_off(tenant=a.tenant, message_id=taken[0], owner="worker-a")
        assert not message_handed_off(tenant=a.tenant, message_id=taken[1], owner="worker-b")
    later = timezone.now() + timedelta(seconds=LEASE + 1)
    retaken = claim(a, campaign, "worker-b", now=later)
    assert taken[0] not in retaken and sorted(retaken) == sorted(taken[1:])
    assert by_id(a, campaign)[taken[0]].status == S.UNKNOWN
    assert claim(a, campaign, "worker-c", now=later + timedelta(seconds=LEASE + 1)) != [taken[0]]


def test_hand_off_needs_a_live_lease(running):
    a, campaign, _ = running
    taken = claim(a, campaign, "worker-a")
    with tenant_context(a.tenant):
        later = timezone.now() + timedelta(seconds=LEASE + 1)
        assert messages_handed_off_many(tenant=a.tenant, ids=taken, owner="worker-a", now=later) == []
        assert messages_renew_lease(tenant=a.tenant, ids=taken, owner="worker-a", lease_seconds=600) == sorted(taken)
        assert messages_handed_off_many(tenant=a.tenant, ids=taken, owner="worker-a", now=later) == sorted(taken)


def test_deferred_is_claimed_again_only_when_due(running):
    a, campaign, _ = running
    [one, *_] = claim(a, campaign, "worker-a", limit=1)
    retry_at = timezone.now() + timedelta(minutes=5)
    assert mark(a, one, "worker-a", S.SENDING, S.DEFERRED, next_attempt_at=retry_at, smtp_code=451)
    others = claim(a, campaign, "worker-b")
    assert one not in others
    for other in others:
        assert mark(a, other, "worker-b", S.SENDING, S.SENT)
    assert claim(a, campaign, "worker-c", now=retry_at + timedelta(seconds=1)) == [one]
    assert by_id(a, campaign)[one].attempts == 2


def test_bulk_mark_returns_what_this_owner_moved(running):
    a, campaign, _ = running
    mine = claim(a, campaign, "worker-a", limit=2)
    theirs = claim(a, campaign, "worker-b")
    with tenant_context(a.tenant):
        moved = messages_mark_many(
            tenant=a.tenant,
            ids=mine + theirs,
            owner="worker-a",
            from_status=S.SENDING,
            to_status=S.ESCROWED,
            protection_action="escrow",
            reason_codes=["phi_detected", "no_verified_tls"],
            level="phi",
        )
    assert moved == sorted(mine)
    row = by_id(a, campaign)[mine[0]]
    assert (row.protection_action, row.reason_codes, row.level) == (
        "escrow",
        ["phi_detected", "no_verified_tls"],
        "phi",
    )


def test_messages_not_yet_due_are_not_claimed(world, verified_domains, sent_tasks):
    from campaigns.models import ScheduleKind

    a = world.a
    consenting(a)
    at = timezone.now() + timedelta(hours=1)
    campaign = make_campaign(a, schedule_kind=ScheduleKind.AT, scheduled_at=at)
    with tenant_context(a.tenant):
        campaign = campaign_launch(tenant=a.tenant, user=a.users[Role.MARKETER], campaign=campaign)
        Campaign.objects.for_tenant(a.tenant).filter(pk=campaign.pk).update(status=CampaignStatus.SENDING)
    assert claim(a, campaign, "worker-a") == []
    assert len(claim(a, campaign, "worker-a", now=at)) == 1


def test_pause_stops_claims_and_resume_restarts_them(running, sent_tasks, django_capture_on_commit_callbacks):
    a, campaign, _ = running
    user = a.users[Role.MARKETER]
    claim(a, campaign, "worker-a", limit=1)
    with tenant_context(a.tenant):
        campaign_pause(tenant=a.tenant, user=user, campaign=campaign)
    assert claim(a, campaign, "worker-b") == []
    sent_tasks.clear()
    with django_capture_on_commit_callbacks(execute=True), tenant_context(a.tenant):
        campaign_resume(tenant=a.tenant, user=user, campaign=campaign)
    assert sent_tasks == [("delivery.campaign_dispatch", [a.tenant.pk, str(campaign.pk)])]
    assert len(claim(a, campaign, "worker-b")) == 2


def test_cancel_cancels_waiting_messages_and_stops_claims(running):
    a, campaign, _ = running
    [held] = claim(a, campaign, "worker-a", limit=1)
    with tenant_context(a.tenant):
        campaign_cancel(tenant=a.tenant, user=a.users[Role.MARKETER], campaign=campaign)
    rows = by_id(a, campaign)
    assert rows[held].status == S.SENDING  # the worker holding it finishes (or cancels it before hand-off)
    assert sorted(row.status for pk, row in rows.items() if pk != held) == [S.CANCELLED, S.CANCELLED]
    assert claim(a, campaign, "worker-b", now=timezone.now() + timedelta(seconds=LEASE + 1)) == []
    assert mark(a, held, "worker-a", S.SENDING, S.CANCELLED)
    with tenant_context(a.tenant), pytest.raises(CampaignStateError):
        campaign_resume(tenant=a.tenant, user=a.users[Role.MARKETER], campaign=campaign)


def test_revocation_after_launch_stops_the_queued_message(running):
    a, campaign, contacts = running
    revoked, suppressed, kept = contacts
    grant(a, revoked, "appointment_reminders", "revoked")
    with tenant_context(a.tenant):
        suppression_add(tenant=a.tenant, actor=system_actor("test"), email=suppressed.email, reason="manual")
    queued = {m.contact_id: m.pk for m in message_rows(a, campaign)}
    with tenant_context(a.tenant):
        skipped = messages_skip_revoked(tenant=a.tenant, campaign=campaign, ids=list(queued.values()))
    assert skipped == sorted([queued[revoked.pk], queued[suppressed.pk]])
    rows = by_id(a, campaign)
    assert rows[queued[revoked.pk]].status == S.SKIPPED
    assert rows[queued[kept.pk]].status == S.QUEUED
    assert claim(a, campaign, "worker-a") == [queued[kept.pk]]


def test_revocation_after_claim_skips_only_for_the_lease_owner_before_hand_off(running):
    a, campaign, contacts = running
    taken = claim(a, campaign, "worker-a")
    for contact in contacts:
        grant(a, contact, "appointment_reminders", "revoked")
    by_contact = {m.contact_id: m.pk for m in message_rows(a, campaign)}
    with tenant_context(a.tenant):
        message_handed_off(tenant=a.tenant, message_id=by_contact[contacts[0].pk], owner="worker-a")
        assert messages_skip_revoked(tenant=a.tenant, campaign=campaign, ids=taken, owner="worker-b") == []
        skipped = messages_skip_revoked(tenant=a.tenant, campaign=campaign, ids=taken, owner="worker-a")
    assert skipped == sorted([by_contact[contacts[1].pk], by_contact[contacts[2].pk]])


def test_campaign_completes_when_nothing_is_left(running):
    a, campaign, _ = running
    taken = claim(a, campaign, "worker-a")
    actor = system_actor("pipeline")
    with tenant_context(a.tenant):
        assert not campaign_complete_if_finished(tenant=a.tenant, campaign=campaign, actor=actor)
        messages_mark_many(tenant=a.tenant, ids=taken, owner="worker-a", from_status=S.SENDING, to_status=S.SENT)
        assert campaign_complete_if_finished(tenant=a.tenant, campaign=campaign, actor=actor)
        assert Campaign.objects.for_tenant(a.tenant).get(pk=campaign.pk).status == CampaignStatus.COMPLETED
    assert actions(a.tenant)[-1] == "campaign.completed"


def _quarantine(fixture, campaign, owner="worker-a"):
    """Claim every message and move it to quarantined, as the pipeline does; returns the ids."""
    ids = claim(fixture, campaign, owner)
    with tenant_context(fixture.tenant):
        messages_mark_many(
            tenant=fixture.tenant,
            ids=ids,
            owner=owner,
            from_status=S.SENDING,
            to_status=S.QUARANTINED,
            reason_codes=["rule_purpose"],
        )
    return ids


def decided(fixture, message_id, *, released, now=None):
    with tenant_context(fixture.tenant):
        return message_quarantine_decided(tenant=fixture.tenant, message_id=message_id, released=released, now=now)


def test_a_quarantined_message_keeps_its_campaign_open_until_it_is_decided(running):
    a, campaign, _ = running
    first, second, third = _quarantine(a, campaign)
    actor = system_actor("pipeline")
    with tenant_context(a.tenant):
        assert not campaign_complete_if_finished(tenant=a.tenant, campaign=campaign, actor=actor)
    assert decided(a, first, released=False) == (str(campaign.pk), S.BLOCKED)
    assert decided(a, first, released=True) is None  # already decided: nothing moves
    later = timezone.now() + timedelta(days=2)
    assert decided(a, second, released=True, now=later) == (str(campaign.pk), S.QUEUED)
    rows = by_id(a, campaign)
    assert rows[first].reason_codes == ["rule_purpose", QUARANTINE_REJECTED]
    assert rows[second].reason_codes == ["rule_purpose", QUARANTINE_RELEASED]
    assert rows[second].send_after == later and rows[second].first_attempt_at is None
    assert rows[third].status == S.QUARANTINED
    # The released one is due and claimed again; the campaign is not complete while one waits.
    assert claim(a, campaign, "worker-b", now=later) == [second]
    assert mark(a, second, "worker-b", S.SENDING, S.SENT)
    with tenant_context(a.tenant):
        assert not campaign_complete_if_finished(tenant=a.tenant, campaign=campaign, actor=actor)
    decided(a, third, released=False)
    with tenant_context(a.tenant):
        assert campaign_complete_if_finished(tenant=a.tenant, campaign=campaign, actor=actor)


def test_a_release_while_paused_waits_for_resume(running, sent_tasks, django_capture_on_commit_callbacks):
    a, campaign, _ = running
    ids = _quarantine(a, campaign)
    user = a.users[Role.MARKETER]
    with tenant_context(a.tenant):
        campaign_pause(tenant=a.tenant, user=user, campaign=campaign)
    assert decided(a, ids[0], released=True)[1] == S.QUEUED
    assert claim(a, campaign, "worker-b") == []
    with django_capture_on_commit_callbacks(execute=True), tenant_context(a.tenant):
        campaign_resume(tenant=a.tenant, user=user, campaign=campaign)
    assert claim(a, campaign, "worker-b") == [ids[0]]


def test_first_attempt_is_stamped_once_and_only_for_the_lease_owner(running):
    a, campaign, _ = running
    mine = claim(a, campaign, "worker-a", limit=2)
    t1 = timezone.now()
    with tenant_context(a.tenant):
        assert messages_first_attempt(tenant=a.tenant, ids=mine, owner="worker-b", now=t1) == []
        assert messages_first_attempt(tenant=a.tenant, ids=mine, owner="worker-a", now=t1) == mine
        assert messages_first_attempt(tenant=a.tenant, ids=mine, owner="worker-a", now=t1 + timedelta(hours=1)) == []
    rows = by_id(a, campaign)
    assert [rows[i].first_attempt_at for i in mine] == [t1, t1]
    assert [row.first_attempt_at for pk, row in rows.items() if pk not in mine] == [None]


def test_message_id_is_deterministic_opaque_and_maps_back_to_the_row(running, world):
    from campaigns.selectors import message_from_message_id
    from delivery.mime import message_id_for, message_ref_from_message_id

    a, campaign, _ = running
    row = message_rows(a, campaign)[0]
    value = message_id_for(tenant_id=a.tenant.pk, message_row_id=row.pk, domain="org-a.example.com")
    assert value == message_id_for(tenant_id=a.tenant.pk, message_row_id=row.pk, domain="org-a.example.com")
    assert value.startswith("<") and value.endswith("@org-a.example.com>")
    assert str(row.pk) not in value and str(campaign.pk) not in value
    ref = message_ref_from_message_id(value)
    assert ref is not None and (ref.tenant_id, ref.message_id) == (a.tenant.pk, row.pk)
    with tenant_context(a.tenant):
        assert message_from_message_id(tenant=a.tenant, value=value) == row
        assert message_from_message_id(tenant=a.tenant, value="<something@else>") is None
    with tenant_context(world.b.tenant):  # another organisation's message is not found
        assert message_from_message_id(tenant=world.b.tenant, value=value) is None


def test_another_tenant_cannot_claim_or_move_messages(running, world):
    a, campaign, _ = running
    b = world.b
    ids = [m.pk for m in message_rows(a, campaign)]
    seq = head_seq(a.tenant)
    with tenant_context(b.tenant):
        assert messages_claim(tenant=b.tenant, campaign=campaign, owner="intruder", limit=10, lease_seconds=60) == []
        assert messages_mark_many(tenant=b.tenant, ids=ids, owner="", from_status=S.QUEUED, to_status=S.CANCELLED) == []
        assert messages_skip_revoked(tenant=b.tenant, campaign=campaign, ids=ids) == []
    assert {m.status for m in message_rows(a, campaign)} == {S.QUEUED}
    assert head_seq(a.tenant) == seq


# --- Property: no sequence of calls makes a disallowed move, and two owners never both win. ---

OWNERS = ("w1", "w2")
ALL = list(S.values)
operation = st.one_of(
    st.tuples(st.just("claim"), st.sampled_from(OWNERS), st.integers(1, 3)),
    st.tuples(st.just("mark"), st.sampled_from(OWNERS), st.integers(0, 2), st.sampled_from(ALL), st.sampled_from(ALL)),
    st.tuples(st.just("hand_off"), st.sampled_from(OWNERS), st.integers(0, 2)),
    st.tuples(st.just("tick"), st.integers(1, 2 * LEASE)),
    st.tuples(st.just("skip"), st.sampled_from(OWNERS), st.integers(0, 2)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(operation, min_size=1, max_size=25))
def test_no_call_sequence_makes_a_disallowed_move_or_two_winners(running, operations):
    a, campaign, _ = running
    tenant = a.tenant
    with tenant_context(tenant):
        Message.objects.for_tenant(tenant).filter(campaign_id=campaign.pk).update(
            status=S.QUEUED, lease_owner="", lease_expires_at=None, handed_off_at=None, attempts=0
        )
        ids = sorted(Message.objects.for_tenant(tenant).filter(campaign_id=campaign.pk).values_list("id", flat=True))
    now = timezone.now()
    holder: dict[int, str | None] = dict.fromkeys(ids)  # who a claim last gave each message to
    hand_offs = dict.fromkeys(ids, 0)

    def snapshot():
        with tenant_context(tenant):
            rows = Message.objects.for_tenant(tenant).filter(campaign_id=campaign.pk)
            return {row.pk: (row.status, row.lease_owner, row.handed_off_at) for row in rows}

    for op in operations:
        before = snapshot()
        won: list[int] = []
        with tenant_context(tenant):
            if op[0] == "claim":
                won = messages_claim(
                    tenant=tenant, campaign=campaign, owner=op[1], limit=op[2], lease_seconds=LEASE, now=now
                )
                for pk in won:
                    assert before[pk][2] is None, "a handed-off message was claimed again"
                    holder[pk] = op[1]
            elif op[0] == "mark":
                _, owner, index, from_status, to_status = op
                try:
                    won = messages_mark_many(
                        tenant=tenant,
                        ids=[ids[index]],
                        owner=owner,
                        from_status=from_status,
                        to_status=to_status,
                        now=now,
                        **({"next_attempt_at": now} if to_status == S.DEFERRED else {}),
                    )
                except InvalidTransition:
                    assert (from_status, to_status) not in MESSAGE_TRANSITIONS or to_status == S.SENDING
                if won and from_status == S.SENDING:
                    assert holder[ids[index]] == owner, "a worker moved a message it does not hold"
            elif op[0] == "hand_off":
                won = messages_handed_off_many(tenant=tenant, ids=[ids[op[2]]], owner=op[1], now=now)
                if won:
                    assert holder[ids[op[2]]] == op[1]
                    hand_offs[ids[op[2]]] += 1
            elif op[0] == "tick":
                now += timedelta(seconds=op[1])
            else:
                won = messages_skip_revoked(tenant=tenant, campaign=campaign, ids=[ids[op[2]]], owner=op[1], now=now)
                assert won == []  # everyone still consents
        after = snapshot()
        for pk in ids:
            old, new = before[pk][0], after[pk][0]
            if old != new or (old == S.SENDING and before[pk][1] != after[pk][1] and new == S.SENDING):
                assert (old, new) in MESSAGE_TRANSITIONS, (old, new, op)
            if new == S.SENT or new == S.UNKNOWN:
                assert hand_offs[pk] <= 1
        # A message is never handed off twice without being deferred (refused) in between.
        for pk in ids:
            if after[pk][0] == S.DEFERRED:
                hand_offs[pk] = 0
            assert hand_offs[pk] <= 1


def _handed_off_elsewhere(fixture, ids):
    """The hand-off times as a separate database session sees them: only what was committed."""
    import psycopg
    from django.db import connection as django_connection

    params = django_connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"}, autocommit=True) as other:
        other.execute("SELECT set_config('sealpost.tenant_id', %s, false)", [str(fixture.tenant.pk)])
        rows = other.execute(
            "SELECT id, handed_off_at FROM campaigns_message WHERE id = ANY(%s)", [list(ids)]
        ).fetchall()
    return {row[0]: row[1] for row in rows}


@pytest.mark.django_db(transaction=True)
def test_hand_off_committed_is_one_round_trip_and_committed_at_once(running, world):
    from django.db import connection as django_connection
    from django.test.utils import CaptureQueriesContext

    from campaigns.messages import messages_handed_off_committed

    a, campaign, _ = running
    taken = claim(a, campaign, "worker-a")
    assert not django_connection.in_atomic_block
    with CaptureQueriesContext(django_connection) as queries:
        assert messages_handed_off_committed(tenant=a.tenant, ids=taken[:2], owner="worker-a") == sorted(taken[:2])
    assert len(queries) == 1
    seen = _handed_off_elsewhere(a, taken)
    assert seen[taken[0]] is not None and seen[taken[1]] is not None and seen[taken[2]] is None
    # Compare-and-set: not twice, not for another owner, not for another tenant.
    assert messages_handed_off_committed(tenant=a.tenant, ids=taken[:1], owner="worker-a") == []
    assert messages_handed_off_committed(tenant=a.tenant, ids=taken[2:], owner="worker-b") == []
    assert messages_handed_off_committed(tenant=world.b.tenant, ids=taken[2:], owner="worker-a") == []
    assert _handed_off_elsewhere(a, taken[2:])[taken[2]] is None
