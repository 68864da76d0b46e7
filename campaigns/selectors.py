"""Reads of campaigns: tenant-scoped, 404 for "not yours" exactly as for "does not exist"."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import Http404

from campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignSettings,
    Journey,
    JourneyVersion,
    Message,
    MessageStatus,
)
from encryption.protection import ESCROW
from tenants.context import require_tenant_is_current
from tenants.models import Organisation


def campaign_list(*, tenant: Organisation, kind: str = CampaignKind.BROADCAST) -> QuerySet[Campaign]:
    """The organisation's campaigns of one kind (the campaign pages and API: broadcasts; journey
    and transactional containers have their own pages)."""
    require_tenant_is_current(tenant)
    return (
        Campaign.objects.for_tenant(tenant)
        .filter(kind=kind)
        .select_related("template", "segment")
        .order_by("-created_at", "pk")
    )


def journey_get(*, tenant: Organisation, journey_id: uuid.UUID | str) -> Journey:
    """One of the organisation's journeys; 404 for another's exactly as for none."""
    require_tenant_is_current(tenant)
    found = Journey.objects.for_tenant(tenant).filter(pk=journey_id).first()
    if found is None:
        raise Http404("No such journey.")
    return found


def journey_version_get(*, tenant: Organisation, journey: Journey, version_id: uuid.UUID | str) -> JourneyVersion:
    """A version of ``journey`` (one of the organisation's); 404 otherwise."""
    require_tenant_is_current(tenant)
    found = JourneyVersion.objects.for_tenant(tenant).filter(pk=version_id, journey=journey).first()
    if found is None:
        raise Http404("No such journey version.")
    return found


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


def message_from_message_id(*, tenant: Organisation, value: str) -> Message | None:
    """The message a Message-ID header names (a bounce or complaint quoting one the pipeline
    sent, ``delivery.mime.message_id_for``), or None: not one of ours, altered, another
    organisation's, or the row is gone. Find the organisation first with
    ``delivery.mime.message_ref_from_message_id(value).tenant_id``."""
    from delivery.mime import message_ref_from_message_id

    require_tenant_is_current(tenant)
    ref = message_ref_from_message_id(value)
    if ref is None or ref.tenant_id != tenant.pk:
        return None
    return Message.objects.for_tenant(tenant).filter(pk=ref.message_id).first()


def campaign_settings(*, tenant: Organisation) -> CampaignSettings:
    """The organisation's settings, or the defaults (unsaved) when it never changed them."""
    require_tenant_is_current(tenant)
    found = CampaignSettings.objects.for_tenant(tenant).first()
    return found or CampaignSettings(tenant=tenant)


# Not a message status: ``deferred`` messages the policy sent to escrow whose notice is being
# retried (``delivery.pipeline``: ``protection_action = escrow``; the message itself is stored and
# never sent). Counted apart from transport retries of messages that would be delivered.
HELD_FOR_ESCROW = "held_for_escrow"
LABELS = {**dict(MessageStatus.choices), HELD_FOR_ESCROW: "Escrowed, notice being retried"}

# What the progress view shows, in order; the other states are counted under "other".
PROGRESS_STATES = (
    MessageStatus.QUEUED,
    MessageStatus.SENDING,
    MessageStatus.SENT,
    MessageStatus.DEFERRED,
    HELD_FOR_ESCROW,
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
SETTLED = frozenset(PROGRESS_STATES) - {
    MessageStatus.QUEUED,
    MessageStatus.SENDING,
    MessageStatus.DEFERRED,
    HELD_FOR_ESCROW,
}


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
        return [(status, LABELS[status], self.counts.get(status, 0)) for status in PROGRESS_STATES]

    def as_dict(self) -> dict[str, int]:
        return {status: self.counts.get(status, 0) for status in PROGRESS_STATES}


def campaign_progress(*, tenant: Organisation, campaign: Campaign) -> Progress:
    """Messages per state, in one grouped query (an index-only scan of the claim index); when
    some are deferred, a second count (of the deferred only) tells those held for escrow apart."""
    require_tenant_is_current(tenant)
    messages = Message.objects.for_tenant(tenant).filter(campaign_id=campaign.pk)
    rows = messages.order_by().values_list("status").annotate(n=Count("id"))
    counts: dict[str, int] = {status: n for status, n in rows}
    if counts.get(MessageStatus.DEFERRED):
        held = messages.filter(status=MessageStatus.DEFERRED, protection_action=ESCROW).count()
        if held:
            counts[MessageStatus.DEFERRED] -= held
            counts[HELD_FOR_ESCROW] = held
    return Progress(counts)
