"""Small functions that create tenant-owned objects for tests, each inside its tenant."""

from __future__ import annotations

import itertools

from authn.services import IssuedToken, api_token_create
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


def make_token(
    tenant, actor, role: Role = Role.MARKETER, expires_at=None, name: str = "Test integration"
) -> IssuedToken:
    with tenant_context(tenant):
        return api_token_create(tenant=tenant, actor=actor, name=name, role=role, expires_at=expires_at)
