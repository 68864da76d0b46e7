"""Journeys (issue 13): steps checked, versions approved by someone else and pinned, a trigger
event starting a walk (once, also when replayed), waits computed in the contact's time zone
across a daylight-saving change, conditions, cancelling events, pause and resume keeping every
walk, and a new version leaving walks in flight on theirs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from audit.services import actor_for_user
from audit.tests.helpers import actions
from campaigns.journeys import (
    JourneyInput,
    JourneyInvalid,
    JourneyStateError,
    journey_activate,
    journey_create,
    journey_pause,
    journey_resume,
    journey_version_draft,
    journey_version_review,
    journey_version_submit,
    shift,
)
from campaigns.models import (
    CampaignKind,
    CampaignStatus,
    EnrollmentStatus,
    JourneySendStep,
)
from campaigns.tests.journey_support import APPOINTMENT, book, make_journey, pending_steps, run_due, steps_for, walks
from campaigns.triggers import trigger_event_payload
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")


def test_steps_are_checked_and_named_by_path(world):
    a = world.a
    marketer = a.users[Role.MARKETER]
    bad = [
        {"type": "wait"},
        {"type": "wait", "until": "provider_name", "days": -1},
        {"type": "wait", "hours": -3},
        {"type": "send", "template": "not-a-template"},
        {"type": "condition", "rules": {"field": "nope", "op": "eq", "value": 1}},
        {"type": "teleport"},
    ]
    with tenant_context(a.tenant), pytest.raises(JourneyInvalid) as invalid:
        journey_create(
            tenant=a.tenant,
            user=marketer,
            actor=actor_for_user(marketer),
            data=JourneyInput("J", "appointment.unknown", "appointment_reminders", "C", "c@example.com"),
            steps=bad,
        )
    assert set(invalid.value.fields) == {
        "trigger_type",
        "steps.0",
        "steps.1.until",
        "steps.2",
        "steps.3.template",
        "steps.4.rules",
        "steps.5",
    }


def test_approval_pins_template_versions_and_needs_another_person(world):
    a = world.a
    journey, _ = make_journey(a, activate=False)
    marketer = a.users[Role.MARKETER]
    with tenant_context(a.tenant):
        version = journey.versions.get()
        version = journey_version_submit(
            tenant=a.tenant, user=marketer, actor=actor_for_user(marketer), version=version
        )
        with pytest.raises(JourneyStateError):
            journey_version_review(
                tenant=a.tenant, user=marketer, actor=actor_for_user(marketer), version=version, approve=True
            )
        with pytest.raises(JourneyStateError):
            journey_activate(
                tenant=a.tenant, user=marketer, actor=actor_for_user(marketer), journey=journey, version=version
            )
        officer = a.users[Role.COMPLIANCE_OFFICER]
        version = journey_version_review(
            tenant=a.tenant, user=officer, actor=actor_for_user(officer), version=version, approve=True
        )
        assert version.steps[1]["template_version"]
        journey = journey_activate(
            tenant=a.tenant, user=marketer, actor=actor_for_user(marketer), journey=journey, version=version
        )
        [send_step] = JourneySendStep.objects.for_tenant(a.tenant).select_related("campaign")
        assert send_step.step == 1 and send_step.campaign.kind == CampaignKind.JOURNEY
        assert send_step.campaign.status == CampaignStatus.SENDING
        assert str(send_step.campaign.template_version_id) == version.steps[1]["template_version"]
    journey_actions = [action for action in actions(a.tenant) if action.startswith("journey.")]
    assert journey_actions == [
        "journey.created",
        "journey.version_submitted",
        "journey.version_approved",
        "journey.activated",
    ]


def test_a_trigger_event_starts_one_walk_even_when_replayed(world, clock):
    a = world.a
    make_journey(a)
    contact = make_contact(a.tenant, time_zone="America/New_York")
    book(a, contact)
    book(a, contact)  # a retry of the same event
    [walk] = walks(a)
    assert walk.status == EnrollmentStatus.ACTIVE and walk.step == 0
    assert pending_steps(a) == [(str(walk.pk), clock.now)]


def test_48_hours_before_the_appointment_across_the_dst_change(world, clock, sends):
    a = world.a
    make_journey(a)
    contact = make_contact(a.tenant, time_zone="America/New_York")
    book(a, contact)
    assert run_due(a, clock.now) == 1
    [walk] = walks(a)
    due = datetime(2027, 3, 13, 13, 30, tzinfo=UTC)  # 48 elapsed hours before 13:30 UTC on the 15th
    assert walk.step == 1 and walk.next_due_at == due
    assert pending_steps(a) == [(str(walk.pk), due)]
    assert sends == []
    clock.move_to(due - timedelta(seconds=1))
    assert run_due(a, clock.now) == 0  # not yet
    clock.move_to(due)
    assert run_due(a, clock.now) == 1
    [call] = sends
    assert call["source_key"] == f"journey:{walk.pk}:1" and call["contact"].pk == contact.pk
    assert call["event_data"]["event.provider_name"] == "Dr. Synthetic"
    assert call["campaign"].kind == CampaignKind.JOURNEY
    [walk] = walks(a)
    assert walk.status == EnrollmentStatus.COMPLETED and walk.ended_reason == "completed"


def test_two_calendar_days_before_keeps_the_local_wall_clock_time_across_dst():
    appointment = datetime.fromisoformat(APPOINTMENT)
    two_days = shift(appointment, zone=NEW_YORK, days=-2)
    local = two_days.astimezone(NEW_YORK)
    assert (local.day, local.hour, local.minute, local.utcoffset()) == (13, 9, 30, timedelta(hours=-5))  # 09:30 EST
    assert two_days == datetime(2027, 3, 13, 14, 30, tzinfo=UTC)
    # 48 elapsed hours land an hour earlier on the local clock, the other side of the change.
    assert shift(appointment, zone=NEW_YORK, hours=-48).astimezone(NEW_YORK).hour == 8
    # Set to a local time of day after the day shift.
    evening = shift(appointment, zone=NEW_YORK, days=-1, at="18:00")
    assert evening == datetime(2027, 3, 14, 22, 0, tzinfo=UTC)  # 18:00 EDT


def test_a_cancelled_appointment_ends_its_walk_and_only_its_own(world, clock, sends):
    a = world.a
    make_journey(a)
    contact = make_contact(a.tenant, time_zone="America/New_York")
    book(a, contact, event_id="b1", appointment_id="APPT-1")
    book(a, contact, event_id="b2", appointment_id="APPT-2")
    run_due(a, clock.now)
    book(a, contact, event_id="c1", kind="appointment.cancelled", appointment_id="appt-1")
    with tenant_context(a.tenant):
        by_appointment = {trigger_event_payload(walk.trigger_event)["appointment_id"]: walk for walk in walks(a)}
    first, second = by_appointment["APPT-1"], by_appointment["APPT-2"]
    assert (first.status, first.ended_reason) == (EnrollmentStatus.EXITED, "cancelled_by_event")
    assert second.status == EnrollmentStatus.ACTIVE
    assert [subject for subject, _ in pending_steps(a)] == [str(second.pk)]
    clock.move_to(datetime(2027, 3, 14, tzinfo=UTC))
    run_due(a, clock.now)
    assert [call["source_key"] for call in sends] == [f"journey:{second.pk}:1"]


def test_an_appointment_already_past_ends_the_walk(world, clock, sends):
    a = world.a
    make_journey(a)
    contact = make_contact(a.tenant)
    clock.move_to(datetime(2027, 3, 16, tzinfo=UTC))
    book(a, contact)
    run_due(a, clock.now)
    [walk] = walks(a)
    assert (walk.status, walk.ended_reason) == (EnrollmentStatus.EXITED, "event_time_passed")
    assert sends == []


def test_a_reminder_booked_late_goes_at_once(world, clock, sends):
    a = world.a
    make_journey(a)
    contact = make_contact(a.tenant, time_zone="America/New_York")
    clock.move_to(datetime(2027, 3, 14, 20, tzinfo=UTC))  # 17.5 hours before the appointment
    book(a, contact)
    run_due(a, clock.now)
    assert len(sends) == 1


def test_a_condition_not_met_ends_the_walk(world, clock, sends):
    a = world.a
    make_journey(
        a, wait={"type": "wait", "hours": 1}, condition={"all": [{"field": "language", "op": "eq", "value": "es"}]}
    )
    english, spanish = make_contact(a.tenant, language="en"), make_contact(a.tenant, language="es")
    book(a, english, event_id="e1")
    book(a, spanish, event_id="e2")
    run_due(a, clock.now)
    clock.move_to(clock.now + timedelta(hours=1))
    run_due(a, clock.now)
    by_contact = {walk.contact_id: walk for walk in walks(a)}
    assert by_contact[english.pk].ended_reason == "condition_not_met"
    assert by_contact[spanish.pk].ended_reason == "completed"
    assert [call["contact"].pk for call in sends] == [spanish.pk]


def test_pause_keeps_every_walk_and_resume_catches_up(world, clock, sends):
    a = world.a
    journey, _ = make_journey(a)
    contact = make_contact(a.tenant, time_zone="America/New_York")
    book(a, contact, event_id="e1")
    run_due(a, clock.now)
    marketer = a.users[Role.MARKETER]
    with tenant_context(a.tenant):
        journey = journey_pause(tenant=a.tenant, actor=actor_for_user(marketer), journey=journey)
    assert pending_steps(a) == []
    later = make_contact(a.tenant, time_zone="America/New_York")
    book(a, later, event_id="e2", appointment_id="APPT-9")  # enrolled while paused, not yet run
    clock.move_to(datetime(2027, 3, 14, tzinfo=UTC))  # past the first walk's reminder time
    assert run_due(a, clock.now) == 0 and sends == []
    with tenant_context(a.tenant):
        journey_resume(tenant=a.tenant, actor=actor_for_user(marketer), journey=journey)
    run_due(a, clock.now)
    run_due(a, clock.now)
    assert sorted(call["contact"].pk for call in sends) == sorted([contact.pk, later.pk])
    assert {walk.status for walk in walks(a)} == {EnrollmentStatus.COMPLETED}
    assert "journey.paused" in actions(a.tenant) and "journey.resumed" in actions(a.tenant)


def test_a_new_version_takes_new_contacts_and_leaves_walks_in_flight_on_theirs(world, clock, sends):
    a = world.a
    journey, template = make_journey(a)
    first = make_contact(a.tenant, time_zone="America/New_York")
    book(a, first, event_id="e1")
    run_due(a, clock.now)
    marketer, officer = a.users[Role.MARKETER], a.users[Role.COMPLIANCE_OFFICER]
    with tenant_context(a.tenant):
        version = journey_version_draft(
            tenant=a.tenant,
            user=marketer,
            actor=actor_for_user(marketer),
            journey=journey,
            steps=steps_for(template.pk, wait={"type": "wait", "until": "appointment_at", "days": -1}),
        )
        assert version.number == 2
        version = journey_version_submit(
            tenant=a.tenant, user=marketer, actor=actor_for_user(marketer), version=version
        )
        version = journey_version_review(
            tenant=a.tenant, user=officer, actor=actor_for_user(officer), version=version, approve=True
        )
        journey_activate(
            tenant=a.tenant, user=marketer, actor=actor_for_user(marketer), journey=journey, version=version
        )
    second = make_contact(a.tenant, time_zone="America/New_York")
    book(a, second, event_id="e2", appointment_id="APPT-2")
    run_due(a, clock.now)
    by_contact = {walk.contact_id: walk for walk in walks(a)}
    old, new = by_contact[first.pk], by_contact[second.pk]
    assert old.version.number == 1 and new.version.number == 2
    assert old.next_due_at == datetime(2027, 3, 13, 13, 30, tzinfo=UTC)  # 48 hours before, as v1 says
    assert new.next_due_at == datetime(2027, 3, 14, 13, 30, tzinfo=UTC)  # a calendar day before, v2
    clock.move_to(datetime(2027, 3, 15, tzinfo=UTC))
    run_due(a, clock.now)
    campaigns = {call["contact"].pk: call["campaign"].pk for call in sends}
    assert campaigns[first.pk] != campaigns[second.pk]  # each version's own send step


def test_another_organisations_events_start_nothing(world, clock):
    make_journey(world.a)
    book(world.b, make_contact(world.b.tenant))
    assert walks(world.a) == [] and walks(world.b) == []
