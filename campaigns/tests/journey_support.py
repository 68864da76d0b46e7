"""Journey helpers shared by the journey, calendar and end-to-end tests."""

from __future__ import annotations

from audit.services import actor_for_user
from campaigns.journeys import (
    JourneyInput,
    journey_activate,
    journey_create,
    journey_version_review,
    journey_version_submit,
)
from campaigns.models import DueWork, DueWorkStatus, JourneyEnrollment
from campaigns.scheduling import due_work_claim, due_work_run
from campaigns.tests.support import approved_template, from_domain
from campaigns.triggers import trigger_events_receive
from tenants.context import tenant_context
from tenants.roles import Role

# 2027-03-14 is the day New York moves to daylight-saving time (02:00 -> 03:00).
APPOINTMENT = "2027-03-15T09:30:00-04:00"  # 13:30 UTC, the Monday after


def steps_for(template_id, *, wait=None, condition=None):
    steps = [
        wait or {"type": "wait", "until": "appointment_at", "hours": -48},
        {"type": "send", "template": str(template_id)},
    ]
    if condition is not None:
        steps.insert(1, {"type": "condition", "rules": condition})
    return steps


def make_journey(fixture, steps=None, *, exit_types=("appointment.cancelled",), activate=True, phi=False, **extra):
    template = approved_template(fixture, phi=phi).template
    marketer, officer = fixture.users[Role.MARKETER], fixture.users[Role.COMPLIANCE_OFFICER]
    with tenant_context(fixture.tenant):
        journey = journey_create(
            tenant=fixture.tenant,
            user=marketer,
            actor=actor_for_user(marketer),
            data=JourneyInput(
                name="Appointment reminders",
                trigger_type="appointment.scheduled",
                purpose="appointment_reminders",
                from_name="Clinic",
                from_address=f"reminders@{from_domain(fixture)}",
                exit_types=tuple(exit_types),
                department="Cardiology",
            ),
            steps=steps if steps is not None else steps_for(template.pk, **extra),
        )
        version = journey.versions.get()
        if activate:
            version = journey_version_submit(
                tenant=fixture.tenant, user=marketer, actor=actor_for_user(marketer), version=version
            )
            version = journey_version_review(
                tenant=fixture.tenant, user=officer, actor=actor_for_user(officer), version=version, approve=True
            )
            journey = journey_activate(
                tenant=fixture.tenant, user=marketer, actor=actor_for_user(marketer), journey=journey, version=version
            )
    return journey, template


def book(fixture, contact, *, event_id="evt-1", kind="appointment.scheduled", appointment_id="APPT-1", **data):
    payload = {"appointment_id": appointment_id}
    if kind == "appointment.scheduled":
        payload.update({"appointment_at": APPOINTMENT, "provider_name": "Dr. Synthetic"})
    payload.update(data)
    with tenant_context(fixture.tenant):
        return trigger_events_receive(
            tenant=fixture.tenant,
            actor=actor_for_user(fixture.users[Role.ADMIN]),
            items=[{"id": event_id, "type": kind, "contact": {"id": str(contact.pk)}, "data": payload}],
        )


def walks(fixture):
    with tenant_context(fixture.tenant):
        return list(
            JourneyEnrollment.objects.for_tenant(fixture.tenant).select_related("version").order_by("created_at")
        )


def pending_steps(fixture):
    with tenant_context(fixture.tenant):
        return list(
            DueWork.objects.for_tenant(fixture.tenant)
            .filter(kind="journey.step", status=DueWorkStatus.PENDING)
            .values_list("subject_id", "due_at")
        )


def run_due(fixture, now):
    with tenant_context(fixture.tenant):
        claim = due_work_claim(tenant=fixture.tenant, now=now, limit=100)
    return due_work_run(tenant=fixture.tenant, ids=claim.ids, claim=claim.token)
