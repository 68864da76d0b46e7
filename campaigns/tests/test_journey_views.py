"""Journey pages: a marketer builds a journey with the step rows, a compliance officer approves it
(a marketer cannot), the marketer activates it, and the journey's page shows the flow with how
many contacts wait at each step; bad rows are explained and change nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from audit.services import actor_for_user
from campaigns.models import Journey, JourneyVersion
from campaigns.tests.support import approved_template, from_domain
from campaigns.triggers import trigger_events_receive
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db


def journey_post(template_id, **overrides):
    data = {
        "name": "Visit reminders",
        "trigger_type": "appointment.scheduled",
        "exit_types": ["appointment.cancelled"],
        "purpose": "appointment_reminders",
        "department": "Cardiology",
        "from_name": "Clinic",
        "from_address": "reminders@org-a.example.com",
        "steps-TOTAL_FORMS": "8",
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "8",
        "steps-0-type": "wait",
        "steps-0-until": "appointment_at",
        "steps-0-hours": "-48",
        "steps-1-type": "send",
        "steps-1-template": str(template_id),
    }
    data.update(overrides)
    return data


def the_journey(fixture):
    with tenant_context(fixture.tenant):
        return Journey.objects.for_tenant(fixture.tenant).get()


def versions(fixture):
    with tenant_context(fixture.tenant):
        return list(JourneyVersion.objects.for_tenant(fixture.tenant).order_by("number"))


def test_build_approve_activate_and_watch_it_run(world, login, monkeypatch):
    from django.utils import timezone

    monkeypatch.setattr(timezone, "now", lambda: datetime(2027, 3, 1, 12, tzinfo=UTC))
    a = world.a
    template = approved_template(a).template
    marketer = login(a.users[Role.MARKETER], a.tenant)
    assert marketer.get(reverse("campaigns:journey_create")).status_code == 200
    response = marketer.post(reverse("campaigns:journey_create"), journey_post(template.pk))
    journey = the_journey(a)
    detail = reverse("campaigns:journey_detail", args=[journey.pk])
    assert response.status_code == 302 and response["Location"] == detail
    assert journey.from_address == f"reminders@{from_domain(a)}" and journey.exit_types == ["appointment.cancelled"]
    [version] = versions(a)
    assert version.steps == [
        {"type": "wait", "hours": -48, "until": "appointment_at"},
        {"type": "send", "template": str(template.pk)},
    ]
    page = marketer.get(detail).content.decode()
    assert "Wait until 48 hours before the event&#x27;s appointment_at" in page and f"Send “{template.name}”" in page
    marketer.post(reverse("campaigns:journey_submit", args=[journey.pk, version.pk]))
    # The marketer cannot approve; the compliance officer can.
    assert (
        marketer.post(
            reverse("campaigns:journey_review", args=[journey.pk, version.pk]), {"decision": "approve"}
        ).status_code
        == 403
    )
    officer = login(a.users[Role.COMPLIANCE_OFFICER], a.tenant)
    officer.post(reverse("campaigns:journey_review", args=[journey.pk, version.pk]), {"decision": "approve"})
    assert versions(a)[0].status == "approved"
    marketer = login(a.users[Role.MARKETER], a.tenant)
    marketer.post(reverse("campaigns:journey_activate", args=[journey.pk, version.pk]))
    assert the_journey(a).status == "active"
    contact = make_contact(a.tenant, time_zone="America/New_York")
    with tenant_context(a.tenant):
        trigger_events_receive(
            tenant=a.tenant,
            actor=actor_for_user(a.users[Role.ADMIN]),
            items=[
                {
                    "id": "e1",
                    "type": "appointment.scheduled",
                    "contact": {"id": str(contact.pk)},
                    "data": {"appointment_id": "A1", "appointment_at": "2027-03-15T09:30:00-04:00"},
                }
            ],
        )
    page = marketer.get(detail).content.decode()
    assert "1 waiting" in page and "Running: version 1" in page
    assert marketer.post(reverse("campaigns:journey_pause", args=[journey.pk])).status_code == 302
    assert the_journey(a).status == "paused"


def test_bad_rows_are_explained_and_nothing_is_created(world, login):
    a = world.a
    template = approved_template(a).template
    marketer = login(a.users[Role.MARKETER], a.tenant)
    response = marketer.post(
        reverse("campaigns:journey_create"),
        journey_post(template.pk, **{"steps-0-until": "", "steps-1-template": ""}),
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Step 1: A wait from now cannot be negative" in page
    assert "Step 2: Choose one of the organisation&#x27;s templates." in page
    with tenant_context(a.tenant):
        assert not Journey.objects.for_tenant(a.tenant).exists()


def test_editing_steps_makes_a_new_draft_and_keeps_the_approved_one(world, login):
    a = world.a
    template = approved_template(a).template
    marketer = login(a.users[Role.MARKETER], a.tenant)
    marketer.post(reverse("campaigns:journey_create"), journey_post(template.pk))
    journey = the_journey(a)
    [version] = versions(a)
    marketer.post(reverse("campaigns:journey_submit", args=[journey.pk, version.pk]))
    login(a.users[Role.COMPLIANCE_OFFICER], a.tenant).post(
        reverse("campaigns:journey_review", args=[journey.pk, version.pk]), {"decision": "approve"}
    )
    marketer = login(a.users[Role.MARKETER], a.tenant)
    steps_url = reverse("campaigns:journey_steps", args=[journey.pk])
    assert 'value="-48"' in marketer.get(steps_url).content.decode()  # the rows come prefilled
    # As the browser posts it: the two prefilled rows are the formset's initial forms.
    changed = journey_post(template.pk, **{"steps-0-hours": "-24", "steps-INITIAL_FORMS": "2"})
    data = {k: v for k, v in changed.items() if k.startswith("steps")}
    response = marketer.post(steps_url, data)
    assert response.status_code == 302
    first, second = versions(a)
    assert (first.status, first.steps[0]["hours"]) == ("approved", -48)
    assert (second.number, second.status, second.steps[0]["hours"]) == (2, "draft", -24)


def test_a_compliance_officer_reads_but_cannot_build(world, login):
    officer = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    assert officer.get(reverse("campaigns:journey_list")).status_code == 200
    assert officer.get(reverse("campaigns:journey_create")).status_code == 403
