"""Running Celery work as a tenant.

Tasks receive the tenant id as an explicit argument (never a model instance, never PHI) and
run their body inside ``tenant_context``; an inactive or unknown tenant is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from tenants.context import tenant_context
from tenants.models import Organisation


class UnknownTenant(LookupError):
    pass


def active_organisation(tenant_id: int) -> Organisation | None:
    """The active organisation with this id, or None (gone or deactivated). Organisations are
    not tenant data: no tenant context is needed. Tasks, and public links that name their
    organisation (escrow tokens, sealed Message-IDs), start here."""
    return Organisation.objects.filter(pk=tenant_id, is_active=True).first()


def organisation_for_task(tenant_id: int) -> Organisation:
    tenant = active_organisation(tenant_id)
    if tenant is None:
        raise UnknownTenant(f"Organisation {tenant_id} does not exist or is inactive.")
    return tenant


def runs_as_tenant[R](body: Callable[..., R]) -> Callable[..., R]:
    """Decorate a task body ``body(tenant, *args)`` so the task is called as
    ``task.delay(tenant_id, *args)``."""

    @wraps(body)
    def wrapper(tenant_id: int, *args: Any, **kwargs: Any) -> R:
        tenant = organisation_for_task(tenant_id)
        with tenant_context(tenant):
            return body(tenant, *args, **kwargs)

    return wrapper
