"""A row in every event-store table for one tenant (``tests/test_rls.py``)."""

from __future__ import annotations

import uuid
from typing import Any

from django.utils import timezone

from reporting.events import NewEvent, events_record
from reporting.models import EventKind, TrackedLink, TrackingSettings
from templates.models import TemplateVersion


def event_rows_in_every_table(fixture: Any) -> None:
    """Run inside the tenant's ``tenant_context``."""
    now = timezone.now()
    campaign_id, contact_id = uuid.uuid4(), uuid.uuid4()
    message_id = int(fixture.tenant.pk) * 1_000_000 + 1
    common: dict[str, Any] = {
        "occurred_at": now,
        "campaign_id": campaign_id,
        "message_id": message_id,
        "contact_id": contact_id,
        "recipient_domain": f"{fixture.tenant.slug}.example.test",
    }
    # The tracking tables too (a link of one of the tenant's template versions).
    TrackingSettings.objects.get_or_create(tenant=fixture.tenant)
    version = TemplateVersion.objects.for_tenant(fixture.tenant).first()
    TrackedLink.objects.get_or_create(tenant=fixture.tenant, version=version, url="https://clinic.example/events")
    events_record(
        tenant=fixture.tenant,
        events=[
            NewEvent(kind=EventKind.SENT, delivery_ms=1000, **common),
            NewEvent(kind=EventKind.OPENED, **common),
            NewEvent(kind=EventKind.CLICKED, link_id=1, **common),
        ],
    )
