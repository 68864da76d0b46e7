"""Helpers for campaign tests: approved templates, segments, consenting contacts, campaigns."""

from __future__ import annotations

import itertools
from typing import Any

from audit.services import actor_for_user
from campaigns.models import Campaign, Message, MessageStatus
from campaigns.services import CampaignInput, campaign_approve, campaign_create
from consent.models import ConsentSource
from consent.services import consent_set
from segments.models import Segment
from templates.services import version_approve, version_submit
from templates.tests.support import make_template
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact

PLAIN_HTML = '<p>News from {{ org.name }}.</p><p><a href="{{ links.unsubscribe }}">Unsubscribe</a></p>'
PHI_HTML = (
    "<p>Hello {{ contact.first_name }}, see {{ event.provider_name }} on {{ event.appointment_at|datetime }}.</p>"
)
_names = itertools.count(1)


def from_domain(fixture: Any) -> str:
    return f"{fixture.tenant.slug}.example.com"


def approved_template(fixture: Any, *, purpose: str = "appointment_reminders", phi: bool = False):
    """A template whose version 1 a compliance officer approved; returns the version."""
    version = make_template(
        fixture.tenant,
        fixture.users[Role.MARKETER],
        name=f"Campaign template {next(_names)}",
        purpose=purpose,
        html=PHI_HTML if phi else PLAIN_HTML,
        subject="News from {{ org.name }}",
    )
    with tenant_context(fixture.tenant):
        version_submit(tenant=fixture.tenant, user=fixture.users[Role.MARKETER], version=version)
        return version_approve(tenant=fixture.tenant, user=fixture.users[Role.COMPLIANCE_OFFICER], version=version)


def segment(fixture: Any, rules: dict | None = None, name: str = "") -> Segment:
    with tenant_context(fixture.tenant):
        return Segment.objects.create(
            tenant=fixture.tenant,
            name=name or f"Segment {next(_names)}",
            rules=rules if rules is not None else {"all": []},
            created_by=fixture.users[Role.ADMIN],
        )


def consenting(fixture: Any, purpose: str = "appointment_reminders", **fields: Any):
    contact = make_contact(fixture.tenant, **fields)
    grant(fixture, contact, purpose)
    return contact


def grant(fixture: Any, contact: Any, purpose: str, status: str = "granted") -> None:
    with tenant_context(fixture.tenant):
        consent_set(
            tenant=fixture.tenant,
            actor=actor_for_user(fixture.users[Role.ADMIN]),
            contact=contact,
            purpose=purpose,
            status=status,
            source=ConsentSource.STAFF,
        )


def make_campaign(fixture: Any, *, version=None, seg=None, **overrides: Any) -> Campaign:
    version = version or approved_template(fixture)
    seg = seg if seg is not None else segment(fixture)
    values: dict[str, Any] = {
        "name": f"Campaign {next(_names)}",
        "template_id": version.template_id,
        "segment_id": seg.pk if seg else None,
        "from_name": "Synthetic Clinic",
        "from_address": f"news@{from_domain(fixture)}",
        **overrides,
    }
    with tenant_context(fixture.tenant):
        return campaign_create(tenant=fixture.tenant, user=fixture.users[Role.MARKETER], data=CampaignInput(**values))


def approve(fixture: Any, campaign: Campaign) -> Campaign:
    with tenant_context(fixture.tenant):
        return campaign_approve(tenant=fixture.tenant, user=fixture.users[Role.COMPLIANCE_OFFICER], campaign=campaign)


def statuses(fixture: Any, campaign: Campaign) -> dict[Any, str]:
    """contact id → message status."""
    with tenant_context(fixture.tenant):
        rows = Message.objects.for_tenant(fixture.tenant).filter(campaign_id=campaign.pk)
        return dict(rows.values_list("contact_id", "status"))


def message_rows(fixture: Any, campaign: Campaign) -> list[Message]:
    with tenant_context(fixture.tenant):
        return list(Message.objects.for_tenant(fixture.tenant).filter(campaign_id=campaign.pk).order_by("id"))


def campaign_rows_in_every_table(fixture: Any) -> None:
    """A row in each campaigns table for the fixture's tenant (row-level security tests)."""
    from campaigns.models import CampaignSettings
    from segments.models import Contact

    campaign = make_campaign(fixture)
    with tenant_context(fixture.tenant):
        CampaignSettings.objects.create(tenant=fixture.tenant)
        # The tenant's existing contact if it has one (other RLS tests count exactly one).
        contact = Contact.objects.for_tenant(fixture.tenant).order_by("created_at").first()
    contact = contact or make_contact(fixture.tenant)
    with tenant_context(fixture.tenant):
        Message(
            tenant=fixture.tenant,
            campaign=campaign,
            contact=contact,
            status=MessageStatus.QUEUED,
            send_after=campaign.created_at,
        ).save()
        trigger_rows(fixture, contact)
    journey_rows(fixture, contact)


def trigger_rows(fixture: Any, contact: Any) -> None:
    """An organisation's own trigger type and one received event (row-level security tests)."""
    from campaigns.triggers import trigger_events_receive, trigger_type_create

    actor = actor_for_user(fixture.users[Role.ADMIN])
    with tenant_context(fixture.tenant):
        trigger_type_create(
            tenant=fixture.tenant,
            actor=actor,
            key="referral.received",
            label="Referral received",
            fields=[{"key": "referral_id", "type": "text", "required": True}],
            correlation_field="referral_id",
        )
        trigger_events_receive(
            tenant=fixture.tenant,
            actor=actor,
            items=[
                {
                    "id": f"rls-{fixture.tenant.slug}",
                    "type": "referral.received",
                    "contact": {"id": str(contact.pk)},
                    "data": {"referral_id": "REF-SYNTHETIC-1"},
                }
            ],
        )


def journey_rows(fixture: Any, contact: Any) -> None:
    """An active journey (version, send step) and one walk on it (row-level security tests)."""
    from campaigns.tests.journey_support import book, make_journey

    make_journey(fixture)
    book(fixture, contact, event_id=f"rls-walk-{fixture.tenant.slug}")
