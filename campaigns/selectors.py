"""Reads of campaigns: tenant-scoped, 404 for "not yours" exactly as for "does not exist"."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import Http404

from campaigns.models import Campaign, CampaignSettings, Message, MessageStatus
from tenants.context import require_tenant_is_current
from tenants.models import Organisation


def campaign_list(*, tenant: Organisation) -> QuerySet[Campaign]:
    require_tenant_is_current(tenant)
    return Campaign.objects.for_tenant(tenant).select_related("template", "segment").order_by("-created_at", "pk")


def campaign_get(*, tenant: Organisation, campaign_id: uuid.UUID | str) -> Campaign:
    require_tenant_is_current(tenant)
    try:
        found = (
            Campaign.objects.for_tenant(tenant)
            .select_related("template", "template_version", "segment", "approved_by", "created_by")
            .filter(pk=campaign_id)
            .first()
        )
    except ValidationError:  # not a UUID
        found = None
    if found is None:
        raise Http404("No such campaign.")
    return found


def campaign_settings(*, tenant: Organisation) -> CampaignSettings:
    """The organisation's settings, or the defaults (unsaved) when it never changed them."""
    require_tenant_is_current(tenant)
    found = CampaignSettings.objects.for_tenant(tenant).first()
    return found or CampaignSettings(tenant=tenant)


# What the progress view shows, in order; the other states are counted under "other".
PROGRESS_STATES = (
    MessageStatus.QUEUED,
    MessageStatus.SENDING,
    MessageStatus.SENT,
    MessageStatus.DEFERRED,
    MessageStatus.BOUNCED,
    MessageStatus.ESCROWED,
    MessageStatus.BLOCKED,
    MessageStatus.QUARANTINED,
    MessageStatus.FAILED,
    MessageStatus.UNKNOWN,
    MessageStatus.SKIPPED,
    MessageStatus.CANCELLED,
)
# Nothing more will happen to these on their own (quarantined waits for a person).
SETTLED = frozenset(PROGRESS_STATES) - {MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.DEFERRED}


@dataclass(frozen=True)
class Progress:
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def settled(self) -> int:
        return sum(n for status, n in self.counts.items() if status in SETTLED)

    @property
    def percent(self) -> int:
        return self.settled * 100 // self.total if self.total else 0

    def rows(self) -> list[tuple[str, str, int]]:
        labels = dict(MessageStatus.choices)
        return [(status, labels[status], self.counts.get(status, 0)) for status in PROGRESS_STATES]

    def as_dict(self) -> dict[str, int]:
        return {status: self.counts.get(status, 0) for status in PROGRESS_STATES}


def campaign_progress(*, tenant: Organisation, campaign: Campaign) -> Progress:
    """Messages per state, in one grouped query (an index-only scan of the claim index)."""
    require_tenant_is_current(tenant)
    rows = (
        Message.objects.for_tenant(tenant)
        .filter(campaign_id=campaign.pk)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
    )
    return Progress({status: n for status, n in rows})
