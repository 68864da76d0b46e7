"""Journeys (issue 13): a trigger event starts a contact's walk through steps; a cancelling event
ends it. Models in ``campaigns.journey_models``.

**Steps** (a version's ``steps``, checked by ``clean_steps``):

- ``{"type": "wait", "days": 1, "hours": 2, "minutes": 30}``: wait that long from when the step
  is reached. Days are calendar days in the contact's time zone (the same wall-clock time, also
  across a daylight-saving change); hours and minutes are elapsed time.
- ``{"type": "wait", "until": "appointment_at", "days": -2, "at": "09:00"}``: wait until a time
  computed from a date or date-time field of the starting event: shifted by days (calendar
  days in the contact's zone, same wall time), optionally set to a local time of day, then by
  hours and minutes (elapsed). "48 hours before the appointment" is ``"hours": -48``; "two days
  before, at 9:00" is ``"days": -2, "at": "09:00"``. A time already past sends at once; if the
  event's time itself has passed, the walk ends (``event_time_passed``).
- ``{"type": "send", "template": "<template id>"}``: one message from the template's version that
  was approved when the journey version was approved (pinned then), with the starting event's
  payload as ``event.*``, through ``campaigns.sending.message_enqueue`` (consent, suppression,
  frequency cap and quiet hours apply; a refused send is recorded and the walk goes on).
- ``{"type": "condition", "rules": {...}}``: a segment rule tree the contact must match now, or
  the walk ends (``condition_not_met``).

**Running.** Each walk's next step is due work (``journey.step``): the scheduler claims it once
and runs ``journey_step_run`` in its transaction, which runs steps until a wait or the end. A
paused journey keeps its walks where they are (their due work is cancelled and re-created on
resume); a new version takes new contacts while walks already started finish on their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from audit.services import Actor, Target, record
from campaigns import sending
from campaigns.journey_models import (
    EnrollmentStatus,
    Journey,
    JourneyEnrollment,
    JourneySendStep,
    JourneyStatus,
    JourneyVersion,
    JourneyVersionStatus,
)
from campaigns.models import Campaign, CampaignKind, CampaignStatus
from campaigns.scheduling import (
    due_work_cancel,
    due_work_schedule,
    due_work_schedule_many,
    register_due_work_handler,
)
from campaigns.selectors import campaign_settings
from campaigns.sending import recipient_zone
from campaigns.trigger_models import TriggerEvent, TriggerFieldType
from campaigns.triggers import trigger_event_payload, trigger_types_for
from consent.purposes import purpose_keys as consent_purpose_keys
from segments.attributes import dictionary_for
from segments.models import Contact
from segments.rules import purpose_keys, segment_queryset, validate_rules
from templates.models import EmailTemplate
from templates.selectors import approved_version
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

STEP_KIND = "journey.step"
MAX_STEPS = 30
MAX_WAIT_DAYS = 730
STEP_TYPES = ("wait", "send", "condition")
WAIT_UNITS = ("days", "hours", "minutes")


class JourneyInvalid(Exception):
    """Invalid input; ``fields`` maps a field (``steps.2.until``) to its messages. Nothing changed."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("The journey has invalid fields.")
        self.fields = fields


class JourneyStateError(Exception):
    """A step the journey's or version's state does not allow."""


# --- Steps ---------------------------------------------------------------------------------------


def clean_steps(*, tenant: Organisation, trigger_type: str, steps: Any) -> list[dict[str, Any]]:
    """The steps in their stored form; ``JourneyInvalid`` naming each bad one."""
    errors: dict[str, list[str]] = {}
    if not isinstance(steps, list) or not steps:
        raise JourneyInvalid({"steps": ["A journey has at least one step."]})
    if len(steps) > MAX_STEPS:
        raise JourneyInvalid({"steps": [f"At most {MAX_STEPS} steps."]})
    spec = trigger_types_for(tenant=tenant).get(trigger_type)
    time_fields = {
        item.key
        for item in (spec.fields if spec else ())
        if item.type in (TriggerFieldType.DATE, TriggerFieldType.DATETIME)
    }
    cleaned: list[dict[str, Any]] = []
    for index, step in enumerate(steps):
        path = f"steps.{index}"
        if not isinstance(step, dict) or step.get("type") not in STEP_TYPES:
            errors[path] = ["Each step is a wait, a send or a condition."]
            continue
        kind = step["type"]
        if kind == "wait":
            cleaned.append(_clean_wait(step, path, time_fields, errors))
        elif kind == "send":
            cleaned.append(_clean_send(tenant, step, path, errors))
        else:
            cleaned.append(_clean_condition(tenant, step, path, errors))
    if not any(step.get("type") == "send" for step in cleaned):
        errors.setdefault("steps", []).append("A journey sends at least one message.")
    if errors:
        raise JourneyInvalid(errors)
    return cleaned


def _clean_wait(step: dict[str, Any], path: str, time_fields: set[str], errors: dict[str, list[str]]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {"type": "wait"}
    for unit in WAIT_UNITS:
        value = step.get(unit)
        if value in (None, ""):
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            errors[f"{path}.{unit}"] = ["A whole number."]
            continue
        cleaned[unit] = value
    until = step.get("until") or ""
    if until:
        if until not in time_fields:
            errors[f"{path}.until"] = ["A date or date-time field of the journey's trigger event."]
        cleaned["until"] = until
    elif any(cleaned.get(unit, 0) < 0 for unit in WAIT_UNITS):
        errors[path] = ["A wait from now cannot be negative; negative offsets are for waits until an event time."]
    elif not any(cleaned.get(unit) for unit in WAIT_UNITS):
        errors[path] = ["Say how long to wait (days, hours or minutes), or until which event time."]
    at = step.get("at") or ""
    if at:
        try:
            time.fromisoformat(at)
        except (TypeError, ValueError):
            errors[f"{path}.at"] = ["A local time of day as HH:MM."]
        cleaned["at"] = at
    span = abs(cleaned.get("days", 0)) + abs(cleaned.get("hours", 0)) / 24 + abs(cleaned.get("minutes", 0)) / 1440
    if span > MAX_WAIT_DAYS:
        errors[path] = [f"At most {MAX_WAIT_DAYS} days."]
    return cleaned


def _clean_send(tenant: Organisation, step: dict[str, Any], path: str, errors: dict[str, list[str]]) -> dict[str, Any]:
    template_id = str(step.get("template") or "")
    try:
        exists = EmailTemplate.objects.for_tenant(tenant).filter(pk=uuid.UUID(template_id)).exists()
    except ValueError:
        exists = False
    if not exists:
        errors[f"{path}.template"] = ["Choose one of the organisation's templates."]
    return {"type": "send", "template": template_id}


def _clean_condition(
    tenant: Organisation, step: dict[str, Any], path: str, errors: dict[str, list[str]]
) -> dict[str, Any]:
    rules = step.get("rules")
    problems = validate_rules(rules, dictionary_for(tenant=tenant), purpose_keys(tenant=tenant))
    if problems:
        errors[f"{path}.rules"] = [f"{problem.path}: {problem.message}" for problem in problems]
    cleaned: dict[str, Any] = {"type": "condition", "rules": rules}
    if step.get("segment"):
        cleaned["segment"] = str(step["segment"])  # where the rules came from, for the journey's page
    return cleaned


# --- Journeys and versions -----------------------------------------------------------------------


@dataclass(frozen=True)
class JourneyInput:
    name: str
    trigger_type: str
    purpose: str
    from_name: str
    from_address: str
    exit_types: tuple[str, ...] = ()
    department: str = ""


def journey_create(*, tenant: Organisation, user: Any, actor: Actor, data: JourneyInput, steps: Any) -> Journey:
    """A journey with its first draft version (audited ``journey.created``)."""
    require_tenant_is_current(tenant)
    types = trigger_types_for(tenant=tenant)
    errors: dict[str, list[str]] = {}
    if not data.name.strip():
        errors["name"] = ["Give the journey a name."]
    if data.trigger_type not in types:
        errors["trigger_type"] = ["One of the organisation's trigger event types."]
    if data.purpose not in consent_purpose_keys(tenant=tenant):
        errors["purpose"] = ["One of the organisation's consent purposes."]
    if not data.from_name.strip() or "@" not in data.from_address:
        errors["from_address"] = ["A sender name and address on one of the organisation's sending domains."]
    unknown_exits = [key for key in data.exit_types if key not in types]
    if unknown_exits:
        errors["exit_types"] = ["Trigger event types only."]
    try:
        cleaned = clean_steps(tenant=tenant, trigger_type=data.trigger_type, steps=steps)
    except JourneyInvalid as invalid:
        errors.update(invalid.fields)
        cleaned = []
    if errors:
        raise JourneyInvalid(errors)
    with transaction.atomic():
        journey = Journey.objects.create(
            tenant=tenant,
            name=data.name.strip(),
            trigger_type=data.trigger_type,
            exit_types=sorted(set(data.exit_types)),
            purpose=data.purpose,
            department=data.department.strip(),
            from_name=data.from_name,
            from_address=data.from_address,
            created_by=user,
        )
        JourneyVersion.objects.create(tenant=tenant, journey=journey, number=1, steps=cleaned, created_by=user)
        record(tenant=tenant, action="journey.created", actor=actor, target=Target.of(journey))
    return journey


def journey_version_draft(
    *, tenant: Organisation, user: Any, actor: Actor, journey: Journey, steps: Any
) -> JourneyVersion:
    """Save steps as the journey's draft: the open draft is changed, or a new version is started
    from them (an approved version never changes)."""
    require_tenant_is_current(tenant)
    cleaned = clean_steps(tenant=tenant, trigger_type=journey.trigger_type, steps=steps)
    with transaction.atomic():
        latest = _latest_version(tenant, journey, lock=True)
        if latest.status in (JourneyVersionStatus.DRAFT, JourneyVersionStatus.CHANGES_REQUESTED):
            latest.steps = cleaned
            latest.status = JourneyVersionStatus.DRAFT
            latest.save(update_fields=["steps", "status"])
            version = latest
        else:
            version = JourneyVersion.objects.create(
                tenant=tenant, journey=journey, number=latest.number + 1, steps=cleaned, created_by=user
            )
        record(
            tenant=tenant,
            action="journey.version_saved",
            actor=actor,
            target=Target.of(journey),
            details={"version": version.number},
        )
    return version


def _latest_version(tenant: Organisation, journey: Journey, *, lock: bool = False) -> JourneyVersion:
    versions = JourneyVersion.objects.for_tenant(tenant).filter(journey=journey).order_by("-number")
    if lock:
        versions = versions.select_for_update()
    latest = versions.first()
    if latest is None:
        raise JourneyStateError("The journey has no version.")
    return latest


def journey_version_submit(*, tenant: Organisation, user: Any, actor: Actor, version: JourneyVersion) -> JourneyVersion:
    require_tenant_is_current(tenant)
    with transaction.atomic():
        version = JourneyVersion.objects.for_tenant(tenant).select_for_update().get(pk=version.pk)
        if version.status != JourneyVersionStatus.DRAFT:
            raise JourneyStateError("Only a draft can be submitted for review.")
        version.status = JourneyVersionStatus.IN_REVIEW
        version.submitted_by, version.submitted_at = user, timezone.now()
        version.save(update_fields=["status", "submitted_by", "submitted_at"])
        record(
            tenant=tenant,
            action="journey.version_submitted",
            actor=actor,
            target=Target.of(version.journey),
            details={"version": version.number},
        )
    return version


def journey_version_review(
    *, tenant: Organisation, user: Any, actor: Actor, version: JourneyVersion, approve: bool, comment: str = ""
) -> JourneyVersion:
    """A compliance officer approves a version in review (pinning each send step's approved
    template version) or asks for changes. Never the version's own submitter."""
    require_tenant_is_current(tenant)
    with transaction.atomic():
        version = JourneyVersion.objects.for_tenant(tenant).select_for_update().get(pk=version.pk)
        if version.status != JourneyVersionStatus.IN_REVIEW:
            raise JourneyStateError("Only a version in review can be reviewed.")
        if version.submitted_by_id == user.pk:
            raise JourneyStateError("A version is reviewed by someone other than who submitted it.")
        journey = version.journey
        if approve:
            version.steps = _pinned(tenant, journey, version.steps)
        version.status = JourneyVersionStatus.APPROVED if approve else JourneyVersionStatus.CHANGES_REQUESTED
        version.reviewed_by, version.reviewed_at, version.review_comment = user, timezone.now(), comment.strip()
        version.save(update_fields=["steps", "status", "reviewed_by", "reviewed_at", "review_comment"])
        record(
            tenant=tenant,
            action="journey.version_approved" if approve else "journey.version_changes_requested",
            actor=actor,
            target=Target.of(journey),
            details={"version": version.number},
        )
    return version


def _pinned(tenant: Organisation, journey: Journey, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps with each send step's currently approved template version; refuses templates
    without one or of another purpose than the journey's."""
    errors: dict[str, list[str]] = {}
    pinned = []
    for index, step in enumerate(steps):
        step = dict(step)
        if step["type"] == "send":
            template = EmailTemplate.objects.for_tenant(tenant).filter(pk=step["template"]).first()
            version = approved_version(tenant=tenant, template=template) if template else None
            if template is None or version is None:
                errors[f"steps.{index}.template"] = ["The template has no approved version."]
            elif template.purpose != journey.purpose:
                errors[f"steps.{index}.template"] = ["The template's purpose is not the journey's."]
            else:
                step["template_version"] = str(version.pk)
        pinned.append(step)
    if errors:
        raise JourneyInvalid(errors)
    return pinned


def journey_activate(
    *, tenant: Organisation, user: Any, actor: Actor, journey: Journey, version: JourneyVersion
) -> Journey:
    """Run ``version`` (approved) for new trigger events from now on. Walks already started stay
    on the version they started with."""
    require_tenant_is_current(tenant)
    with transaction.atomic():
        journey = Journey.objects.for_tenant(tenant).select_for_update().get(pk=journey.pk)
        version = JourneyVersion.objects.for_tenant(tenant).get(pk=version.pk, journey=journey)
        if version.status != JourneyVersionStatus.APPROVED:
            raise JourneyStateError("Only an approved version can be activated.")
        _create_send_steps(tenant, journey, version, user)
        journey.active_version = version
        if journey.status == JourneyStatus.DRAFT:
            journey.status = JourneyStatus.ACTIVE
        journey.save(update_fields=["active_version", "status", "updated_at"])
        record(
            tenant=tenant,
            action="journey.activated",
            actor=actor,
            target=Target.of(journey),
            details={"version": version.number},
        )
    return journey


def _create_send_steps(tenant: Organisation, journey: Journey, version: JourneyVersion, user: Any) -> None:
    """A campaign of kind journey per send step (once per version): its messages go through the
    send pipeline like any campaign's, and its figures come from the same rollups."""
    existing = set(JourneySendStep.objects.for_tenant(tenant).filter(version=version).values_list("step", flat=True))
    now = timezone.now()
    for index, step in enumerate(version.steps):
        if step["type"] != "send" or index in existing:
            continue
        template = EmailTemplate.objects.for_tenant(tenant).get(pk=step["template"])
        campaign = Campaign.objects.create(
            tenant=tenant,
            kind=CampaignKind.JOURNEY,
            name=f"{journey.name} · v{version.number} · step {index + 1}"[:200],
            purpose=journey.purpose,
            template=template,
            template_version_id=step["template_version"],
            from_name=journey.from_name,
            from_address=journey.from_address,
            department=journey.department,
            status=CampaignStatus.SENDING,
            approved_by=version.reviewed_by,
            approved_at=version.reviewed_at,
            approved_version_id=step["template_version"],
            created_by=user,
            launched_at=now,
            launched_by=user,
        )
        JourneySendStep.objects.create(tenant=tenant, version=version, step=index, campaign=campaign)


def journey_pause(*, tenant: Organisation, actor: Actor, journey: Journey) -> Journey:
    """Stop running steps; every walk keeps its place (and new events still enroll) until resumed."""
    require_tenant_is_current(tenant)
    with transaction.atomic():
        journey = Journey.objects.for_tenant(tenant).select_for_update().get(pk=journey.pk)
        if journey.status != JourneyStatus.ACTIVE:
            raise JourneyStateError("Only an active journey can be paused.")
        journey.status = JourneyStatus.PAUSED
        journey.save(update_fields=["status", "updated_at"])
        for pk in _active_walks(tenant, journey):
            due_work_cancel(tenant=tenant, kind=STEP_KIND, subject_id=pk)
        record(tenant=tenant, action="journey.paused", actor=actor, target=Target.of(journey))
    return journey


def journey_resume(*, tenant: Organisation, actor: Actor, journey: Journey) -> Journey:
    """Run again: each walk's next step is due when it was (at once if that has passed)."""
    require_tenant_is_current(tenant)
    with transaction.atomic():
        journey = Journey.objects.for_tenant(tenant).select_for_update().get(pk=journey.pk)
        if journey.status != JourneyStatus.PAUSED:
            raise JourneyStateError("Only a paused journey can be resumed.")
        journey.status = JourneyStatus.ACTIVE
        journey.save(update_fields=["status", "updated_at"])
        now = timezone.now()
        walks = JourneyEnrollment.objects.for_tenant(tenant).filter(journey=journey, status=EnrollmentStatus.ACTIVE)
        due_work_schedule_many(
            tenant=tenant,
            kind=STEP_KIND,
            items=[(pk, max(due or now, now)) for pk, due in walks.values_list("pk", "next_due_at")],
        )
        record(tenant=tenant, action="journey.resumed", actor=actor, target=Target.of(journey))
    return journey


def _active_walks(tenant: Organisation, journey: Journey) -> list[uuid.UUID]:
    walks = JourneyEnrollment.objects.for_tenant(tenant).filter(journey=journey, status=EnrollmentStatus.ACTIVE)
    return list(walks.values_list("pk", flat=True))


# --- Events start and end walks ------------------------------------------------------------------


def journeys_receive_events(*, tenant: Organisation, events: Sequence[TriggerEvent]) -> int:
    """New trigger events (in their transaction): each ends the walks it cancels, then starts a
    walk on every journey it triggers. Returns how many walks started."""
    if not events:
        return 0
    _end_cancelled_walks(tenant, events)
    types = {event.type_key for event in events}
    journeys: dict[str, list[Journey]] = {}
    starting = (
        Journey.objects.for_tenant(tenant)
        .select_related("active_version")
        .filter(
            trigger_type__in=types,
            status__in=[JourneyStatus.ACTIVE, JourneyStatus.PAUSED],
            active_version__isnull=False,
        )
    )
    for journey in starting:
        journeys.setdefault(journey.trigger_type, []).append(journey)
    now = timezone.now()
    walks = [
        JourneyEnrollment(
            tenant=tenant,
            journey=journey,
            version=journey.active_version,
            contact_id=event.contact_id,
            trigger_event=event,
            correlation_index=event.correlation_index,
            next_due_at=now,
        )
        for event in events
        for journey in journeys.get(event.type_key, [])
    ]
    if not walks:
        return 0
    JourneyEnrollment.objects.bulk_create(walks)
    paused = {journey.pk for journey in starting if journey.status == JourneyStatus.PAUSED}
    due_work_schedule_many(
        tenant=tenant, kind=STEP_KIND, items=[(walk.pk, now) for walk in walks if walk.journey_id not in paused]
    )
    return len(walks)


def _end_cancelled_walks(tenant: Organisation, events: Sequence[TriggerEvent]) -> None:
    correlated = [event for event in events if event.correlation_index]
    if not correlated:
        return
    walks = (
        JourneyEnrollment.objects.for_tenant(tenant)
        .select_for_update(of=("self",))
        .select_related("journey")
        .filter(
            status=EnrollmentStatus.ACTIVE,
            correlation_index__in={event.correlation_index for event in correlated},
            contact_id__in={event.contact_id for event in correlated},
        )
    )
    for walk in walks:
        if any(
            event.correlation_index == walk.correlation_index
            and event.contact_id == walk.contact_id
            and event.type_key in walk.journey.exit_types
            for event in correlated
        ):
            _end(tenant, walk, EnrollmentStatus.EXITED, "cancelled_by_event")


def _end(tenant: Organisation, walk: JourneyEnrollment, status: str, reason: str) -> None:
    walk.status, walk.ended_reason, walk.next_due_at = status, reason, None
    walk.save(update_fields=["status", "ended_reason", "next_due_at", "updated_at"])
    due_work_cancel(tenant=tenant, kind=STEP_KIND, subject_id=walk.pk)


# --- Running steps -------------------------------------------------------------------------------


def journey_step_run(*, tenant: Organisation, work: Any) -> None:
    """The due-work handler: run the walk's steps from where it is until a wait or the end, in
    the scheduler's transaction (so a step's writes and the work's done mark commit together)."""
    walk = (
        JourneyEnrollment.objects.for_tenant(tenant)
        # The walk's row only: locking the joined journey would queue every step of the journey.
        .select_for_update(of=("self",))
        .select_related("journey", "version", "trigger_event")
        .filter(pk=work.subject_id)
        .first()
    )
    if walk is None or walk.status != EnrollmentStatus.ACTIVE or walk.journey.status == JourneyStatus.PAUSED:
        return
    journey_advance(tenant=tenant, walk=walk, now=timezone.now())


def journey_advance(*, tenant: Organisation, walk: JourneyEnrollment, now: datetime) -> None:
    steps = walk.version.steps
    contact = Contact.objects.for_tenant(tenant).filter(pk=walk.contact_id).first()
    if contact is None:
        _end(tenant, walk, EnrollmentStatus.EXITED, "contact_removed")
        return
    # Read once per run: the event's payload (decrypted) and the contact's zone, the same as
    # quiet hours use (the contact's own, else the organisation's default).
    payload = trigger_event_payload(walk.trigger_event)
    zone = recipient_zone(contact.time_zone, campaign_settings(tenant=tenant).default_time_zone)
    while walk.step < len(steps):
        step = steps[walk.step]
        if step["type"] == "wait":
            due = wait_until(step, payload=payload, zone=zone, now=now)
            if due is None:
                _end(tenant, walk, EnrollmentStatus.EXITED, "event_time_passed")
                return
            walk.step += 1
            if due > now:
                walk.next_due_at = due
                walk.save(update_fields=["step", "next_due_at", "updated_at"])
                due_work_schedule(tenant=tenant, kind=STEP_KIND, subject_id=walk.pk, due_at=due)
                return
        elif step["type"] == "condition":
            if not segment_queryset(tenant=tenant, rules=step["rules"]).filter(pk=contact.pk).exists():
                _end(tenant, walk, EnrollmentStatus.EXITED, "condition_not_met")
                return
            walk.step += 1
        else:
            _send(tenant, walk, contact, payload)
            walk.step += 1
    _end(tenant, walk, EnrollmentStatus.COMPLETED, "completed")


def _send(tenant: Organisation, walk: JourneyEnrollment, contact: Contact, payload: dict[str, Any]) -> None:
    send_step = (
        JourneySendStep.objects.for_tenant(tenant).select_related("campaign").get(version=walk.version, step=walk.step)
    )
    sending.message_enqueue(
        tenant=tenant,
        campaign=send_step.campaign,
        contact=contact,
        source_key=f"journey:{walk.pk}:{walk.step}",
        event_data={f"event.{key}": value for key, value in payload.items()},
    )


# --- Time ----------------------------------------------------------------------------------------


def wait_until(step: dict[str, Any], *, payload: dict[str, Any], zone: ZoneInfo, now: datetime) -> datetime | None:
    """When a wait step ends (``payload``: the starting event's); None when it waits on an event
    time that has already passed."""
    if step.get("until"):
        base = _event_time(payload, step["until"], zone)
        if base is None or base <= now:
            return None
    else:
        base = now
    return shift(
        base,
        zone=zone,
        days=step.get("days", 0),
        at=step.get("at"),
        hours=step.get("hours", 0),
        minutes=step.get("minutes", 0),
    )


def shift(
    base: datetime, *, zone: ZoneInfo, days: int = 0, at: str | None = None, hours: int = 0, minutes: int = 0
) -> datetime:
    """``base`` moved by calendar days in ``zone`` (same wall-clock time), set to the local time
    of day ``at`` if given, then by elapsed hours and minutes. Local times a DST change skips or
    repeats resolve as ``zoneinfo`` does (fold 0)."""
    local = base.astimezone(zone)
    wall = local.replace(tzinfo=None) + timedelta(days=days)
    if at:
        wall = datetime.combine(wall.date(), time.fromisoformat(at))
    return wall.replace(tzinfo=zone).astimezone(UTC) + timedelta(hours=hours, minutes=minutes)


def _event_time(payload: dict[str, Any], field: str, zone: ZoneInfo) -> datetime | None:
    value = payload.get(field)
    if not value:
        return None
    if len(str(value)) == 10:
        return datetime.combine(date.fromisoformat(str(value)), time(0, 0), tzinfo=zone)
    return datetime.fromisoformat(str(value))


register_due_work_handler(STEP_KIND, journey_step_run)


def walks_by_step(*, tenant: Organisation, journey: Journey) -> dict[tuple[Any, int], int]:
    """How many walks are on their way before each step, by (version id, step index)."""
    rows = (
        JourneyEnrollment.objects.for_tenant(tenant)
        .filter(journey=journey, status=EnrollmentStatus.ACTIVE)
        .values("version_id", "step")
        .annotate(n=Count("pk"))
    )
    return {(row["version_id"], row["step"]): row["n"] for row in rows}


def walks_ended(*, tenant: Organisation, journey: Journey) -> dict[str, int]:
    rows = (
        JourneyEnrollment.objects.for_tenant(tenant)
        .filter(journey=journey)
        .exclude(status=EnrollmentStatus.ACTIVE)
        .values("ended_reason")
        .annotate(n=Count("pk"))
    )
    return {row["ended_reason"]: row["n"] for row in rows}
