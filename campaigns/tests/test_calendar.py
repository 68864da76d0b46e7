"""The department calendar: scheduled campaigns on their day with their department, journey
messages due by day, two sends of one department on a day flagged, the organisation's days,
and another organisation's sends never shown."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.urls import reverse

from campaigns.calendar import calendar_days
from campaigns.models import Campaign, CampaignSettings, CampaignStatus, ScheduleKind
from campaigns.tests.journey_support import book, make_journey, run_due
from campaigns.tests.support import make_campaign
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db


def scheduled(fixture, name, at, department, audience=120):
    campaign = make_campaign(fixture, name=name)
    with tenant_context(fixture.tenant):
        Campaign.objects.for_tenant(fixture.tenant).filter(pk=campaign.pk).update(
            status=CampaignStatus.SCHEDULED,
            schedule_kind=ScheduleKind.AT,
            scheduled_at=at,
            department=department,
            audience_size=audience,
        )
    return campaign


def test_sends_by_day_and_department_with_collisions_flagged(world, clock, sends):
    a = world.a
    with tenant_context(a.tenant):
        CampaignSettings.objects.update_or_create(tenant=a.tenant, defaults={"default_time_zone": "America/New_York"})
    # 02:00 UTC on the 5th is still the 4th in New York.
    scheduled(a, "Flu clinic news", datetime(2027, 3, 5, 2, tzinfo=UTC), "Primary care")
    scheduled(a, "Cardiology newsletter", datetime(2027, 3, 13, 15, tzinfo=UTC), "Cardiology")
    make_journey(a)  # department Cardiology; reminders 48 hours before each appointment
    for n in range(3):
        book(a, make_contact(a.tenant, time_zone="America/New_York"), event_id=f"e{n}", appointment_id=f"A{n}")
    run_due(a, clock.now)
    with tenant_context(a.tenant):
        days = {day.day: day for day in calendar_days(tenant=a.tenant, start=date(2027, 3, 1), days=14)}
    assert len(days) == 14
    assert [e.name for e in days[date(2027, 3, 4)].departments["Primary care"]] == ["Flu clinic news"]
    cardiology = days[date(2027, 3, 13)].departments["Cardiology"]
    assert [(e.kind, e.name, e.count) for e in cardiology] == [
        ("campaign", "Cardiology newsletter", 120),
        ("journey", "Appointment reminders", 3),
    ]
    assert days[date(2027, 3, 13)].collisions == ["Cardiology"]
    assert days[date(2027, 3, 4)].collisions == []


def test_the_page_shows_the_window_and_stays_in_its_organisation(world, login, clock):
    scheduled(world.a, "Organisation A's news", datetime(2027, 3, 3, 15, tzinfo=UTC), "Billing")
    page = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant).get(
        reverse("campaigns:calendar") + "?start=2027-03-01"
    )
    assert page.status_code == 200 and "Organisation A&#x27;s news" in page.content.decode()
    other = login(world.b.users[Role.ADMIN], world.b.tenant).get(reverse("campaigns:calendar") + "?start=2027-03-01")
    assert "Organisation A" not in other.content.decode() and "Nothing scheduled" in other.content.decode()
    assert (
        login(world.b.users[Role.ADMIN], world.b.tenant)
        .get(reverse("campaigns:calendar") + "?start=nonsense")
        .status_code
        == 200
    )
