from __future__ import annotations

from audit.models import AuditEvent
from tenants.context import tenant_context


def actions(tenant, since_seq: int = 0) -> list[str]:
    with tenant_context(tenant):
        return list(
            AuditEvent.objects.filter(chain_id=tenant.pk, seq__gt=since_seq)
            .order_by("seq")
            .values_list("action", flat=True)
        )


def head_seq(tenant) -> int:
    with tenant_context(tenant):
        return AuditEvent.objects.filter(chain_id=tenant.pk).order_by("-seq").values_list("seq", flat=True).first() or 0


def events(tenant, since_seq: int = 0) -> list[tuple[str, dict]]:
    """(action, details) of the tenant's events after ``since_seq``, oldest first."""
    import json

    with tenant_context(tenant):
        rows = AuditEvent.objects.filter(chain_id=tenant.pk, seq__gt=since_seq).order_by("seq")
        return [(row.action, json.loads(row.details)) for row in rows]
