"""The department calendar (issue 13): what is scheduled to go out, by day and department, so
teams do not collide.

Two sources, each read from what already decides the sending:

- **Broadcast campaigns** scheduled or sending with a start in the window: at their time
  (``scheduled_at``) or, for a local-time schedule, on their local date; counted by their frozen
  audience.
- **Journeys**: walks on their way whose next step is a send, by the day that step is due
  (``JourneyEnrollment.next_due_at``), grouped per journey.

Days are the organisation's (its default time zone in the campaign settings). Nothing here is
PHI: names, departments and counts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, Q
from django.db.models.functions import TruncDate

from campaigns.journey_models import EnrollmentStatus, Journey, JourneyEnrollment, JourneyVersion
from campaigns.models import Campaign, CampaignKind, CampaignStatus, ScheduleKind
from campaigns.selectors import campaign_settings
from campaigns.sending import recipient_zone
from tenants.models import Organisation

MAX_DAYS = 62
NO_DEPARTMENT = "No department"


@dataclass(frozen=True)
class Entry:
    kind: str  # "campaign" or "journey"
    name: str
    count: int | None
    object_id: Any


@dataclass
class Day:
    day: date
    departments: dict[str, list[Entry]] = field(default_factory=dict)

    @property
    def collisions(self) -> list[str]:
        """Departments with more than one send that day."""
        return [name for name, entries in self.departments.items() if len(entries) > 1]


def organisation_zone(tenant: Organisation) -> ZoneInfo:
    return recipient_zone("", campaign_settings(tenant=tenant).default_time_zone)


def calendar_days(*, tenant: Organisation, start: date, days: int) -> list[Day]:
    """``days`` days from ``start`` (at most ``MAX_DAYS``), each with its sends by department."""
    days = max(1, min(days, MAX_DAYS))
    zone = organisation_zone(tenant)
    first = datetime.combine(start, time(0, 0), tzinfo=zone)
    after = datetime.combine(start + timedelta(days=days), time(0, 0), tzinfo=zone)
    by_day: dict[date, dict[str, list[Entry]]] = defaultdict(lambda: defaultdict(list))
    for day, department, entry in _campaigns(tenant, zone, start, first, after, days):
        by_day[day][department].append(entry)
    for day, department, entry in _journeys(tenant, zone, first, after):
        by_day[day][department].append(entry)
    return [
        Day(start + timedelta(days=n), dict(sorted(by_day.get(start + timedelta(days=n), {}).items())))
        for n in range(days)
    ]


def _campaigns(
    tenant: Organisation, zone: ZoneInfo, start: date, first: datetime, after: datetime, days: int
) -> list[tuple[date, str, Entry]]:
    end = start + timedelta(days=days)
    campaigns = Campaign.objects.for_tenant(tenant).filter(
        Q(scheduled_at__gte=first, scheduled_at__lt=after)
        | Q(schedule_kind=ScheduleKind.LOCAL_TIME, local_send_date__gte=start, local_send_date__lt=end),
        kind=CampaignKind.BROADCAST,
        status__in=[CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.DRAFT],
    )
    rows = []
    for campaign in campaigns.order_by("scheduled_at", "name"):
        if campaign.schedule_kind == ScheduleKind.LOCAL_TIME and campaign.local_send_date:
            day = campaign.local_send_date
        elif campaign.scheduled_at is not None:
            day = campaign.scheduled_at.astimezone(zone).date()
        else:
            continue
        name = campaign.name if campaign.status != CampaignStatus.DRAFT else f"{campaign.name} (draft)"
        entry = Entry("campaign", name, campaign.audience_size, campaign.pk)
        rows.append((day, campaign.department or NO_DEPARTMENT, entry))
    return rows


def _journeys(tenant: Organisation, zone: ZoneInfo, first: datetime, after: datetime) -> list[tuple[date, str, Entry]]:
    grouped = (
        JourneyEnrollment.objects.for_tenant(tenant)
        .filter(status=EnrollmentStatus.ACTIVE, next_due_at__gte=first, next_due_at__lt=after)
        .annotate(day=TruncDate("next_due_at", tzinfo=zone))
        .values("journey_id", "version_id", "step", "day")
        .annotate(n=Count("pk"))
    )
    rows = list(grouped)
    versions = {
        v.pk: v.steps
        for v in JourneyVersion.objects.for_tenant(tenant).filter(pk__in={row["version_id"] for row in rows})
    }
    journeys = {j.pk: j for j in Journey.objects.for_tenant(tenant).filter(pk__in={row["journey_id"] for row in rows})}
    sends: dict[tuple[date, Any], int] = defaultdict(int)
    for row in rows:
        steps = versions.get(row["version_id"], [])
        if row["step"] < len(steps) and steps[row["step"]]["type"] == "send":
            sends[(row["day"], row["journey_id"])] += row["n"]
    result = []
    for (day, journey_id), count in sorted(sends.items(), key=lambda item: (item[0][0], journeys[item[0][1]].name)):
        journey = journeys[journey_id]
        result.append((day, journey.department or NO_DEPARTMENT, Entry("journey", journey.name, count, journey.pk)))
    return result
