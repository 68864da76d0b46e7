from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.http import Http404

from encryption.models import (
    KeyRotation,
    KeyStatus,
    ProtectionPolicy,
    QuarantinedMessage,
    QuarantineStatus,
    TenantKey,
)
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


# --- Protection policy and quarantine ---------------------------------------------------------


def protection_policy_for(*, tenant: Organisation) -> ProtectionPolicy:
    """The organisation's saved protection policy, or an unsaved one with the defaults (saved on
    the first change)."""
    require_tenant_is_current(tenant)
    policy = ProtectionPolicy.objects.for_tenant(tenant).first()
    return policy if policy is not None else ProtectionPolicy(tenant=tenant)


def quarantine_list(
    *, tenant: Organisation, status: str | None = QuarantineStatus.HELD
) -> QuerySet[QuarantinedMessage]:
    """Held (or, with ``status``, released or rejected; ``None``: all) messages, newest first.
    The encrypted columns are deferred: the list never decrypts."""
    require_tenant_is_current(tenant)
    rows = QuarantinedMessage.objects.for_tenant(tenant).defer("subject", "text", "html").order_by("-created_at")
    return rows if status is None else rows.filter(status=status)


def quarantine_get(*, tenant: Organisation, item_id: uuid.UUID) -> QuarantinedMessage:
    """404 both when the item does not exist and when it belongs to another tenant."""
    require_tenant_is_current(tenant)
    item = QuarantinedMessage.objects.for_tenant(tenant).filter(pk=item_id).first()
    if item is None:
        raise Http404("No such held message.")
    return item
