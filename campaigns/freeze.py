"""Freezing a campaign's audience at launch: segment ∩ consent for the purpose ∩ not suppressed
(∩ a valid marketing authorisation where the purpose needs one) ∩ under the frequency cap, one
message row per recipient.

On PostgreSQL that is one ``INSERT INTO campaigns_message … SELECT …`` built from the segment's
compiled query and ``consent.selectors.sendable_contacts``, with ``ON CONFLICT (campaign_id,
contact_id) DO NOTHING`` and each recipient's ``send_after`` computed in SQL (``AT TIME ZONE``
the contact's zone for local-time schedules). Nothing crosses into Python, so a million
recipients take one statement. On SQLite (the embedded default) the same audience query is
read in chunks and the rows are bulk-inserted, ignoring conflicts.

Frequency caps (``campaigns.caps``, the same rule ``campaigns.sending.message_enqueue`` applies):
a contact with ``cap_messages`` or more messages that went or will go out (queued, sending, sent,
deferred, escrowed, unknown) with ``send_after`` in the last ``cap_days`` days (or later) is left
out, and so is one over the campaign purpose's own cap. ``cap_messages = 0`` turns the overall
cap off; with ``transactional_cap_exempt``, non-marketing purposes are not capped.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from campaigns.caps import capped_contact_ids
from campaigns.models import Campaign, CampaignSettings, Message, MessageStatus, ScheduleKind
from consent.selectors import sendable_contacts
from reporting.events import events_record_campaign_moves
from reporting.models import EventKind
from segments.models import Contact
from segments.rules import segment_queryset
from tenants.models import Organisation

PYTHON_BATCH = 2000


def audience_queryset(
    *, tenant: Organisation, campaign: Campaign, settings: CampaignSettings, now: datetime
) -> QuerySet[Contact]:
    """The contacts launch would freeze now (also counted for the launch confirmation)."""
    if campaign.segment is None:
        return Contact.objects.for_tenant(tenant).none()
    contacts = segment_queryset(tenant=tenant, rules=campaign.segment.rules, today=now.date())
    audience = sendable_contacts(tenant=tenant, purpose=campaign.purpose, contacts=contacts, at=now)
    for capped in capped_contact_ids(tenant=tenant, settings=settings, purpose=campaign.purpose, now=now):
        audience = audience.exclude(pk__in=capped)
    return audience


def _zone(name: str, fallback: zoneinfo.ZoneInfo) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return fallback


def local_send_after(campaign: Campaign, zone_name: str, fallback: str, now: datetime) -> datetime:
    """When a recipient in ``zone_name`` gets a local-time campaign: the campaign's wall-clock
    date and time there, or now if that moment has already passed."""
    assert campaign.local_send_date is not None and campaign.local_send_time is not None  # noqa: S101
    zone = _zone(zone_name, _zone(fallback, zoneinfo.ZoneInfo("UTC")))
    moment = datetime.combine(campaign.local_send_date, campaign.local_send_time, tzinfo=zone).astimezone(UTC)
    return max(moment, now)


def _fixed_send_after(campaign: Campaign, now: datetime) -> datetime:
    if campaign.schedule_kind == ScheduleKind.AT and campaign.scheduled_at is not None:
        return campaign.scheduled_at
    return now


def _insert_postgresql(
    tenant: Organisation, campaign: Campaign, audience: QuerySet[Contact], fallback: str, now: datetime
) -> int:
    select_sql, select_params = audience.values_list("pk", "time_zone").query.sql_with_params()
    params: list[Any] = [tenant.pk, campaign.pk]
    if campaign.schedule_kind == ScheduleKind.LOCAL_TIME:
        assert campaign.local_send_date is not None and campaign.local_send_time is not None  # noqa: S101
        wall_clock = datetime.combine(campaign.local_send_date, campaign.local_send_time)
        # An unknown zone name would make AT TIME ZONE fail the whole launch: fall back instead.
        send_after = "GREATEST((%s::timestamp AT TIME ZONE COALESCE(z.name, %s)), %s)"
        params += [wall_clock, fallback, now]
        zones = " LEFT JOIN (SELECT DISTINCT name FROM pg_timezone_names) AS z ON z.name = a.time_zone"
    else:
        send_after = "%s"
        params.append(_fixed_send_after(campaign, now))
        zones = ""
    params += [now, now]
    sql = (
        "INSERT INTO campaigns_message (tenant_id, campaign_id, contact_id, status, send_after, attempts, "  # noqa: S608
        "lease_owner, protection_action, reason_codes, level, smtp_enhanced, created_at, updated_at) "
        f"SELECT %s, %s, a.contact_id, 'queued', {send_after}, 0, '', '', '[]'::jsonb, '', '', %s, %s "
        f"FROM ({select_sql}) AS a (contact_id, time_zone){zones} "
        "ON CONFLICT (campaign_id, contact_id) WHERE source_key = '' DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *select_params])
        return int(cursor.rowcount)


def _chunks(audience: QuerySet[Contact]) -> Iterator[list[tuple[Any, str]]]:
    batch: list[tuple[Any, str]] = []
    for row in audience.values_list("pk", "time_zone").iterator(chunk_size=PYTHON_BATCH):
        batch.append(row)
        if len(batch) == PYTHON_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert_python(
    tenant: Organisation, campaign: Campaign, audience: QuerySet[Contact], fallback: str, now: datetime
) -> int:
    before = Message.objects.for_tenant(tenant).filter(campaign_id=campaign.pk).count()
    fixed = _fixed_send_after(campaign, now)
    local = campaign.schedule_kind == ScheduleKind.LOCAL_TIME
    for batch in _chunks(audience):
        Message.objects.bulk_create(
            [
                Message(
                    tenant=tenant,
                    campaign=campaign,
                    contact_id=contact_id,
                    status=MessageStatus.QUEUED,
                    send_after=local_send_after(campaign, zone, fallback, now) if local else fixed,
                    created_at=now,
                    updated_at=now,
                )
                for contact_id, zone in batch
            ],
            ignore_conflicts=True,
        )
    return Message.objects.for_tenant(tenant).filter(campaign_id=campaign.pk).count() - before


def freeze_audience(*, tenant: Organisation, campaign: Campaign, settings: CampaignSettings, now: datetime) -> int:
    """Write one queued message per recipient of ``campaign`` (none twice); returns how many
    were written. Runs inside the launch transaction."""
    audience = audience_queryset(tenant=tenant, campaign=campaign, settings=settings, now=now)
    if connection.vendor == "postgresql":
        written = _insert_postgresql(tenant, campaign, audience, settings.default_time_zone, now)
    else:
        written = _insert_python(tenant, campaign, audience, settings.default_time_zone, now)
    events_record_campaign_moves(
        tenant=tenant, campaign_id=campaign.pk, kind=EventKind.QUEUED, status=MessageStatus.QUEUED, at=now
    )
    return written
