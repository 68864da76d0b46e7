"""Frequency caps: how many messages a contact may get in a period, one rule for launch (a whole
audience at once, ``campaigns.freeze``) and for messages enqueued one at a time
(``campaigns.sending.message_enqueue``: journeys, transactional sends).

- **Overall cap** (``cap_messages`` in ``cap_days``, 0 = off): messages of every purpose count.
- **Per-purpose caps** (``purpose_caps``: ``{"marketing": [3, 7]}``): only the purpose's own
  messages count, across all campaigns and journeys.
- **Transactional purposes** are the non-marketing ones (``consent.purposes``: the built-in
  appointment reminders, billing and care, and an organisation's own purposes not marked
  marketing). With ``transactional_cap_exempt`` on, their messages are neither capped nor counted
  towards the overall cap (a reminder never crowds out, nor is crowded out by, a newsletter).

A message counts when it went or will go to the recipient (``CAP_COUNTED``: not skipped,
cancelled, blocked, quarantined, bounced or failed) and its ``send_after`` falls in the last
``days`` days (or later: queued for the future). The contact is capped when the count has
reached the cap already.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, QuerySet

from campaigns.models import CampaignSettings, Message, MessageStatus
from tenants.models import Organisation

# Messages that count towards a cap: they went, or will go, to the recipient.
CAP_COUNTED = (
    MessageStatus.QUEUED,
    MessageStatus.SENDING,
    MessageStatus.SENT,
    MessageStatus.DEFERRED,
    MessageStatus.ESCROWED,
    MessageStatus.UNKNOWN,
)
MAX_CAP_MESSAGES = 100
MAX_CAP_DAYS = 365

# Reason codes of a message the cap kept back (``Message.reason_codes``; never text).
CAPPED_OVERALL = "frequency_cap"
CAPPED_PURPOSE = "frequency_cap_purpose"


def transactional_purposes(*, tenant: Organisation) -> frozenset[str]:
    """The purposes that are transactional: every purpose not marked marketing (archived ones
    too: their messages still count)."""
    from consent.purposes import purposes_for

    return frozenset(p.key for p in purposes_for(tenant=tenant, include_archived=True) if not p.is_marketing)


def purpose_cap(settings: CampaignSettings, purpose: str) -> tuple[int, int] | None:
    """``(messages, days)`` of the purpose's own cap, or None."""
    raw: Any = (settings.purpose_caps or {}).get(purpose)
    if not isinstance(raw, list | tuple) or len(raw) != 2:
        return None
    messages, days = int(raw[0]), int(raw[1])
    return (messages, days) if messages > 0 and days > 0 else None


def is_exempt(settings: CampaignSettings, purpose: str, transactional: frozenset[str]) -> bool:
    return bool(settings.transactional_cap_exempt) and purpose in transactional


def _counted(tenant: Organisation, since: datetime) -> QuerySet[Message]:
    return Message.objects.for_tenant(tenant).filter(
        contact__isnull=False,  # NOT IN over a NULL would exclude everyone
        status__in=CAP_COUNTED,
        send_after__gte=since,
    )


def _overall_messages(
    tenant: Organisation, settings: CampaignSettings, transactional: frozenset[str], now: datetime
) -> QuerySet[Message]:
    counted = _counted(tenant, now - timedelta(days=settings.cap_days))
    if settings.transactional_cap_exempt and transactional:
        counted = counted.exclude(campaign__purpose__in=sorted(transactional))
    return counted


def capped_contact_ids(*, tenant: Organisation, settings: CampaignSettings, purpose: str, now: datetime) -> list[Any]:
    """Subqueries of the contact ids a message for ``purpose`` may not go to now (launch
    excludes each from its audience, in SQL)."""
    transactional = transactional_purposes(tenant=tenant)
    if is_exempt(settings, purpose, transactional):
        return []
    subqueries: list[Any] = []
    if settings.cap_messages > 0:
        subqueries.append(
            _overall_messages(tenant, settings, transactional, now)
            .order_by()
            .values("contact_id")
            .annotate(n=Count("id"))
            .filter(n__gte=settings.cap_messages)
            .values("contact_id")
        )
    own = purpose_cap(settings, purpose)
    if own is not None:
        subqueries.append(
            _counted(tenant, now - timedelta(days=own[1]))
            .filter(campaign__purpose=purpose)
            .order_by()
            .values("contact_id")
            .annotate(n=Count("id"))
            .filter(n__gte=own[0])
            .values("contact_id")
        )
    return subqueries


def contact_cap_reason(
    *, tenant: Organisation, settings: CampaignSettings, purpose: str, contact_id: Any, now: datetime
) -> str:
    """Why one more message for ``purpose`` may not go to the contact now ("" when it may): the
    same rule as ``capped_contact_ids``, for one contact."""
    transactional = transactional_purposes(tenant=tenant)
    if is_exempt(settings, purpose, transactional):
        return ""
    if settings.cap_messages > 0:
        sent = _overall_messages(tenant, settings, transactional, now).filter(contact_id=contact_id).count()
        if sent >= settings.cap_messages:
            return CAPPED_OVERALL
    own = purpose_cap(settings, purpose)
    if own is not None:
        sent = (
            _counted(tenant, now - timedelta(days=own[1]))
            .filter(contact_id=contact_id, campaign__purpose=purpose)
            .count()
        )
        if sent >= own[0]:
            return CAPPED_PURPOSE
    return ""
