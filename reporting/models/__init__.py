"""Reporting's tables, one module per part: the event store and its rollups (``events``),
tracking (``tracking``), report exports (``exports``)."""

from reporting.models.events import (
    CampaignDailyStat,
    CampaignDomainStat,
    CampaignLinkStat,
    ContactEngagement,
    Event,
    EventKind,
    MessageEngagement,
    TenantDailyStat,
    TenantDomainDailyStat,
)
from reporting.models.exports import *  # noqa: F403
from reporting.models.tracking import *  # noqa: F403

__all__ = [
    "CampaignDailyStat",
    "CampaignDomainStat",
    "CampaignLinkStat",
    "ContactEngagement",
    "Event",
    "EventKind",
    "MessageEngagement",
    "TenantDailyStat",
    "TenantDomainDailyStat",
]
