"""Tenant-scoped model base and manager: the tenant is never optional.

``objects`` on a tenant-owned model always filters by the active tenant and raises outside
``tenant_context``; ``for_tenant(tenant)`` additionally checks that the caller's tenant is the
active one. ``unscoped`` exists for the rare cross-tenant reads that row-level security itself
governs (a user's own memberships, the API token presented) and for migrations; every use of it
should be obvious in review.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models

from sealpost.ids import uuid7
from tenants.context import require_current_tenant, require_tenant_is_current

if TYPE_CHECKING:
    from tenants.models import Organisation

M = TypeVar("M", bound="TenantModel")


class TenantManager(models.Manager[M]):
    def get_queryset(self) -> models.QuerySet[M]:
        tenant = require_current_tenant()
        return super().get_queryset().filter(tenant_id=tenant.pk)

    def for_tenant(self, tenant: Organisation) -> models.QuerySet[M]:
        require_tenant_is_current(tenant)
        return self.get_queryset()


class TenantModel(models.Model):
    """Base of every tenant-owned table. Row-level security is added by the migration that
    creates the table (``tenants.rls.EnableRowLevelSecurity``); ``tests/test_rls.py`` fails for a
    tenant-owned table without it."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    tenant = models.ForeignKey("tenants.Organisation", on_delete=models.PROTECT, related_name="+")

    objects: TenantManager[Any] = TenantManager()
    unscoped: models.Manager[Any] = models.Manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A row is only ever written for the tenant the code runs as.
        require_tenant_is_current(self.tenant)
        super().save(*args, **kwargs)
