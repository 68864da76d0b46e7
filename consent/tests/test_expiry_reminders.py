"""Compliance officers are emailed (through a real SMTP server) the counts of HIPAA marketing
authorisations expiring in 30 and 7 days: once per threshold, with no patient in the message."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from authn.tests.mail import inbox  # noqa: F401 - fixture
from consent.notifications import authorisation_expiry_reminders_queue
from consent.tests.support import authorise
from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db


def test_compliance_officers_hear_of_expiring_authorisations(
    world,
    inbox,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    tenant = world.a.tenant
    contacts = [make_contact(tenant) for _ in range(4)]
    authorise(tenant, contacts[0], expires_in_days=30)
    authorise(tenant, contacts[1], expires_in_days=30)
    authorise(tenant, contacts[2], expires_in_days=7)
    authorise(tenant, contacts[3], expires_in_days=8)  # no threshold today
    with django_capture_on_commit_callbacks(execute=True):
        queued = authorisation_expiry_reminders_queue()
    officer = world.a.users[Role.COMPLIANCE_OFFICER]
    assert queued == 1
    assert inbox.recipients() == [officer.email]
    (message,) = inbox.received
    assert "2 expire in 30 days" in message.body
    assert "1 expire in 7 days" in message.body
    assert "/consent/report/" in message.body
    for contact in contacts:
        assert contact.email not in message.body and contact.last_name not in message.body


def test_no_reminder_when_nothing_reaches_a_threshold(
    world,
    inbox,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    authorise(world.a.tenant, make_contact(world.a.tenant), expires_in_days=10)
    with django_capture_on_commit_callbacks(execute=True):
        assert authorisation_expiry_reminders_queue(today=timezone.localdate() + timedelta(days=1)) == 0
    assert inbox.received == []
