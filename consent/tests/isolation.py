"""Objects of tenant A for the tenant-isolation harness (tests/test_isolation.py), each with a
check that tenant B's attempts left it as it was."""

from __future__ import annotations

from typing import Any

from consent.models import AuthorisationText, ConsentEvent, MarketingAuthorisation, Purpose, Suppression
from consent.services import purpose_create, suppression_add
from consent.tests.support import STAFF, authorise, publish_text
from tenants.context import tenant_context
from tests.factories import make_contact


def contact_kwargs(world) -> dict[str, Any]:
    return {"contact_id": make_contact(world.a.tenant).pk}


def contact_consent_unchanged(world, kwargs) -> bool:
    with tenant_context(world.a.tenant):
        return not ConsentEvent.objects.for_tenant(world.a.tenant).filter(contact_id=kwargs["contact_id"]).exists()


def authorisation_kwargs(world) -> dict[str, Any]:
    return {"authorisation_id": authorise(world.a.tenant, make_contact(world.a.tenant)).pk}


def authorisation_unrevoked(world, kwargs) -> bool:
    with tenant_context(world.a.tenant):
        found = MarketingAuthorisation.objects.for_tenant(world.a.tenant).get(pk=kwargs["authorisation_id"])
    return found.revoked_at is None


def purpose_kwargs(world) -> dict[str, Any]:
    tenant = world.a.tenant
    with tenant_context(tenant):
        purpose = purpose_create(tenant=tenant, actor=STAFF, key="isolation", name="Isolation", is_marketing=False)
    return {"purpose_id": purpose.pk}


def purpose_unarchived(world, kwargs) -> bool:
    with tenant_context(world.a.tenant):
        return not Purpose.objects.for_tenant(world.a.tenant).get(pk=kwargs["purpose_id"]).is_archived


def text_kwargs(world) -> dict[str, Any]:
    return {"text_id": publish_text(world.a.tenant, name="Isolation text").pk}


def text_unrevised(world, kwargs) -> bool:
    with tenant_context(world.a.tenant):
        return AuthorisationText.objects.for_tenant(world.a.tenant).filter(name="Isolation text").count() == 1


def suppression_kwargs(world) -> dict[str, Any]:
    tenant = world.a.tenant
    with tenant_context(tenant):
        suppression = suppression_add(tenant=tenant, actor=STAFF, email="isolation@example.com", reason="manual")
    return {"suppression_id": suppression.pk}


def suppression_kept(world, kwargs) -> bool:
    with tenant_context(world.a.tenant):
        return Suppression.objects.for_tenant(world.a.tenant).filter(pk=kwargs["suppression_id"]).exists()
