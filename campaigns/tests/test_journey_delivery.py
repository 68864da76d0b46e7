"""A journey end to end (issue 13): an appointment booked through the trigger API starts a walk;
with a moved clock the reminder goes out 48 hours before the appointment, through the real send
pipeline to the suite's SMTP server over verified STARTTLS, with the event's values rendered,
exactly once however often the scheduler ticks or the event is replayed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from campaigns.models import Message, MessageStatus
from campaigns.tests.journey_support import make_journey, run_due

# Fixtures: the aiosmtpd servers (STARTTLS from a test CA), tenant A's verified domain and BAA.
from templates.tests.pipeline_mail import TLS_DOMAIN, ca, mx_cert, servers, test_mail  # noqa: F401
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_token

pytestmark = pytest.mark.django_db

PROVIDER = "Dr. Synthetica Quill"


def test_the_reminder_reaches_the_smtp_server_once_48_hours_before(
    world,
    client,
    clock,
    test_mail,  # noqa: F811
    sent_tasks,
    django_capture_on_commit_callbacks,
):
    from campaigns.tests.support import consenting
    from delivery.posture import domain_posture
    from delivery.tasks import campaign_dispatch_task

    a = world.a
    make_journey(a, phi=True)
    contact = consenting(a, email=f"pat.synthetic@{TLS_DOMAIN}", first_name="Avery", time_zone="America/New_York")
    token = make_token(a.tenant, a.users[Role.ADMIN], scopes=["events:write"])
    event = {
        "id": "ehr-appt-1",
        "type": "appointment.scheduled",
        "contact": {"external_id": contact.external_id},
        "data": {"appointment_id": "APPT-1", "appointment_at": "2027-03-15T09:30:00-04:00", "provider_name": PROVIDER},
    }
    for _ in range(2):  # the integration retries: one walk all the same
        response = client.post(
            "/api/events/", event, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token.secret}"
        )
        assert response.status_code in (200, 201)
    due = datetime(2027, 3, 13, 13, 30, tzinfo=UTC)
    for now in (clock.now, due - timedelta(minutes=1), due, due + timedelta(minutes=1), due + timedelta(days=3)):
        clock.move_to(now)
        with django_capture_on_commit_callbacks(execute=True):
            run_due(a, now)
        while sent_tasks:
            _, args = sent_tasks.pop(0)
            domain_posture(TLS_DOMAIN, refresh=True)  # as the background refresh keeps it current
            campaign_dispatch_task(*args)
        if now < due:
            assert test_mail.received == []
    [received] = test_mail.received
    assert received.rcpt_tos == [contact.email] and received.tls
    assert PROVIDER in received.html and "Avery" in received.html
    with tenant_context(a.tenant):
        [message] = Message.objects.for_tenant(a.tenant)
    assert message.status == MessageStatus.SENT and message.level == "phi"


def test_an_organisations_own_trigger_type_fills_its_template(
    world,
    clock,
    test_mail,  # noqa: F811
    sent_tasks,
    django_capture_on_commit_callbacks,
):
    """A referral follow-up on an organisation-defined trigger type: the template reads the
    type's own payload field, and the message carries it."""
    from audit.services import actor_for_user
    from campaigns.journeys import (
        JourneyInput,
        journey_activate,
        journey_create,
        journey_version_review,
        journey_version_submit,
    )
    from campaigns.tests.support import consenting, from_domain
    from campaigns.triggers import trigger_events_receive, trigger_type_create
    from delivery.posture import domain_posture
    from delivery.tasks import campaign_dispatch_task
    from templates.services import version_approve, version_submit
    from templates.tests.support import make_template

    a = world.a
    marketer, officer = a.users[Role.MARKETER], a.users[Role.COMPLIANCE_OFFICER]
    with tenant_context(a.tenant):
        trigger_type_create(
            tenant=a.tenant,
            actor=actor_for_user(a.users[Role.ADMIN]),
            key="referral.received",
            label="Referral received",
            fields=[{"key": "referral_reason", "type": "text", "required": True}],
        )
    version = make_template(
        a.tenant,
        marketer,
        name="Referral follow-up",
        html="<p>We received your referral for {{ event.referral_reason }}.</p>",
    )
    with tenant_context(a.tenant):
        version_submit(tenant=a.tenant, user=marketer, version=version)
        version = version_approve(tenant=a.tenant, user=officer, version=version)
        journey = journey_create(
            tenant=a.tenant,
            user=marketer,
            actor=actor_for_user(marketer),
            data=JourneyInput(
                "Referrals", "referral.received", "appointment_reminders", "Clinic", f"care@{from_domain(a)}"
            ),
            steps=[{"type": "send", "template": str(version.template_id)}],
        )
        submitted = journey_version_submit(
            tenant=a.tenant, user=marketer, actor=actor_for_user(marketer), version=journey.versions.get()
        )
        approved = journey_version_review(
            tenant=a.tenant, user=officer, actor=actor_for_user(officer), version=submitted, approve=True
        )
        journey_activate(
            tenant=a.tenant, user=marketer, actor=actor_for_user(marketer), journey=journey, version=approved
        )
    contact = consenting(a, email=f"ref.synthetic@{TLS_DOMAIN}")
    with tenant_context(a.tenant):
        trigger_events_receive(
            tenant=a.tenant,
            actor=actor_for_user(a.users[Role.ADMIN]),
            items=[
                {
                    "id": "ref-1",
                    "type": "referral.received",
                    "contact": {"id": str(contact.pk)},
                    "data": {"referral_reason": "synthetic knee assessment"},
                }
            ],
        )
    with django_capture_on_commit_callbacks(execute=True):
        run_due(a, clock.now)
    domain_posture(TLS_DOMAIN, refresh=True)
    for _, args in sent_tasks:
        campaign_dispatch_task(*args)
    [received] = test_mail.received
    assert "We received your referral for synthetic knee assessment." in received.html
