from __future__ import annotations

import uuid

from django.db.models import Count, QuerySet
from django.http import Http404

from tenants.context import require_tenant_is_current
from tenants.models import Membership, Organisation


def membership_list(*, tenant: Organisation) -> QuerySet[Membership]:
    return Membership.objects.for_tenant(tenant).select_related("user").order_by("user__email")


def membership_get(*, tenant: Organisation, membership_id: uuid.UUID) -> Membership:
    """404 both when the membership does not exist and when it belongs to another tenant."""
    membership = membership_list(tenant=tenant).filter(pk=membership_id).first()
    if membership is None:
        raise Http404("No such member.")
    return membership


def role_counts(*, tenant: Organisation) -> dict[str, int]:
    require_tenant_is_current(tenant)
    rows = Membership.objects.for_tenant(tenant).filter(is_active=True).values("role").annotate(n=Count("id"))
    return {row["role"]: row["n"] for row in rows}
