"""One message at a time (campaigns.sending.message_enqueue, issue 13): idempotency by the
caller's key, consent and suppression refusals recorded, frequency caps per purpose (one rule
with launch), quiet hours in the recipient's zone across midnight and DST, event data kept
encrypted, and broadcast-only behaviour leaving containers alone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction

from audit.services import actor_for_user
from campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignSettings,
    CampaignStatus,
    Message,
    MessageStatus,
)
from campaigns.sending import EnqueueRefused, after_quiet_hours, message_enqueue
from campaigns.services import CampaignStateError, campaign_complete_if_finished, campaign_launch
from campaigns.tests.support import approved_template, consenting, grant, make_campaign
from consent.models import SuppressionReason
from consent.services import suppression_add
from consent.tests.support import authorise
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 3, 2, 15, 0, tzinfo=UTC)  # 10:00 in New York (EST)
PROVIDER = "Dr. Synthetica Quill"


@pytest.fixture
def frozen_now(monkeypatch):
    from django.utils import timezone

    monkeypatch.setattr(timezone, "now", lambda: NOW)
    return NOW


def container(fixture, *, purpose="appointment_reminders", kind=CampaignKind.TRANSACTIONAL, status=None):
    """A journey or transactional container campaign, in use (sending)."""
    version = approved_template(fixture, purpose=purpose)
    with tenant_context(fixture.tenant):
        return Campaign.objects.create(
            tenant=fixture.tenant,
            kind=kind,
            name=f"Container {kind} {purpose}",
            purpose=purpose,
            template_id=version.template_id,
            template_version=version,
            from_name="Synthetic Clinic",
            from_address=f"no-reply@{fixture.tenant.slug}.example.com",
            status=status or CampaignStatus.SENDING,
            created_by=fixture.users[Role.ADMIN],
        )


def enqueue(fixture, campaign, contact, key, **kwargs):
    with tenant_context(fixture.tenant), transaction.atomic():
        return message_enqueue(tenant=fixture.tenant, campaign=campaign, contact=contact, source_key=key, **kwargs)


def set_settings(fixture, **values):
    with tenant_context(fixture.tenant):
        CampaignSettings.objects.update_or_create(tenant=fixture.tenant, defaults=values)


def marketing_contact(fixture, **fields):
    contact = consenting(fixture, "marketing", **fields)
    authorise(fixture.tenant, contact)
    return contact


# --- Idempotency and the queued message ---------------------------------------------------------


def test_a_second_call_with_the_same_key_returns_the_first_message(
    world, frozen_now, sent_tasks, django_capture_on_commit_callbacks
):
    a = world.a
    campaign, contact = container(a), consenting(a)
    with django_capture_on_commit_callbacks(execute=True):
        first = enqueue(a, campaign, contact, "booking-1:reminder", event_data={"provider_name": PROVIDER})
    with django_capture_on_commit_callbacks(execute=True):
        again = enqueue(a, campaign, contact, "booking-1:reminder", event_data={"provider_name": "Someone else"})
    assert (first.outcome, first.replayed) == ("queued", False)
    assert (again.outcome, again.replayed) == ("queued", True)
    assert again.message.pk == first.message.pk
    assert first.message.status == MessageStatus.QUEUED and first.message.send_after == NOW
    with tenant_context(a.tenant):
        assert Message.objects.for_tenant(a.tenant).filter(campaign_id=campaign.pk).count() == 1
        stored = Message.objects.for_tenant(a.tenant).get(pk=first.message.pk)
        assert PROVIDER in stored.event_data  # the first call's data, not the retry's
    # The pipeline was kicked once, by name, with ids only.
    assert sent_tasks == [("delivery.campaign_dispatch", [a.tenant.pk, str(campaign.pk)])]


def test_the_same_key_in_another_container_is_another_message(world, frozen_now, sent_tasks):
    a = world.a
    contact = consenting(a)
    one, two = container(a), container(a, kind=CampaignKind.JOURNEY)
    assert enqueue(a, one, contact, "k").message.pk != enqueue(a, two, contact, "k").message.pk


def test_a_broadcast_can_hold_the_same_contact_only_once_but_a_container_many_times(world, frozen_now, sent_tasks):
    a = world.a
    contact = consenting(a)
    campaign = container(a)
    for n in range(3):
        assert enqueue(a, campaign, contact, f"visit-{n}").outcome == "queued"
    broadcast = make_campaign(a)
    from django.db import IntegrityError

    with tenant_context(a.tenant), pytest.raises(IntegrityError), transaction.atomic():
        for _ in range(2):
            Message.objects.create(tenant=a.tenant, campaign=broadcast, contact=contact, send_after=NOW)


def test_event_data_is_encrypted_at_rest(world, frozen_now, sent_tasks):
    a = world.a
    enqueued = enqueue(a, container(a), consenting(a), "k", event_data={"provider_name": PROVIDER})
    with tenant_context(a.tenant), connection.cursor() as cursor:
        cursor.execute("SELECT event_data FROM campaigns_message WHERE id = %s", [enqueued.message.pk])
        (raw,) = cursor.fetchone()
    assert raw is not None and PROVIDER.encode() not in bytes(raw)


def test_misuse_is_refused(world, frozen_now, sent_tasks):
    a, b = world.a, world.b
    contact = consenting(a)
    with pytest.raises(EnqueueRefused, match="Broadcast"):
        enqueue(a, make_campaign(a), contact, "k")
    with pytest.raises(EnqueueRefused, match="source_key"):
        enqueue(a, container(a), contact, "")
    with pytest.raises(EnqueueRefused, match="organisation"):
        enqueue(a, container(a), make_contact(b.tenant), "k")
    with pytest.raises(EnqueueRefused, match="completed"):
        enqueue(a, container(a, status=CampaignStatus.COMPLETED), contact, "k")


# --- Consent and suppression ----------------------------------------------------------------------


def test_no_consent_is_recorded_as_a_skipped_message(world, frozen_now, sent_tasks, django_capture_on_commit_callbacks):
    a = world.a
    campaign = container(a)
    contact = make_contact(a.tenant)  # never asked
    with django_capture_on_commit_callbacks(execute=True):
        result = enqueue(a, campaign, contact, "k")
    assert result.outcome == "no_consent" and not result.replayed
    assert result.message.status == MessageStatus.SKIPPED
    assert result.message.reason_codes == ["no_consent"]
    assert sent_tasks == []  # nothing to send
    assert enqueue(a, campaign, contact, "k").outcome == "no_consent"  # a replay says the same


def test_revoked_consent_and_suppression_are_refused(world, frozen_now, sent_tasks):
    a = world.a
    campaign = container(a)
    revoked = consenting(a)
    grant(a, revoked, "appointment_reminders", status="revoked")
    assert enqueue(a, campaign, revoked, "r").outcome == "no_consent"
    suppressed = consenting(a)
    with tenant_context(a.tenant):
        suppression_add(
            tenant=a.tenant,
            actor=actor_for_user(a.users[Role.ADMIN]),
            email=suppressed.email,
            reason=SuppressionReason.HARD_BOUNCE,
        )
    result = enqueue(a, campaign, suppressed, "s")
    assert (result.outcome, result.message.status, result.message.reason_codes) == (
        "suppressed",
        MessageStatus.SKIPPED,
        ["suppressed"],
    )


def test_marketing_needs_its_authorisation_too(world, frozen_now, sent_tasks):
    a = world.a
    campaign = container(a, purpose="marketing", kind=CampaignKind.JOURNEY)
    result = enqueue(a, campaign, consenting(a, "marketing"), "k")
    assert (result.outcome, result.message.reason_codes) == ("no_consent", ["no_authorisation"])
    assert enqueue(a, campaign, marketing_contact(a), "k2").outcome == "queued"


# --- Frequency caps ---------------------------------------------------------------------------------


def test_a_purpose_cap_counts_that_purpose_across_containers(world, frozen_now, sent_tasks):
    a = world.a
    set_settings(a, cap_messages=0, purpose_caps={"marketing": [2, 7]})
    contact = marketing_contact(a)
    grant(a, contact, "billing")
    journey, other = (container(a, purpose="marketing", kind=CampaignKind.JOURNEY) for _ in range(2))
    assert enqueue(a, journey, contact, "1").outcome == "queued"
    assert enqueue(a, other, contact, "2").outcome == "queued"
    capped = enqueue(a, journey, contact, "3")
    assert (capped.outcome, capped.message.status, capped.message.reason_codes) == (
        "capped",
        MessageStatus.SKIPPED,
        ["frequency_cap_purpose"],
    )
    # Another purpose is not counted, nor are skipped messages (the capped one above).
    assert enqueue(a, container(a, purpose="billing"), contact, "4").outcome == "queued"
    # The caller may exempt one message (e.g. a journey's own rule); it is recorded all the same.
    assert enqueue(a, journey, contact, "5", cap_exempt=True).outcome == "queued"


def test_messages_older_than_the_period_do_not_count(world, frozen_now, sent_tasks):
    a = world.a
    set_settings(a, cap_messages=0, purpose_caps={"appointment_reminders": [1, 7]})
    contact, campaign = consenting(a), container(a)
    old = enqueue(a, campaign, contact, "old").message
    with tenant_context(a.tenant):
        Message.objects.for_tenant(a.tenant).filter(pk=old.pk).update(send_after=NOW - timedelta(days=8))
    assert enqueue(a, campaign, contact, "new").outcome == "queued"
    assert enqueue(a, campaign, contact, "newer").outcome == "capped"


def test_the_overall_cap_and_the_transactional_exemption(world, frozen_now, sent_tasks):
    a = world.a
    set_settings(a, cap_messages=2, cap_days=7, transactional_cap_exempt=False)
    contact = marketing_contact(a)
    grant(a, contact, "billing")
    billing, marketing = container(a, purpose="billing"), container(a, purpose="marketing")
    assert [enqueue(a, billing, contact, f"b{n}").outcome for n in range(3)] == ["queued", "queued", "capped"]
    assert enqueue(a, marketing, contact, "m0").message.reason_codes == ["frequency_cap"]
    # Exempt: billing is neither capped nor counted, so marketing has its whole allowance again.
    set_settings(a, transactional_cap_exempt=True)
    assert enqueue(a, billing, contact, "b3").outcome == "queued"
    assert [enqueue(a, marketing, contact, f"m{n}").outcome for n in (1, 2, 3)] == ["queued", "queued", "capped"]


def test_launch_honours_the_same_purpose_cap(world, frozen_now, sent_tasks, verified_domains):
    a = world.a
    set_settings(a, cap_messages=0, purpose_caps={"appointment_reminders": [1, 7]})
    reminded, billed, fresh = consenting(a), consenting(a), consenting(a)
    grant(a, billed, "billing")
    enqueue(a, container(a), reminded, "r")  # one appointment reminder already
    enqueue(a, container(a, purpose="billing"), billed, "b")  # another purpose: not counted
    with tenant_context(a.tenant):
        launched = campaign_launch(tenant=a.tenant, user=a.users[Role.MARKETER], campaign=make_campaign(a))
        frozen = set(
            Message.objects.for_tenant(a.tenant).filter(campaign_id=launched.pk).values_list("contact_id", flat=True)
        )
    assert frozen == {billed.pk, fresh.pk}
    # Exempt transactional purposes: appointment reminders are not capped at launch either.
    set_settings(a, transactional_cap_exempt=True)
    with tenant_context(a.tenant):
        again = campaign_launch(tenant=a.tenant, user=a.users[Role.MARKETER], campaign=make_campaign(a))
    assert again.audience_size == 3


# --- Quiet hours ------------------------------------------------------------------------------------

NEW_YORK = ZoneInfo("America/New_York")
EVENING, MORNING = time(21, 0), time(8, 0)


def local(zone, *args):
    return datetime(*args, tzinfo=zone).astimezone(UTC)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ((2027, 2, 10, 22, 30), (2027, 2, 11, 8, 0)),  # evening: the next morning
        ((2027, 2, 10, 3, 15), (2027, 2, 10, 8, 0)),  # after midnight: this morning
        ((2027, 2, 10, 21, 0), (2027, 2, 11, 8, 0)),  # the first quiet minute
        ((2027, 2, 10, 8, 0), (2027, 2, 10, 8, 0)),  # quiet hours are over
        ((2027, 2, 10, 14, 0), (2027, 2, 10, 14, 0)),  # daytime: unchanged
    ],
)
def test_quiet_hours_across_midnight(at, expected):
    moved = after_quiet_hours(local(NEW_YORK, *at), start=EVENING, end=MORNING, zone=NEW_YORK)
    assert moved == local(NEW_YORK, *expected)


def test_quiet_hours_within_one_day():
    lunch = {"start": time(12, 0), "end": time(14, 0), "zone": NEW_YORK}
    assert after_quiet_hours(local(NEW_YORK, 2027, 2, 10, 12, 30), **lunch) == local(NEW_YORK, 2027, 2, 10, 14, 0)
    assert after_quiet_hours(local(NEW_YORK, 2027, 2, 10, 23, 0), **lunch) == local(NEW_YORK, 2027, 2, 10, 23, 0)


def test_quiet_hours_end_at_the_local_time_across_a_dst_change():
    # 2027-03-14: New York springs forward (EST, UTC-5 → EDT, UTC-4) at 02:00.
    evening = datetime(2027, 3, 14, 4, 0, tzinfo=UTC)  # 23:00 EST on the 13th
    assert evening.astimezone(NEW_YORK).utcoffset() == timedelta(hours=-5)
    moved = after_quiet_hours(evening, start=EVENING, end=MORNING, zone=NEW_YORK)
    assert moved == datetime(2027, 3, 14, 12, 0, tzinfo=UTC)  # 08:00 EDT, not 13:00 UTC (08:00 EST)
    assert moved.astimezone(NEW_YORK).hour == 8
    # 2027-11-07: back to EST at 02:00; 08:00 that morning is 13:00 UTC.
    autumn = datetime(2027, 11, 7, 3, 30, tzinfo=UTC)  # 23:30 EDT on the 6th
    assert after_quiet_hours(autumn, start=EVENING, end=MORNING, zone=NEW_YORK) == datetime(
        2027, 11, 7, 13, 0, tzinfo=UTC
    )
    # An end inside the spring-forward gap (02:30 does not exist that day) is when clocks jump.
    gap = after_quiet_hours(evening, start=EVENING, end=time(2, 30), zone=NEW_YORK)
    assert gap == datetime(2027, 3, 14, 7, 30, tzinfo=UTC)  # 03:30 EDT
    assert gap > evening


def test_enqueue_moves_a_send_out_of_the_recipients_quiet_hours(world, frozen_now, sent_tasks):
    a = world.a
    set_settings(a, quiet_hours_start=EVENING, quiet_hours_end=MORNING, default_time_zone="Asia/Tokyo", cap_messages=0)
    campaign = container(a, purpose="marketing", kind=CampaignKind.JOURNEY)
    # NOW is 10:00 in New York (not quiet) and 00:00 the next day in Tokyo (quiet).
    new_yorker = marketing_contact(a, time_zone="America/New_York")
    assert enqueue(a, campaign, new_yorker, "ny").message.send_after == NOW
    no_zone = marketing_contact(a, time_zone="")  # the organisation's default zone: Tokyo
    result = enqueue(a, campaign, no_zone, "tokyo")
    assert result.outcome == "queued" and result.message.status == MessageStatus.QUEUED
    assert result.message.send_after == local(ZoneInfo("Asia/Tokyo"), 2027, 3, 3, 8, 0)
    assert result.message.reason_codes == ["quiet_hours"]
    # A later not_before is the starting point: 2027-03-03 22:00 in New York → 08:00 next day.
    later = enqueue(a, campaign, new_yorker, "ny2", not_before=local(NEW_YORK, 2027, 3, 3, 22, 0)).message
    assert later.send_after == local(NEW_YORK, 2027, 3, 4, 8, 0)


def test_quiet_hours_hold_transactional_purposes_only_when_switched_on(world, frozen_now, sent_tasks):
    a = world.a
    set_settings(a, quiet_hours_start=time(0, 0), quiet_hours_end=time(23, 59), cap_messages=0)
    campaign = container(a)  # appointment reminders: transactional
    contact = consenting(a, time_zone="UTC")
    assert enqueue(a, campaign, contact, "1").message.send_after == NOW
    set_settings(a, quiet_hours_transactional=True)
    assert enqueue(a, campaign, contact, "2").message.send_after == datetime(2027, 3, 2, 23, 59, tzinfo=UTC)


# --- Containers are not broadcasts ----------------------------------------------------------------


def test_containers_are_neither_completed_nor_launched_nor_listed(world, frozen_now, sent_tasks):
    from campaigns.selectors import campaign_list

    a = world.a
    campaign = container(a)
    actor = actor_for_user(a.users[Role.ADMIN])
    with tenant_context(a.tenant):
        assert not campaign_complete_if_finished(tenant=a.tenant, campaign=campaign, actor=actor)
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.SENDING  # nothing queued, still in use
        with pytest.raises(CampaignStateError):
            campaign_launch(tenant=a.tenant, user=a.users[Role.MARKETER], campaign=campaign)
        assert campaign not in campaign_list(tenant=a.tenant)
        assert campaign in campaign_list(tenant=a.tenant, kind=CampaignKind.TRANSACTIONAL)


def test_dispatch_due_leaves_an_idle_container_sending(world, frozen_now, sent_tasks, monkeypatch):
    from delivery.tasks import dispatch_due_task

    a = world.a
    campaign = container(a)
    version = approved_template(a)
    broadcast = make_campaign(a, version=version)  # launched, with nothing left to send
    with tenant_context(a.tenant):
        Campaign.objects.for_tenant(a.tenant).filter(pk=broadcast.pk).update(
            status=CampaignStatus.SENDING, template_version=version
        )
    monkeypatch.setattr("delivery.tasks.send_batch_task.delay", lambda *args: None)
    dispatch_due_task()
    with tenant_context(a.tenant):
        assert Campaign.objects.for_tenant(a.tenant).get(pk=campaign.pk).status == CampaignStatus.SENDING
        assert Campaign.objects.for_tenant(a.tenant).get(pk=broadcast.pk).status == CampaignStatus.COMPLETED


# --- The settings page ------------------------------------------------------------------------------


def test_the_settings_page_saves_purpose_caps_and_quiet_hours_audited(world, login):
    from django.urls import reverse

    from audit.tests.helpers import events as audit_events

    a = world.a
    client = login(a.users[Role.ADMIN], a.tenant)
    page = client.get(reverse("campaigns:settings")).content.decode()
    assert 'name="cap_marketing_messages"' in page and 'name="quiet_hours_start"' in page
    form = {
        "cap_messages": 5,
        "cap_days": 30,
        "default_time_zone": "America/New_York",
        "cap_marketing_messages": 3,
        "cap_marketing_days": 7,
        "transactional_cap_exempt": "on",
        "quiet_hours_start": "21:00",
        "quiet_hours_end": "08:00",
    }
    assert client.post(reverse("campaigns:settings"), form).status_code == 302
    with tenant_context(a.tenant):
        saved = CampaignSettings.objects.for_tenant(a.tenant).get()
    assert saved.purpose_caps == {"marketing": [3, 7]}
    assert saved.transactional_cap_exempt and not saved.quiet_hours_transactional
    assert (saved.quiet_hours_start, saved.quiet_hours_end) == (time(21, 0), time(8, 0))
    [details] = [d for name, d in audit_events(a.tenant) if name == "campaign.settings_changed"]
    assert details["purpose_caps"] == ["marketing:3/7"] and details["quiet_hours"] == ["21:00", "08:00"]
    # Half a cap, or quiet hours that start and end together, are explained and change nothing.
    bad = client.post(
        reverse("campaigns:settings"),
        {**form, "cap_marketing_days": "", "quiet_hours_end": "21:00"},
    )
    assert bad.status_code == 400
    with tenant_context(a.tenant):
        assert CampaignSettings.objects.for_tenant(a.tenant).get().purpose_caps == {"marketing": [3, 7]}
