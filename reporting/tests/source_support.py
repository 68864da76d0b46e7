"""Helpers for the tests of the event sources that are not message moves (complaints,
unsubscribes, the escrow portal): the events stored and what the rollups say."""

from __future__ import annotations

from typing import Any

from django.db.models import Sum

from reporting.models import CampaignDailyStat, CampaignDomainStat, Event, TenantDailyStat, TenantDomainDailyStat
from tenants.context import tenant_context


def recorded(tenant: Any, kind: str) -> list[tuple[Any, Any, Any, str, str]]:
    """(campaign id, message id, contact id, recipient domain, detail) of each ``kind`` event."""
    with tenant_context(tenant):
        return list(
            Event.objects.for_tenant(tenant)
            .filter(kind=kind)
            .order_by("id")
            .values_list("campaign_id", "message_id", "contact_id", "recipient_domain", "detail")
        )


def _total(queryset: Any) -> int:
    return int(queryset.aggregate(total=Sum("count"))["total"] or 0)


def rollups(tenant: Any, metric: str, *, campaign_id: Any = None, domain: str = "") -> dict[str, int]:
    """What each rollup counts under ``metric``: the organisation's days (and its days for
    ``domain``), and with ``campaign_id`` the campaign's days (and its row for ``domain``)."""
    with tenant_context(tenant):
        figures = {
            "tenant": _total(TenantDailyStat.objects.for_tenant(tenant).filter(metric=metric)),
            "tenant_domain": _total(
                TenantDomainDailyStat.objects.for_tenant(tenant).filter(metric=metric, domain=domain)
            ),
        }
        if campaign_id is not None:
            figures["campaign"] = _total(
                CampaignDailyStat.objects.for_tenant(tenant).filter(campaign_id=campaign_id, metric=metric)
            )
            figures["campaign_domain"] = _total(
                CampaignDomainStat.objects.for_tenant(tenant).filter(
                    campaign_id=campaign_id, domain=domain, metric=metric
                )
            )
    return figures
