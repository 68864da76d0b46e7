"""The event store and the rollups reports read.

``Event`` is the raw record: one row per thing that happened to a campaign message (or, for
opens and clicks, per request). It is written in bulk by ``reporting.events.events_record``,
which updates the rollups in the same transaction, so no report ever scans raw events:

- ``CampaignDailyStat`` — per campaign, per UTC day, per metric: the campaign dashboard's
  totals and charts;
- ``CampaignDomainStat`` — per campaign, per recipient domain, per metric (with the summed
  delivery time of sent messages): the recipient-domain table;
- ``TenantDailyStat`` and ``TenantDomainDailyStat`` — per organisation, per UTC day (and per
  recipient domain): the organisation overview, its trends and degradation warnings;
- ``MessageEngagement`` — the first human open and click of each message: what makes an open
  or click *unique*;
- ``ContactEngagement`` — each contact's last human open and click: segment conditions
  ("opened in the last 30 days") without touching events.

Nothing here holds PHI: ids, codes, counts, recipient domains and times.
"""

from __future__ import annotations

from django.db import models

from tenants.managers import TenantModel


class EventKind(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    DEFERRED = "deferred", "Deferred"
    BOUNCED_HARD = "bounced_hard", "Bounced (hard)"
    BOUNCED_SOFT = "bounced_soft", "Bounced (soft)"
    COMPLAINED = "complained", "Complained"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    OPENED = "opened", "Opened"
    CLICKED = "clicked", "Clicked"
    ESCROW_NOTICE_SENT = "escrow_notice_sent", "Escrow notice sent"
    ESCROW_OPENED = "escrow_opened", "Escrow opened"
    ESCROW_READ = "escrow_read", "Escrow read"
    REPLY_RECEIVED = "reply_received", "Reply received"
    BLOCKED = "blocked", "Blocked"
    QUARANTINED = "quarantined", "Quarantined"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Outcome unknown"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled"


class Event(TenantModel):
    """One event. ``message_id`` and ``contact_id`` are references, not foreign keys: events are
    history and are written at pipeline speed (no constraint checks per row)."""

    id = models.BigAutoField(primary_key=True)  # type: ignore[assignment]
    tenant = models.ForeignKey("tenants.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False)
    campaign_id = models.UUIDField(null=True, blank=True)
    message_id = models.BigIntegerField(null=True, blank=True)
    contact_id = models.UUIDField(null=True, blank=True)
    kind = models.CharField(max_length=24, choices=EventKind.choices)
    occurred_at = models.DateTimeField()
    recipient_domain = models.CharField(max_length=253, blank=True, default="")
    # A privacy proxy or a link scanner, not a person (opens and clicks).
    machine = models.BooleanField(default=False)
    link_id = models.BigIntegerField(null=True, blank=True)
    # A code, never text: an enhanced status code, a TLS protocol, a reason code.
    detail = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        indexes = [
            # A message's history (contact pages, investigations); nothing else reads events.
            models.Index(fields=["message_id"], name="reporting_event_message"),
        ]


class CampaignDailyStat(TenantModel):
    id = models.BigAutoField(primary_key=True)  # type: ignore[assignment]
    tenant = models.ForeignKey("tenants.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False)
    campaign_id = models.UUIDField()
    day = models.DateField()
    metric = models.CharField(max_length=32)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign_id", "day", "metric"], name="reporting_campaign_day_metric"),
        ]


class CampaignDomainStat(TenantModel):
    id = models.BigAutoField(primary_key=True)  # type: ignore[assignment]
    tenant = models.ForeignKey("tenants.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False)
    campaign_id = models.UUIDField()
    domain = models.CharField(max_length=253)
    metric = models.CharField(max_length=32)
    count = models.BigIntegerField(default=0)
    # Sum over sent messages of (accepted − first attempt), in milliseconds.
    delivery_ms = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign_id", "domain", "metric"], name="reporting_campaign_domain_metric"
            ),
        ]


class CampaignLinkStat(TenantModel):
    """Clicks per tracked link of a campaign: ``clicked``, ``clicked_unique`` (a person's first
    click of that link in that message) and ``clicked_machine``."""

    id = models.BigAutoField(primary_key=True)  # type: ignore[assignment]
    tenant = models.ForeignKey("tenants.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False)
    campaign_id = models.UUIDField()
    link_id = models.BigIntegerField()
    metric = models.CharField(max_length=32)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign_id", "link_id", "metric"], name="reporting_campaign_link_metric"),
        ]


class TenantDailyStat(TenantModel):
    id = models.BigAutoField(primary_key=True)  # type: ignore[assignment]
    tenant = models.ForeignKey("tenants.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False)
    day = models.DateField()
    metric = models.CharField(max_length=32)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "day", "metric"], name="reporting_tenant_day_metric"),
        ]


class TenantDomainDailyStat(TenantModel):
    id = models.BigAutoField(primary_key=True)  # type: ignore[assignment]
    tenant = models.ForeignKey("tenants.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False)
    day = models.DateField()
    domain = models.CharField(max_length=253)
    metric = models.CharField(max_length=32)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "day", "domain", "metric"], name="reporting_tenant_day_domain_metric"
            ),
        ]


class MessageEngagement(TenantModel):
    """The first human open and click of a message (the row exists once either happened)."""

    id = None  # type: ignore[assignment]
    message_id = models.BigIntegerField(primary_key=True)
    tenant = models.ForeignKey("tenants.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False)
    first_opened_at = models.DateTimeField(null=True, blank=True)
    first_clicked_at = models.DateTimeField(null=True, blank=True)


class ContactEngagement(TenantModel):
    """A contact's last human open and click, across campaigns."""

    id = None  # type: ignore[assignment]
    contact_id = models.UUIDField(primary_key=True)
    tenant = models.ForeignKey("tenants.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False)
    last_opened_at = models.DateTimeField(null=True, blank=True)
    last_clicked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "last_opened_at"], name="reporting_contact_last_open"),
            models.Index(fields=["tenant", "last_clicked_at"], name="reporting_contact_last_click"),
        ]
