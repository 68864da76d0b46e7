"""One message at a time: what a journey's send step and the transactional API use
(``message_enqueue``), beside launch's whole-audience freeze (``campaigns.freeze``).

A message enqueued here belongs to a *container* campaign (``Campaign.kind`` journey or
transactional) that stays ``sending`` while it is in use; the send pipeline claims its messages
as it claims a broadcast's. ``message_enqueue``:

- is **idempotent** by ``(campaign, source_key)``: the caller's key (a journey step and its
  event, an API request id). A second call returns the first message, ``replayed=True``;
- checks **consent** for the campaign's purpose and **suppression** now (the pipeline checks
  again at send time), then the **frequency caps** (``campaigns.caps``: the rule launch
  applies). A refused or capped send is *recorded*: a ``skipped`` message whose
  ``reason_codes`` name why (``no_consent``, ``suppressed``, ``frequency_cap``,
  ``frequency_cap_purpose``…), never silently dropped;
- gives a queued message ``send_after = max(now, not_before)``, moved to the end of the
  organisation's **quiet hours** in the recipient's time zone (``quiet_hours_end``), and kicks
  the pipeline once the transaction commits;
- keeps the message's ``event.*`` merge values (``event_data``, PHI) encrypted on the row.

It must run inside ``tenant_context`` and a transaction (the caller's: a journey step's state
and its message commit together).
"""

from __future__ import annotations

import json
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.caps import contact_cap_reason, transactional_purposes
from campaigns.dispatch import campaign_dispatch
from campaigns.models import Campaign, CampaignKind, CampaignSettings, CampaignStatus, Message, MessageStatus
from campaigns.selectors import campaign_settings
from segments.models import Contact
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

MAX_SOURCE_KEY = 200

QUEUED = "queued"
CAPPED = "capped"
NO_CONSENT = "no_consent"
SUPPRESSED = "suppressed"
OUTCOMES = (QUEUED, CAPPED, NO_CONSENT, SUPPRESSED)

# The reason codes an enqueue records on a skipped message, and the outcome each one means.
# (consent.selectors.Refusal codes, and campaigns.caps'.)
OUTCOME_OF_CODE = {
    "frequency_cap": CAPPED,
    "frequency_cap_purpose": CAPPED,
    "suppressed": SUPPRESSED,
    "no_consent": NO_CONSENT,
    "no_authorisation": NO_CONSENT,
    "authorisation_expired": NO_CONSENT,
    "authorisation_revoked": NO_CONSENT,
    "unknown_purpose": NO_CONSENT,
}
# A queued message moved out of quiet hours carries this code (a fact, not a problem).
QUIET_HOURS = "quiet_hours"


class EnqueueRefused(ValueError):
    """The call itself is wrong (not a container, another tenant's object, no key): a
    programming error of the caller, never about the recipient. Safe to show."""


@dataclass(frozen=True)
class Enqueued:
    message: Message | None
    outcome: str  # one of OUTCOMES
    replayed: bool


def enqueue_outcome(message: Message) -> str:
    """What the enqueue of ``message`` decided (a replay answers with it): the first of its
    reason codes that names a refusal, else queued (a message the pipeline skipped later, at
    send time, was still queued by its enqueue)."""
    for code in message.reason_codes or []:
        if code in OUTCOME_OF_CODE and message.status == MessageStatus.SKIPPED:
            return OUTCOME_OF_CODE[code]
    return QUEUED


# --- Quiet hours ----------------------------------------------------------------------------------


def recipient_zone(contact_zone: str, default_zone: str) -> zoneinfo.ZoneInfo:
    """The contact's own time zone, else the organisation's default, else UTC."""
    for name in (contact_zone, default_zone):
        if name:
            try:
                return zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
    return zoneinfo.ZoneInfo("UTC")


def _in_quiet(local: time, start: time, end: time) -> bool:
    if start < end:
        return start <= local < end
    return local >= start or local < end  # across midnight (21:00-08:00)


def after_quiet_hours(moment: datetime, *, start: time | None, end: time | None, zone: zoneinfo.ZoneInfo) -> datetime:
    """``moment`` if it is outside the quiet hours ``start``-``end`` (local wall-clock times in
    ``zone``; ``start > end`` spans midnight), else the end of those quiet hours: the same or
    the next local day at ``end``, converted back with that day's UTC offset (DST-correct).
    An end that does not exist that day (inside a spring-forward gap) resolves to the moment
    the clocks jump to; an ambiguous one (fall-back) to its first occurrence."""
    if start is None or end is None or start == end:
        return moment
    local = moment.astimezone(zone)
    wall = local.time().replace(tzinfo=None)
    if not _in_quiet(wall, start, end):
        return moment
    day: date = local.date()
    if start > end and wall >= start:  # the evening part: they end tomorrow morning
        day += timedelta(days=1)
    ends = datetime.combine(day, end, tzinfo=zone).astimezone(UTC)
    return max(ends, moment)


def quiet_hours_apply(settings: CampaignSettings, purpose: str, transactional: frozenset[str]) -> bool:
    if settings.quiet_hours_start is None or settings.quiet_hours_end is None:
        return False
    return purpose not in transactional or bool(settings.quiet_hours_transactional)


# --- Enqueue --------------------------------------------------------------------------------------


def _check_call(tenant: Organisation, campaign: Campaign, contact: Contact, source_key: str) -> None:
    require_tenant_is_current(tenant)
    if not transaction.get_connection().in_atomic_block:
        raise EnqueueRefused("message_enqueue must run inside a transaction.")
    if campaign.tenant_id != tenant.pk or contact.tenant_id != tenant.pk:
        raise EnqueueRefused("The campaign and the contact must be the organisation's.")
    if campaign.kind == CampaignKind.BROADCAST:
        raise EnqueueRefused("Broadcast campaigns are launched, not sent to one message at a time.")
    if campaign.template_version_id is None:
        raise EnqueueRefused("The container campaign has no pinned template version.")
    if not source_key or len(source_key) > MAX_SOURCE_KEY:
        raise EnqueueRefused(f"source_key is required (at most {MAX_SOURCE_KEY} characters).")


def _existing(tenant: Organisation, campaign: Campaign, source_key: str) -> Message | None:
    return Message.objects.for_tenant(tenant).filter(campaign_id=campaign.pk, source_key=source_key).first()


def message_enqueue(
    *,
    tenant: Organisation,
    campaign: Campaign,
    contact: Contact,
    source_key: str,
    event_data: dict[str, Any] | None = None,
    not_before: datetime | None = None,
    cap_exempt: bool = False,
) -> Enqueued:
    """One message of a journey or transactional container to ``contact`` (see the module's
    docstring). ``event_data``: the ``event.*`` merge values, keyed by field name without the
    ``event.`` prefix (a trigger event's payload); JSON-serialisable. ``cap_exempt``: the caller
    exempts this message from the frequency caps (it is still recorded and counted)."""
    from consent.selectors import send_decision

    _check_call(tenant, campaign, contact, source_key)
    if campaign.status not in (CampaignStatus.SENDING, CampaignStatus.PAUSED):
        raise EnqueueRefused(f"A {campaign.get_status_display().lower()} campaign takes no new messages.")
    found = _existing(tenant, campaign, source_key)
    if found is not None:
        return Enqueued(found, enqueue_outcome(found), True)
    now = timezone.now()
    settings = campaign_settings(tenant=tenant)
    # One enqueue at a time per contact: two concurrent sends cannot both pass the cap.
    Contact.objects.for_tenant(tenant).select_for_update().filter(pk=contact.pk).values_list("pk").first()
    decision = send_decision(tenant=tenant, contact=contact, purpose=campaign.purpose, at=now)
    codes: list[str] = []
    if not decision.allowed:
        codes = [decision.reason]
    elif not cap_exempt:
        reason = contact_cap_reason(
            tenant=tenant, settings=settings, purpose=campaign.purpose, contact_id=contact.pk, now=now
        )
        codes = [reason] if reason else []
    send_after = max(now, not_before) if not_before is not None else now
    if not codes:
        transactional = transactional_purposes(tenant=tenant)
        if quiet_hours_apply(settings, campaign.purpose, transactional):
            zone = recipient_zone(contact.time_zone, settings.default_time_zone)
            moved = after_quiet_hours(
                send_after, start=settings.quiet_hours_start, end=settings.quiet_hours_end, zone=zone
            )
            if moved != send_after:
                send_after, codes = moved, [QUIET_HOURS]
    status = MessageStatus.SKIPPED if codes and codes != [QUIET_HOURS] else MessageStatus.QUEUED
    message = Message(
        tenant=tenant,
        campaign=campaign,
        contact=contact,
        status=status,
        send_after=send_after,
        source_key=source_key,
        reason_codes=codes,
        created_at=now,
        updated_at=now,
    )
    try:
        with transaction.atomic():  # a savepoint: a concurrent twin's row wins, this one replays it
            message.save(force_insert=True)
    except IntegrityError:
        twin = _existing(tenant, campaign, source_key)
        if twin is None:
            raise
        return Enqueued(twin, enqueue_outcome(twin), True)
    if event_data:
        # Encrypted with the row's id as context: written once the row has one.
        message.event_data = json.dumps(event_data, sort_keys=True, default=str)
        message.save(update_fields=["event_data"])
    _record_event(tenant, message, now)
    outcome = enqueue_outcome(message)
    if status == MessageStatus.QUEUED and campaign.status == CampaignStatus.SENDING:
        # A message due later is also found by campaigns.dispatch_due's minute sweep.
        transaction.on_commit(partial(campaign_dispatch, tenant_id=tenant.pk, campaign_id=str(campaign.pk)))
    return Enqueued(message, outcome, False)


def _record_event(tenant: Organisation, message: Message, now: datetime) -> None:
    from reporting.events import NewEvent, events_record
    from reporting.models import EventKind

    kind = EventKind.QUEUED if message.status == MessageStatus.QUEUED else EventKind.SKIPPED
    events_record(
        tenant=tenant,
        events=[
            NewEvent(
                kind=kind,
                occurred_at=now,
                campaign_id=message.campaign_id,
                message_id=message.pk,
                contact_id=message.contact_id,
            )
        ],
    )


def message_event_values(message_event_data: str | None) -> dict[str, Any]:
    """The ``event.*`` merge values a message carries (its decrypted ``event_data``), prefixed
    as the templates' catalogue names them; {} when it carries none."""
    if not message_event_data:
        return {}
    try:
        raw = json.loads(message_event_data)
    except ValueError:
        return {}
    if not isinstance(raw, dict):
        return {}
    return {(key if str(key).startswith("event.") else f"event.{key}"): value for key, value in raw.items()}
