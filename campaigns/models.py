"""Campaigns and their messages.

- ``Campaign``: what is sent (a template, whose newest approved version is pinned at launch),
  to whom (a segment, frozen into messages at launch), for which consent purpose, from which
  address, and when (now, at a time, or at a wall-clock time in each recipient's time zone).
- ``Message``: one row per recipient of a launched campaign, unique per (campaign, contact): the
  hot table the send pipeline claims work from (``campaigns.messages``). A bigint key, because
  launch writes up to a million rows in one ``INSERT … SELECT`` and a sequence is the cheapest
  key to generate and index; the row holds no PHI (ids, states, codes).
- ``CampaignSettings``: the organisation's frequency cap and fallback time zone (one row, or
  the defaults when there is none).

States and transitions are tables in code (``CAMPAIGN_TRANSITIONS`` here and
``messages.MESSAGE_TRANSITIONS``), enforced by the services; docs/campaigns.md shows both.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from encryption.fields import EncryptedTextField
from tenants.managers import TenantModel

DEFAULT_CAP_MESSAGES = 3
DEFAULT_CAP_DAYS = 7


def validate_header_safe(value: str) -> None:
    """Header values (From name, addresses) may not break out of their header line."""
    if any(char in value for char in "\r\n\x00"):
        raise ValidationError("Line breaks are not allowed here.", code="header_injection")


class ScheduleKind(models.TextChoices):
    NOW = "now", "As soon as it is launched"
    AT = "at", "At a date and time"
    LOCAL_TIME = "local_time", "At a local time in each recipient's time zone"


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


# Campaign state machine: (from, to) pairs the services allow.
CAMPAIGN_TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED),  # launch, start in the future
        (CampaignStatus.DRAFT, CampaignStatus.SENDING),  # launch, start now
        (CampaignStatus.SCHEDULED, CampaignStatus.SENDING),  # its time came (campaigns.dispatch_due)
        (CampaignStatus.SCHEDULED, CampaignStatus.PAUSED),
        (CampaignStatus.SENDING, CampaignStatus.PAUSED),
        (CampaignStatus.PAUSED, CampaignStatus.SENDING),  # resume, start time reached
        (CampaignStatus.PAUSED, CampaignStatus.SCHEDULED),  # resume, start time still ahead
        (CampaignStatus.SENDING, CampaignStatus.COMPLETED),  # no message left to try
        (CampaignStatus.DRAFT, CampaignStatus.CANCELLED),
        (CampaignStatus.SCHEDULED, CampaignStatus.CANCELLED),
        (CampaignStatus.SENDING, CampaignStatus.CANCELLED),
        (CampaignStatus.PAUSED, CampaignStatus.CANCELLED),
    }
)


class CampaignKind(models.TextChoices):
    # Launched once to a frozen segment (everything that existed before automation).
    BROADCAST = "broadcast", "Broadcast"
    # Containers that receive one message at a time (campaigns.sending.message_enqueue) and stay
    # ``sending`` while in use: a journey's send step, the transactional API.
    JOURNEY = "journey", "Journey"
    TRANSACTIONAL = "transactional", "Transactional"


class CampaignSettings(TenantModel):
    """The organisation's campaign settings: at most ``cap_messages`` campaign messages per
    contact in ``cap_days`` days (across campaigns), per-purpose caps on top of it
    (``purpose_caps``: ``{"marketing": [3, 7]}`` = at most 3 marketing messages in 7 days), whether
    transactional (non-marketing) purposes are exempt from both, quiet hours in the recipient's
    time zone, and the time zone used for contacts whose own is unknown. The rules themselves
    live in ``campaigns.caps`` and ``campaigns.sending``."""

    cap_messages = models.PositiveSmallIntegerField(default=DEFAULT_CAP_MESSAGES)
    cap_days = models.PositiveSmallIntegerField(default=DEFAULT_CAP_DAYS)
    purpose_caps = models.JSONField(default=dict, blank=True, db_default={})
    transactional_cap_exempt = models.BooleanField(default=False, db_default=False)
    # Local times in the recipient's zone; both empty: no quiet hours. start > end spans midnight.
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    quiet_hours_transactional = models.BooleanField(default=False, db_default=False)
    default_time_zone = models.CharField(max_length=64, default="UTC")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="campaigns_settings_per_tenant")]

    def __str__(self) -> str:
        return f"Campaign settings of {self.tenant_id}"


class Campaign(TenantModel):
    name = models.CharField(max_length=200)
    kind = models.CharField(
        max_length=16, choices=CampaignKind.choices, default=CampaignKind.BROADCAST, db_default=CampaignKind.BROADCAST
    )
    # The consent purpose: always the template's (copied when the template is chosen).
    purpose = models.CharField(max_length=64)
    template = models.ForeignKey("templates.EmailTemplate", on_delete=models.PROTECT, related_name="+")
    # Pinned at launch: the newest approved version at that moment; never changes afterwards.
    template_version = models.ForeignKey(
        "templates.TemplateVersion", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    # A launched campaign keeps its frozen audience (its messages) whatever happens to the segment.
    segment = models.ForeignKey("segments.Segment", on_delete=models.SET_NULL, related_name="+", null=True, blank=True)
    from_name = models.CharField(max_length=100, validators=[validate_header_safe])
    from_address = models.EmailField(max_length=254, validators=[validate_header_safe])
    reply_to = models.EmailField(max_length=254, blank=True, validators=[validate_header_safe])
    # The team sending it, for the calendar (never PHI): e.g. Cardiology, Billing.
    department = models.CharField(max_length=100, blank=True, default="", db_default="")
    schedule_kind = models.CharField(max_length=16, choices=ScheduleKind.choices, default=ScheduleKind.NOW)
    # AT: when. After launch, for every kind: when the first message may go (the campaign moves
    # from scheduled to sending then).
    scheduled_at = models.DateTimeField(null=True, blank=True)
    # LOCAL_TIME: the wall-clock date and time in each recipient's own time zone.
    local_send_date = models.DateField(null=True, blank=True)
    local_send_time = models.TimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    # Open and click tracking for this campaign (the organisation's switches still apply).
    tracking_enabled = models.BooleanField(default=True, db_default=True)
    # Compliance approval, when the approval rule requires it (campaigns.checks.approval_required).
    # It is for one template version: a newer approved version needs approving again.
    approved_by = models.ForeignKey("authn.User", on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_version = models.ForeignKey(
        "templates.TemplateVersion", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    created_by = models.ForeignKey("authn.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    launched_by = models.ForeignKey("authn.User", on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    # How many messages launch froze (a fact of the launch, not a live counter).
    audience_size = models.PositiveIntegerField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)  # completed or cancelled

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "scheduled_at"], name="campaigns_due")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_editable(self) -> bool:
        return self.status == CampaignStatus.DRAFT

    @property
    def from_domain(self) -> str:
        return self.from_address.rpartition("@")[2].lower()


class MessageStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DEFERRED = "deferred", "Deferred"
    BOUNCED = "bounced", "Bounced"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Unknown (handed off, outcome not recorded)"
    ESCROWED = "escrowed", "Escrowed"
    BLOCKED = "blocked", "Blocked"
    QUARANTINED = "quarantined", "Quarantined"
    CANCELLED = "cancelled", "Cancelled"
    SKIPPED = "skipped", "Skipped (no consent or suppressed at send time)"


class Message(TenantModel):
    """One recipient of a launched campaign. ``send_after`` is when it may next be tried: the
    schedule (or the recipient's local time) at launch, the retry time once deferred."""

    id = models.BigAutoField(primary_key=True)  # type: ignore[assignment]
    # The indexes below all start with what the queries filter on; no index of its own.
    tenant = models.ForeignKey("tenants.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="+", db_index=False)
    # A removed contact leaves the message (the campaign's history) with no contact.
    contact = models.ForeignKey(
        "segments.Contact", on_delete=models.SET_NULL, related_name="+", null=True, db_index=False
    )
    status = models.CharField(max_length=16, choices=MessageStatus.choices, default=MessageStatus.QUEUED)
    send_after = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Set just before the end of SMTP DATA (or the SES call): after it, a crash leaves the
    # outcome unknown and the message is never tried again.
    handed_off_at = models.DateTimeField(null=True, blank=True)
    # When the pipeline first gave it to the transport (not the campaign's start: a message held
    # back by posture, its sending domain or its recipient's local time starts later). The
    # give-up period of repeated deferrals counts from here.
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    # Protection decision and the codes behind it (finding types, policy rules; never text).
    protection_action = models.CharField(max_length=16, blank=True, default="")
    reason_codes = models.JSONField(default=list, blank=True)
    level = models.CharField(max_length=16, blank=True, default="")
    smtp_code = models.PositiveSmallIntegerField(null=True, blank=True)
    smtp_enhanced = models.CharField(max_length=16, blank=True, default="")
    # The recipient's domain (not PHI; the address itself is encrypted on the contact), stamped
    # with the first attempt: reports group by it and late events (bounces) carry it.
    recipient_domain = models.CharField(max_length=253, blank=True, default="", db_default="")
    # The TLS protocol the transport negotiated for the accepted message (e.g. "TLSv1.3").
    tls_version = models.CharField(max_length=16, blank=True, default="", db_default="")
    # The caller's idempotency key for a message enqueued one at a time (journey step, API
    # request id); "" for a broadcast's frozen audience.
    source_key = models.CharField(max_length=200, blank=True, default="", db_default="")
    # JSON of the event.* merge values for this one message (PHI: encrypted; needs the pk, so
    # written after the row exists).
    event_data = EncryptedTextField(null=True, blank=True, default=None)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # A broadcast reaches each contact once; an enqueued message is once per caller key.
            models.UniqueConstraint(
                fields=["campaign", "contact"],
                condition=models.Q(source_key=""),
                name="campaigns_message_once_per_contact",
            ),
            models.UniqueConstraint(
                fields=["campaign", "source_key"],
                condition=~models.Q(source_key=""),
                name="campaigns_message_once_per_source",
            ),
        ]
        indexes = [
            # The pipeline's claim (queued/deferred and due, oldest first) and the progress
            # counts (grouped by status: an index-only scan of this index's prefix).
            models.Index(fields=["tenant", "campaign", "status", "send_after"], name="campaigns_message_claim"),
            # Deleting a contact (SET NULL) and the frequency cap look messages up by contact.
            models.Index(fields=["contact", "send_after"], name="campaigns_message_contact"),
            # The PHI exposure report (reporting.compliance): a tenant's PHI-bearing messages by
            # the time of their last move (id: the pages' tie-break), with what its summary
            # groups by (index-only scans).
            models.Index(
                fields=["tenant", "updated_at", "id"],
                include=["status", "protection_action", "tls_version"],
                condition=models.Q(level="phi"),
                name="campaigns_message_phi_time",
            ),
        ]

    def __str__(self) -> str:
        return f"Message {self.pk} ({self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.updated_at = timezone.now()
        super().save(*args, **kwargs)


# Automation's models live in their own modules; importing them here registers them with the app:
# journeys (campaigns.journeys), trigger events (campaigns.triggers) and the scheduler's due work
# (campaigns.scheduling).
from campaigns.journey_models import (  # noqa: E402, F401
    EnrollmentStatus,
    Journey,
    JourneyEnrollment,
    JourneySendStep,
    JourneyStatus,
    JourneyVersion,
    JourneyVersionStatus,
)
from campaigns.scheduling_models import DueWork, DueWorkStatus  # noqa: E402, F401
from campaigns.trigger_models import TriggerEvent, TriggerFieldType, TriggerType  # noqa: E402, F401
