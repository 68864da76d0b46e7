"""Objects of tenant A for tests/test_isolation.py's campaigns routes, and the checks that B's
attempts changed nothing."""

from __future__ import annotations

from typing import Any

from campaigns.models import Campaign, CampaignStatus, Message
from campaigns.tests.support import from_domain, make_campaign
from tenants.context import tenant_context


def _campaign(world, status: str = CampaignStatus.DRAFT) -> Campaign:
    campaign = make_campaign(world.a)
    if status != CampaignStatus.DRAFT:
        with tenant_context(world.a.tenant):
            Campaign.objects.for_tenant(world.a.tenant).filter(pk=campaign.pk).update(status=status)
    return campaign


def draft_kwargs(world) -> dict[str, Any]:
    return {"campaign_id": _campaign(world).pk}


def sending_kwargs(world) -> dict[str, Any]:
    return {"campaign_id": _campaign(world, CampaignStatus.SENDING).pk}


def paused_kwargs(world) -> dict[str, Any]:
    return {"campaign_id": _campaign(world, CampaignStatus.PAUSED).pk}


def launchable_kwargs(world) -> dict[str, Any]:
    """A draft every pre-launch check passes for (its audience may be empty)."""
    verify_sending_domain(world.a, from_domain(world.a))
    return draft_kwargs(world)


def verify_sending_domain(fixture, domain: str) -> None:
    """Make ``domain`` a verified sending domain of the fixture's tenant. It needs delivery's
    sending domains (being built): until they exist the routes that need it are skipped."""
    import pytest

    try:
        from delivery.tests.support import make_verified_sending_domain  # type: ignore[import-not-found]
    except ImportError:
        pytest.skip("delivery.sending_domains is not built yet: no domain can be verified")
    make_verified_sending_domain(fixture, domain)


def _state(world, kwargs) -> tuple[str, bool, int]:
    with tenant_context(world.a.tenant):
        campaign = Campaign.objects.for_tenant(world.a.tenant).get(pk=kwargs["campaign_id"])
        messages = Message.objects.for_tenant(world.a.tenant).filter(campaign_id=campaign.pk).count()
        return campaign.status, campaign.approved_at is not None, messages


def draft_unchanged(world, kwargs) -> bool:
    return _state(world, kwargs) == (CampaignStatus.DRAFT, False, 0)


def sending_unchanged(world, kwargs) -> bool:
    return _state(world, kwargs) == (CampaignStatus.SENDING, False, 0)


def paused_unchanged(world, kwargs) -> bool:
    return _state(world, kwargs) == (CampaignStatus.PAUSED, False, 0)


def transactional_message_kwargs(world) -> dict[str, Any]:
    """A message of one of tenant A's transactional containers (``GET /api/messages/<id>/``)."""
    from campaigns.models import CampaignKind
    from campaigns.tests.support import approved_template
    from tests.factories import make_contact

    version = approved_template(world.a)
    with tenant_context(world.a.tenant):
        container = Campaign.objects.create(
            tenant=world.a.tenant,
            kind=CampaignKind.TRANSACTIONAL,
            name="Isolation transactional",
            purpose=version.template.purpose,
            template_id=version.template_id,
            template_version=version,
            from_name="Synthetic Clinic",
            from_address=f"no-reply@{from_domain(world.a)}",
            status=CampaignStatus.SENDING,
            created_by=world.a.users[next(iter(world.a.users))],
        )
    contact = make_contact(world.a.tenant)
    with tenant_context(world.a.tenant):
        message = Message.objects.create(
            tenant=world.a.tenant,
            campaign=container,
            contact=contact,
            source_key="api:isolation",
            send_after=container.created_at,
        )
    return {"message_id": message.pk}


# --- Journeys -------------------------------------------------------------------------------------


def _journey_in_review(world) -> tuple[Any, Any]:
    from audit.services import actor_for_user
    from campaigns.journeys import JourneyInput, journey_create, journey_version_submit
    from campaigns.tests.support import approved_template
    from tenants.roles import Role

    a = world.a
    template = approved_template(a).template
    marketer = a.users[Role.MARKETER]
    with tenant_context(a.tenant):
        journey = journey_create(
            tenant=a.tenant,
            user=marketer,
            actor=actor_for_user(marketer),
            data=JourneyInput(
                "Reminders", "appointment.scheduled", "appointment_reminders", "Clinic", f"r@{from_domain(a)}"
            ),
            steps=[{"type": "wait", "hours": 1}, {"type": "send", "template": str(template.pk)}],
        )
        version = journey_version_submit(
            tenant=a.tenant, user=marketer, actor=actor_for_user(marketer), version=journey.versions.get()
        )
    return journey, version


def journey_kwargs(world) -> dict[str, Any]:
    journey, _ = _journey_in_review(world)
    return {"journey_id": journey.pk}


def journey_version_kwargs(world) -> dict[str, Any]:
    journey, version = _journey_in_review(world)
    return {"journey_id": journey.pk, "version_id": version.pk}


def journey_unchanged(world, kwargs) -> bool:
    from campaigns.models import Journey, JourneyVersion

    with tenant_context(world.a.tenant):
        journey = Journey.objects.for_tenant(world.a.tenant).get(pk=kwargs["journey_id"])
        versions = list(JourneyVersion.objects.for_tenant(world.a.tenant).filter(journey=journey))
    return journey.status == "draft" and [(v.number, v.status, len(v.steps)) for v in versions] == [(1, "in_review", 2)]
