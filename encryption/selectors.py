from __future__ import annotations

from django.db.models import QuerySet

from encryption.models import KeyRotation, KeyStatus, TenantKey
from tenants.context import require_tenant_is_current
from tenants.models import Organisation


def tenant_key_list(*, tenant: Organisation) -> QuerySet[TenantKey]:
    require_tenant_is_current(tenant)
    return TenantKey.objects.for_tenant(tenant).order_by("purpose", "-version")


def latest_rotation(*, tenant: Organisation) -> KeyRotation | None:
    require_tenant_is_current(tenant)
    return KeyRotation.objects.for_tenant(tenant).order_by("-started_at").first()


def keys_destroyed(*, tenant: Organisation) -> bool:
    """True once the tenant's keys were shredded and no new key has been made since."""
    require_tenant_is_current(tenant)
    keys = TenantKey.objects.for_tenant(tenant)
    return keys.filter(status=KeyStatus.DESTROYED).exists() and not keys.filter(status=KeyStatus.ACTIVE).exists()
