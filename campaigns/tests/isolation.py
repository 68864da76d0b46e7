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
