"""Events that are not moves of a campaign message: complaints (inbound ARF reports and SES
notifications), unsubscribes (one-click, the unsubscribe page, mail, the preference centre) and
the escrow portal (opened, read, reply received).

``message_event_record`` is the one call those sources make, inside their own transaction and
``tenant_context``: it looks up the message's campaign, contact and recipient domain (one
query) and records the event with ``reporting.events.events_record``, so the rollups move in
the same transaction as the action that caused them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from reporting.events import NewEvent, events_record
from reporting.models import Event
from tenants.context import require_tenant_is_current
from tenants.models import Organisation


def message_event_record(
    *,
    tenant: Organisation,
    kind: str,
    message_id: int | None = None,
    campaign_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    at: datetime | None = None,
    detail: str = "",
    once_per_message: bool = False,
    message_of_contact: bool = False,
) -> bool:
    """Record one ``kind`` event. With ``message_id`` the campaign, contact and recipient domain
    come from the message (a message of another tenant, or one gone, is ignored and the given
    ids are used). ``once_per_message``: skip it if the message already has an event of this
    kind (the message row is locked first, so two concurrent reports count once).
    ``message_of_contact``: use the message only if it is ``contact_id``'s (a recipient's link
    names both; a message of someone else is set aside). Returns whether an event was recorded."""
    require_tenant_is_current(tenant)
    with transaction.atomic(savepoint=False):  # the caller's transaction, or one of its own
        return _record(
            tenant, kind, message_id, campaign_id, contact_id, at, detail, once_per_message, message_of_contact
        )


def _record(
    tenant: Organisation,
    kind: str,
    message_id: int | None,
    campaign_id: uuid.UUID | None,
    contact_id: uuid.UUID | None,
    at: datetime | None,
    detail: str,
    once_per_message: bool,
    message_of_contact: bool = False,
) -> bool:
    from campaigns.models import Message

    domain = ""
    if message_id is not None:
        rows = Message.objects.for_tenant(tenant).filter(pk=message_id)
        if once_per_message:
            rows = rows.select_for_update()
        row: Any = rows.values_list("campaign_id", "contact_id", "recipient_domain").first()
        if row is None or (message_of_contact and row[1] != contact_id):
            message_id = None
        else:
            campaign_id, contact_id = row[0], row[1] or contact_id
            domain = row[2] or ""
            if once_per_message and Event.objects.for_tenant(tenant).filter(message_id=message_id, kind=kind).exists():
                return False
    events_record(
        tenant=tenant,
        events=[
            NewEvent(
                kind=kind,
                occurred_at=at or timezone.now(),
                campaign_id=campaign_id,
                message_id=message_id,
                contact_id=contact_id,
                recipient_domain=domain,
                detail=detail[:64],
            )
        ],
    )
    return True
