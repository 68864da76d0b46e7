"""Writes to campaigns: create and edit drafts, compliance approval, launch (the audience freeze),
pause, resume, cancel, the scheduled start and completion, test sends and the organisation's
campaign settings. Each runs in one transaction with its audit event (ids, numbers and codes
only); the send pipeline is kicked with ``transaction.on_commit``.

Services take ``user`` (the accountable person: ``created_by``, ``launched_by``) and optionally
``actor`` (who the audit log names: an API token acting for its application's admin); by
default the actor is the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Min
from django.http import Http404
from django.utils import timezone

from audit.services import Actor, Target, actor_for_user, record
from authn.models import User
from baa.gate import BaaRequired, require_active_baa
from campaigns.checks import Check, Code, launch_plan
from campaigns.dispatch import campaign_dispatch
from campaigns.freeze import freeze_audience
from campaigns.messages import PENDING, UNFINISHED
from campaigns.models import (
    CAMPAIGN_TRANSITIONS,
    Campaign,
    CampaignKind,
    CampaignSettings,
    CampaignStatus,
    Message,
    MessageStatus,
    ScheduleKind,
    validate_header_safe,
)
from campaigns.selectors import campaign_progress, campaign_settings
from reporting.events import events_record_campaign_moves
from reporting.models import EventKind
from segments.segment_services import segment_get
from templates.models import TemplateVersion
from templates.selectors import approved_version, template_get, template_versions
from templates.test_sends import Sender, SendTestRefused, version_send_test
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

MAX_NAME = 200
MAX_FROM_NAME = 100
MAX_DEPARTMENT = 100
EDITABLE_FIELDS = (
    "name",
    "template_id",
    "segment_id",
    "from_name",
    "from_address",
    "reply_to",
    "schedule_kind",
    "scheduled_at",
    "local_send_date",
    "local_send_time",
)


class CampaignInvalid(ValueError):
    """The input cannot be saved; ``errors`` maps each field to its message (no PHI)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))
        self.errors = errors


class CampaignStateError(ValueError):
    """The step is not possible in the campaign's state (or for this person); safe to show."""


class LaunchRefused(ValueError):
    """A pre-launch check failed; ``check`` says which and why. Nothing was written."""

    def __init__(self, check: Check) -> None:
        super().__init__(check.reason)
        self.check = check
        self.code = check.code


@dataclass(frozen=True)
class CampaignInput:
    name: str
    template_id: Any
    segment_id: Any
    from_name: str
    from_address: str
    reply_to: str = ""
    schedule_kind: str = ScheduleKind.NOW
    scheduled_at: datetime | None = None
    local_send_date: date | None = None
    local_send_time: time | None = None
    # Open and click tracking (reporting.tracking); None: leave as it is (a new campaign: on).
    tracking_enabled: bool | None = None
    # The sending team, for the calendar.
    department: str = ""


def _actor(user: User, actor: Actor | None) -> Actor:
    return actor or actor_for_user(user)


def _clean_address(errors: dict[str, str], field: str, value: str, *, required: bool) -> str:
    value = value.strip()
    if not value:
        if required:
            errors[field] = "Enter an email address."
        return ""
    try:
        validate_header_safe(value)
        validate_email(value)
    except ValidationError:
        errors[field] = "Enter a valid email address."
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}" if local else value


def _cleaned(tenant: Organisation, data: CampaignInput, now: datetime) -> dict[str, Any]:
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    name = data.name.strip()
    if not name or len(name) > MAX_NAME:
        errors["name"] = f"Give the campaign a name of at most {MAX_NAME} characters."
    values["name"] = name
    from_name = data.from_name.strip()
    try:
        validate_header_safe(data.from_name)
    except ValidationError:
        errors["from_name"] = "Line breaks are not allowed in the sender's name."
    if not from_name or len(from_name) > MAX_FROM_NAME:
        errors.setdefault("from_name", f"Give the sender's name, at most {MAX_FROM_NAME} characters.")
    values["from_name"] = from_name
    values["from_address"] = _clean_address(errors, "from_address", data.from_address, required=True)
    values["reply_to"] = _clean_address(errors, "reply_to", data.reply_to, required=False)
    try:
        template = template_get(tenant=tenant, template_id=data.template_id)
        if template.is_archived:
            raise Http404
        values["template"] = template
        values["purpose"] = template.purpose
    except (Http404, ValidationError, ValueError):
        errors["template"] = "Choose one of the organisation's templates."
    try:
        values["segment"] = segment_get(tenant=tenant, segment_id=data.segment_id) if data.segment_id else None
    except (Http404, ValidationError, ValueError):
        errors["segment"] = "Choose one of the organisation's segments."
    kind = data.schedule_kind
    if kind not in ScheduleKind.values:
        errors["schedule_kind"] = "Choose when to send."
    values["schedule_kind"] = kind
    values["scheduled_at"] = data.scheduled_at if kind == ScheduleKind.AT else None
    values["local_send_date"] = data.local_send_date if kind == ScheduleKind.LOCAL_TIME else None
    values["local_send_time"] = data.local_send_time if kind == ScheduleKind.LOCAL_TIME else None
    if kind == ScheduleKind.AT:
        if data.scheduled_at is None:
            errors["scheduled_at"] = "Choose the date and time to send at."
        elif timezone.is_naive(data.scheduled_at):
            errors["scheduled_at"] = "Give the time with its time zone."
        elif data.scheduled_at < now:
            errors["scheduled_at"] = "Choose a time in the future."
    if kind == ScheduleKind.LOCAL_TIME and (data.local_send_date is None or data.local_send_time is None):
        errors["local_send_time"] = "Choose the local date and time to send at."
    if data.tracking_enabled is not None:
        values["tracking_enabled"] = bool(data.tracking_enabled)
    department = data.department.strip()
    if len(department) > MAX_DEPARTMENT:
        errors["department"] = f"At most {MAX_DEPARTMENT} characters."
    values["department"] = department
    if errors:
        raise CampaignInvalid(errors)
    return values


def campaign_create(*, tenant: Organisation, user: User, data: CampaignInput, actor: Actor | None = None) -> Campaign:
    require_tenant_is_current(tenant)
    values = _cleaned(tenant, data, timezone.now())
    campaign = Campaign(tenant=tenant, created_by=user, **values)
    with transaction.atomic():
        campaign.save()
        record(
            tenant=tenant,
            action="campaign.created",
            actor=_actor(user, actor),
            target=Target.of(campaign),
            details={
                "template_id": str(campaign.template_id),
                "schedule_kind": campaign.schedule_kind,
                "tracking_enabled": campaign.tracking_enabled,
            },
        )
    return campaign


def _locked(tenant: Organisation, campaign: Campaign) -> Campaign:
    return (
        Campaign.objects.for_tenant(tenant)
        .select_for_update(of=("self",))
        .select_related("template", "segment")
        .get(pk=campaign.pk)
    )


def campaign_update(
    *, tenant: Organisation, user: User, campaign: Campaign, data: CampaignInput, actor: Actor | None = None
) -> Campaign:
    """Change a draft. Any change withdraws a compliance approval already given."""
    require_tenant_is_current(tenant)
    values = _cleaned(tenant, data, timezone.now())
    with transaction.atomic():
        locked = _locked(tenant, campaign)
        if not locked.is_editable:
            raise CampaignStateError("Only a draft campaign can be changed.")
        changed = []
        for name, value in values.items():
            attribute = f"{name}_id" if name in ("template", "segment") else name
            new = value.pk if name in ("template", "segment") and value is not None else value
            if getattr(locked, attribute) != new:
                changed.append(name)
            setattr(locked, name, value)
        withdrawn = bool(changed) and locked.approved_at is not None
        if withdrawn:
            locked.approved_at = locked.approved_by = locked.approved_version = None
        locked.save()
        record(
            tenant=tenant,
            action="campaign.updated",
            actor=_actor(user, actor),
            target=Target.of(locked),
            details={"fields": sorted(changed), "approval_withdrawn": withdrawn},
        )
    return locked


def campaign_approve(*, tenant: Organisation, user: User, campaign: Campaign) -> Campaign:
    """A compliance officer approves the campaign with the template's current approved version
    (web only; never the campaign's own creator)."""
    require_tenant_is_current(tenant)
    with transaction.atomic():
        locked = _locked(tenant, campaign)
        if locked.status != CampaignStatus.DRAFT:
            raise CampaignStateError("Only a draft campaign can be approved.")
        if locked.created_by_id == user.pk:
            raise CampaignStateError("You created this campaign: another compliance officer must approve it.")
        version = approved_version(tenant=tenant, template=locked.template)
        if version is None:
            raise CampaignStateError("The template has no approved version to approve the campaign with.")
        locked.approved_by, locked.approved_at, locked.approved_version = user, timezone.now(), version
        locked.save(update_fields=["approved_by", "approved_at", "approved_version", "updated_at"])
        record(
            tenant=tenant,
            action="campaign.approved",
            actor=actor_for_user(user),
            target=Target.of(locked),
            details={"template_version": version.number, "phi_fields": len(version.phi_fields)},
        )
    return locked


def _move(campaign: Campaign, to_status: str) -> None:
    if (campaign.status, to_status) not in CAMPAIGN_TRANSITIONS:
        raise CampaignStateError(f"A {campaign.get_status_display().lower()} campaign cannot become {to_status}.")
    campaign.status = to_status


def _dispatch_on_commit(tenant: Organisation, campaign: Campaign) -> None:
    transaction.on_commit(partial(campaign_dispatch, tenant_id=tenant.pk, campaign_id=str(campaign.pk)))


def campaign_launch(
    *, tenant: Organisation, user: User, campaign: Campaign, actor: Actor | None = None, now: datetime | None = None
) -> Campaign:
    """Check everything (``campaigns.checks``), then in one transaction pin the approved
    template version and freeze the audience into messages. The campaign becomes ``sending``
    (and the pipeline is kicked once this commits) or, when its first message is due later,
    ``scheduled``. Raises ``LaunchRefused`` and writes nothing if a check fails."""
    require_tenant_is_current(tenant)
    now = now or timezone.now()
    with transaction.atomic():
        # The row lock serialises concurrent launches: the second sees a launched campaign.
        locked = _locked(tenant, campaign)
        if locked.kind != CampaignKind.BROADCAST:  # journeys and transactional sends take one message at a time
            raise CampaignStateError("Only a broadcast campaign is launched.")
        plan = launch_plan(tenant=tenant, campaign=locked, now=now)
        failure = plan.first_failure
        if failure is not None:
            raise LaunchRefused(failure)
        version = plan.version
        assert version is not None  # noqa: S101 - the template check passed
        try:
            require_active_baa(tenant=tenant, phi=bool(version.phi_fields), at=now)
        except BaaRequired as refused:
            raise LaunchRefused(Check(Code.BAA, "Business associate agreement", False, str(refused))) from None
        settings = campaign_settings(tenant=tenant)
        count = freeze_audience(tenant=tenant, campaign=locked, settings=settings, now=now)
        first = Message.objects.for_tenant(tenant).filter(campaign_id=locked.pk).aggregate(first=Min("send_after"))
        starts_at = first["first"] or now
        _move(locked, CampaignStatus.SENDING if starts_at <= now else CampaignStatus.SCHEDULED)
        locked.template_version = version
        locked.scheduled_at = starts_at
        locked.launched_at, locked.launched_by, locked.audience_size = now, user, count
        locked.save()
        record(
            tenant=tenant,
            action="campaign.launched",
            actor=_actor(user, actor),
            target=Target.of(locked),
            details={
                "messages": count,
                "template_version": version.number,
                "phi_fields": len(version.phi_fields),
                "schedule_kind": locked.schedule_kind,
                "status": locked.status,
                "frequency_cap": [settings.cap_messages, settings.cap_days],
            },
        )
        if locked.status == CampaignStatus.SENDING:
            _dispatch_on_commit(tenant, locked)
    return locked


def campaign_pause(*, tenant: Organisation, user: User, campaign: Campaign, actor: Actor | None = None) -> Campaign:
    """Stop claims (they need the campaign to be sending); messages already leased finish."""
    require_tenant_is_current(tenant)
    with transaction.atomic():
        locked = _locked(tenant, campaign)
        _move(locked, CampaignStatus.PAUSED)
        locked.save(update_fields=["status", "updated_at"])
        record(tenant=tenant, action="campaign.paused", actor=_actor(user, actor), target=Target.of(locked))
    return locked


def campaign_resume(
    *, tenant: Organisation, user: User, campaign: Campaign, actor: Actor | None = None, now: datetime | None = None
) -> Campaign:
    require_tenant_is_current(tenant)
    now = now or timezone.now()
    with transaction.atomic():
        locked = _locked(tenant, campaign)
        due = locked.scheduled_at is None or locked.scheduled_at <= now
        _move(locked, CampaignStatus.SENDING if due else CampaignStatus.SCHEDULED)
        locked.save(update_fields=["status", "updated_at"])
        record(
            tenant=tenant,
            action="campaign.resumed",
            actor=_actor(user, actor),
            target=Target.of(locked),
            details={"status": locked.status},
        )
        if locked.status == CampaignStatus.SENDING:
            _dispatch_on_commit(tenant, locked)
    return locked


def campaign_cancel(*, tenant: Organisation, user: User, campaign: Campaign, actor: Actor | None = None) -> Campaign:
    """Cancel the campaign and, in one UPDATE, every message still waiting (queued, deferred).
    Messages a worker holds finish or are cancelled by it; none is claimed any more."""
    require_tenant_is_current(tenant)
    now = timezone.now()
    with transaction.atomic():
        locked = _locked(tenant, campaign)
        _move(locked, CampaignStatus.CANCELLED)
        cancelled = (
            Message.objects.for_tenant(tenant)
            .filter(campaign_id=locked.pk, status__in=PENDING)
            .update(status=MessageStatus.CANCELLED, updated_at=now)
        )
        events_record_campaign_moves(
            tenant=tenant, campaign_id=locked.pk, kind=EventKind.CANCELLED, status=MessageStatus.CANCELLED, at=now
        )
        locked.finished_at = now
        locked.save(update_fields=["status", "finished_at", "updated_at"])
        record(
            tenant=tenant,
            action="campaign.cancelled",
            actor=_actor(user, actor),
            target=Target.of(locked),
            details={"messages_cancelled": cancelled},
        )
    return locked


def campaigns_start_due(*, tenant: Organisation, actor: Actor, now: datetime | None = None) -> list[str]:
    """Start the tenant's scheduled campaigns whose first message is due (``campaigns.dispatch_due``,
    every minute); returns their ids."""
    require_tenant_is_current(tenant)
    now = now or timezone.now()
    started = []
    with transaction.atomic():
        due = (
            Campaign.objects.for_tenant(tenant)
            .select_for_update(skip_locked=True)
            .filter(status=CampaignStatus.SCHEDULED, scheduled_at__lte=now)
            .order_by("scheduled_at")
        )
        for campaign in due:
            _move(campaign, CampaignStatus.SENDING)
            campaign.save(update_fields=["status", "updated_at"])
            record(tenant=tenant, action="campaign.started", actor=actor, target=Target.of(campaign))
            _dispatch_on_commit(tenant, campaign)
            started.append(str(campaign.pk))
    return started


def campaign_complete_if_finished(*, tenant: Organisation, campaign: Campaign, actor: Actor) -> bool:
    """For the pipeline, when a batch finds nothing left to claim: a sending campaign with no
    queued, deferred or sending message becomes completed (audited with the counts). Journey and
    transactional containers stay ``sending`` while in use: they are never completed here."""
    require_tenant_is_current(tenant)
    if campaign.kind != CampaignKind.BROADCAST:
        return False
    with transaction.atomic():
        locked = _locked(tenant, campaign)
        if locked.status != CampaignStatus.SENDING:
            return False
        if Message.objects.for_tenant(tenant).filter(campaign_id=locked.pk, status__in=UNFINISHED).exists():
            return False
        _move(locked, CampaignStatus.COMPLETED)
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "finished_at", "updated_at"])
        counts = {key: n for key, n in campaign_progress(tenant=tenant, campaign=locked).as_dict().items() if n}
        record(tenant=tenant, action="campaign.completed", actor=actor, target=Target.of(locked), details=counts)
    return True


def campaign_test_version(*, tenant: Organisation, campaign: Campaign) -> TemplateVersion | None:
    """What a campaign's test send renders: the pinned version once launched, else the approved
    one, else the template's newest version (drafts are worth testing too)."""
    if campaign.template_version is not None:
        return campaign.template_version
    return approved_version(tenant=tenant, template=campaign.template) or (
        template_versions(tenant=tenant, template=campaign.template).first()
    )


def campaign_send_test(
    *, tenant: Organisation, user: User, campaign: Campaign, language: str = "", address_id: str = ""
) -> TemplateVersion:
    """A test message of the campaign's content, through the templates' test sends (sample
    data only; the user's own address or one on the organisation's test list; rate-limited;
    audited there as ``template.test_sent``). Raises ``SendTestRefused``."""
    require_tenant_is_current(tenant)
    version = campaign_test_version(tenant=tenant, campaign=campaign)
    if version is None:
        raise SendTestRefused("The template has no version to test.")
    version_send_test(
        tenant=tenant,
        user=user,
        version=version,
        language=language,
        address_id=address_id,
        sender=Sender(name=campaign.from_name, address=campaign.from_address),
    )
    return version


_UNCHANGED: Any = object()


def _clean_purpose_caps(tenant: Organisation, raw: dict[str, Any], errors: dict[str, str]) -> dict[str, list[int]]:
    from campaigns.caps import MAX_CAP_DAYS, MAX_CAP_MESSAGES
    from consent.purposes import purpose_keys

    known = purpose_keys(tenant=tenant, include_archived=True)
    cleaned: dict[str, list[int]] = {}
    for key, value in sorted(raw.items()):
        if key not in known:
            errors["purpose_caps"] = "Caps can only be set for the organisation's purposes."
            continue
        try:
            messages, days = (int(part) for part in value)
        except (TypeError, ValueError):
            errors[f"cap_{key}_messages"] = "Give a number of messages and a number of days."
            continue
        if not 1 <= messages <= MAX_CAP_MESSAGES:
            errors[f"cap_{key}_messages"] = f"Between 1 and {MAX_CAP_MESSAGES} messages (leave empty: no cap)."
        elif not 1 <= days <= MAX_CAP_DAYS:
            errors[f"cap_{key}_days"] = f"Between 1 and {MAX_CAP_DAYS} days."
        else:
            cleaned[key] = [messages, days]
    return cleaned


def campaign_settings_update(
    *,
    tenant: Organisation,
    user: User,
    cap_messages: int,
    cap_days: int,
    default_time_zone: str,
    purpose_caps: dict[str, Any] = _UNCHANGED,
    transactional_cap_exempt: bool = _UNCHANGED,
    quiet_hours_start: time | None = _UNCHANGED,
    quiet_hours_end: time | None = _UNCHANGED,
    quiet_hours_transactional: bool = _UNCHANGED,
) -> CampaignSettings:
    """Save the organisation's campaign settings (audited with every value: none is PHI). The
    overall cap, per-purpose caps (``{"marketing": (3, 7)}``; a purpose left out has none),
    whether transactional purposes are exempt from caps, quiet hours (both times or neither;
    ``start > end`` spans midnight) and whether they hold transactional messages back too.
    Arguments left out keep their current value."""
    import zoneinfo

    require_tenant_is_current(tenant)
    errors: dict[str, str] = {}
    if not 0 <= cap_messages <= 100:
        errors["cap_messages"] = "Between 0 (no cap) and 100 messages."
    if not 1 <= cap_days <= 365:
        errors["cap_days"] = "Between 1 and 365 days."
    try:
        zoneinfo.ZoneInfo(default_time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors["default_time_zone"] = "Use a time zone name such as Europe/London or America/New_York."
    caps = _clean_purpose_caps(tenant, purpose_caps, errors) if purpose_caps is not _UNCHANGED else _UNCHANGED
    if quiet_hours_start is not _UNCHANGED or quiet_hours_end is not _UNCHANGED:
        start = None if quiet_hours_start is _UNCHANGED else quiet_hours_start
        end = None if quiet_hours_end is _UNCHANGED else quiet_hours_end
        if (start is None) != (end is None):
            errors["quiet_hours_end" if end is None else "quiet_hours_start"] = (
                "Give both the start and the end of quiet hours (or neither: none)."
            )
        elif start is not None and start == end:
            errors["quiet_hours_end"] = "Quiet hours must end at another time than they start."
    if errors:
        raise CampaignInvalid(errors)
    with transaction.atomic():
        settings = CampaignSettings.objects.for_tenant(tenant).select_for_update().first()
        settings = settings or CampaignSettings(tenant=tenant)
        settings.cap_messages, settings.cap_days = cap_messages, cap_days
        settings.default_time_zone = default_time_zone
        if caps is not _UNCHANGED:
            settings.purpose_caps = caps
        if transactional_cap_exempt is not _UNCHANGED:
            settings.transactional_cap_exempt = bool(transactional_cap_exempt)
        if quiet_hours_start is not _UNCHANGED or quiet_hours_end is not _UNCHANGED:
            settings.quiet_hours_start = None if quiet_hours_start is _UNCHANGED else quiet_hours_start
            settings.quiet_hours_end = None if quiet_hours_end is _UNCHANGED else quiet_hours_end
        if quiet_hours_transactional is not _UNCHANGED:
            settings.quiet_hours_transactional = bool(quiet_hours_transactional)
        settings.save()
        quiet = [settings.quiet_hours_start, settings.quiet_hours_end]
        record(
            tenant=tenant,
            action="campaign.settings_changed",
            actor=actor_for_user(user),
            target=Target.of(settings),
            details={
                "cap_messages": cap_messages,
                "cap_days": cap_days,
                "default_time_zone": default_time_zone,
                # "marketing:3/7": at most 3 marketing messages in 7 days.
                "purpose_caps": [f"{key}:{n}/{days}" for key, (n, days) in sorted(settings.purpose_caps.items())],
                "transactional_cap_exempt": settings.transactional_cap_exempt,
                "quiet_hours": [t.strftime("%H:%M") for t in quiet if t is not None] or None,
                "quiet_hours_transactional": settings.quiet_hours_transactional,
            },
        )
    return settings
