"""Small functions that create tenant-owned objects for tests, each inside its tenant."""

from __future__ import annotations

import itertools
from datetime import timedelta

from authn.models import ApiToken
from authn.services import IssuedToken, api_application_create
from segments.models import Contact
from tenants.context import tenant_context
from tenants.roles import Role

_counter = itertools.count(1)


def make_contact(tenant, **fields) -> Contact:
    number = next(_counter)
    values = {
        "email": f"synthetic{number}@{tenant.slug}.example.com",
        "first_name": "Testy",
        "last_name": f"Synthetic{number}",
        "external_id": f"EXT-{number:05d}",
    }
    values.update(fields)
    with tenant_context(tenant):
        contact = Contact(tenant=tenant, **values)
        contact.save()
    return contact


# What a token of each role could read through the API before applications had scopes; the
# 0005_api_applications migration converted existing tokens the same way.
ROLE_READ_SCOPES: dict[Role, list[str]] = {
    Role.ADMIN: ["contacts:read", "audit:read"],
    Role.MARKETER: ["contacts:read"],
    Role.COMPLIANCE_OFFICER: ["contacts:read", "audit:read"],
}


def make_token(
    tenant,
    actor,
    role: Role | None = None,
    expires_at=None,
    name: str = "Test integration",
    *,
    scopes: list[str] | None = None,
) -> IssuedToken:
    """An API application with one live token. It is approved for ``scopes``, or (for callers
    written when tokens had roles) for the read scopes of ``role``, a marketer's by default."""
    if scopes is None:
        scopes = ROLE_READ_SCOPES[Role(role or Role.MARKETER)]
    with tenant_context(tenant):
        issued = api_application_create(
            tenant=tenant, actor=actor, name=name, scopes=scopes, lifetime=timedelta(days=90)
        )
        if expires_at is not None:
            ApiToken.objects.for_tenant(tenant).filter(pk=issued.token.pk).update(expires_at=expires_at)
            issued.token.expires_at = expires_at
    return issued
