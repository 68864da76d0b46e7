"""Tracking rows and route fixtures for the shared tests (tests/test_rls.py, tests/test_isolation.py)."""

from __future__ import annotations

from typing import Any

from tenants.context import tenant_context
from tenants.roles import Role


def tracking_rows_in_every_table(fixture: Any) -> None:
    """A ``TrackingSettings`` row and a ``TrackedLink`` for the fixture's tenant."""
    from campaigns.tests.support import approved_template
    from reporting.models import TrackedLink
    from reporting.tracking import tracking_settings_update

    version = approved_template(fixture)
    with tenant_context(fixture.tenant):
        tracking_settings_update(
            tenant=fixture.tenant,
            user=fixture.users[Role.ADMIN],
            track_opens=True,
            track_clicks=True,
            track_phi_messages=False,
        )
        TrackedLink.objects.create(tenant=fixture.tenant, version=version, url="https://clinic.example/rls")


def opted_out_contact_kwargs(world: Any) -> dict[str, Any]:
    from tests.factories import make_contact

    return {"contact_id": make_contact(world.a.tenant, tracking_opt_out=True).pk}


def contact_still_opted_out(world: Any, kwargs: dict[str, Any]) -> bool:
    from segments.models import Contact

    with tenant_context(world.a.tenant):
        return Contact.objects.for_tenant(world.a.tenant).get(pk=kwargs["contact_id"]).tracking_opt_out


def campaign_still_tracked(world: Any, kwargs: dict[str, Any]) -> bool:
    from campaigns.models import Campaign
    from campaigns.tests.isolation import draft_unchanged

    with tenant_context(world.a.tenant):
        tracked = Campaign.objects.for_tenant(world.a.tenant).get(pk=kwargs["campaign_id"]).tracking_enabled
    return tracked and draft_unchanged(world, kwargs)
