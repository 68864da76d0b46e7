"""The gate: no PHI leaves for an organisation without a business associate agreement in force.

Campaign launch and the send pipeline ask ``phi_sending_decision`` (to explain) or call
``require_active_baa`` (to stop); messages without PHI are always allowed. The decision is made
from the agreement's dates at the moment asked, so an agreement past its expiry date stops PHI
even if the hourly expiry task has not run yet.

Call it inside the organisation's ``tenant_context`` (a request or a task running as the tenant).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.urls import reverse

from baa.models import AgreementStatus
from baa.selectors import (
    agreement_active_row,
    agreement_in_force,
    agreement_latest_ended,
    agreement_pending,
    utc_date,
)
from tenants.models import Organisation


class GateCode:
    NOT_PHI = "not_phi"
    ACTIVE = "active"
    NO_AGREEMENT = "no_agreement"
    UNSIGNED = "unsigned"
    AWAITING_COUNTERSIGNATURE = "awaiting_countersignature"
    NOT_YET_EFFECTIVE = "not_yet_effective"
    EXPIRED = "expired"
    TERMINATED = "terminated"


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    code: str  # one of GateCode: stable, for programs
    reason: str  # for people: says why, never holds PHI
    sign_url: str  # the BAA page, where an admin signs
    agreement_id: str | None = None  # the agreement in force (or the one that ended)
    expiry_date: date | None = None


class BaaRequired(PermissionError):
    """PHI was about to be sent for an organisation without a BAA in force. The message is the
    decision's reason (no PHI); ``decision`` carries the code and the sign URL."""

    def __init__(self, decision: GateDecision) -> None:
        super().__init__(decision.reason)
        self.decision = decision


def _fmt(day: date | None) -> str:
    return day.isoformat() if day is not None else "an unknown date"


def phi_sending_decision(*, tenant: Organisation, phi: bool = True, at: datetime | None = None) -> GateDecision:
    """May ``tenant`` send a message at ``at`` (now by default)? ``phi=False``: always yes."""
    sign_url = reverse("baa:status")
    if not phi:
        return GateDecision(True, GateCode.NOT_PHI, "The message carries no PHI: no BAA is needed.", sign_url)
    in_force = agreement_in_force(tenant=tenant, at=at)
    if in_force is not None:
        reason = f"A business associate agreement is in force until {_fmt(in_force.expiry_date)}."
        return GateDecision(True, GateCode.ACTIVE, reason, sign_url, str(in_force.pk), in_force.expiry_date)
    today = utc_date(at)
    active = agreement_active_row(tenant=tenant)
    if active is not None:
        if active.expiry_date is not None and active.expiry_date <= today:
            reason = (
                f"The business associate agreement expired on {_fmt(active.expiry_date)}: "
                "PHI cannot be sent until an admin signs a new one."
            )
            return GateDecision(False, GateCode.EXPIRED, reason, sign_url, str(active.pk), active.expiry_date)
        reason = f"The business associate agreement takes effect on {_fmt(active.effective_date)}."
        return GateDecision(False, GateCode.NOT_YET_EFFECTIVE, reason, sign_url, str(active.pk), active.expiry_date)
    pending = agreement_pending(tenant=tenant)
    if pending is not None and pending.status == AgreementStatus.SIGNED:
        reason = "The business associate agreement is signed and awaits Sealpost's countersignature."
        return GateDecision(False, GateCode.AWAITING_COUNTERSIGNATURE, reason, sign_url, str(pending.pk))
    ended = agreement_latest_ended(tenant=tenant)
    if ended is not None and ended.status == AgreementStatus.TERMINATED:
        reason = (
            f"The business associate agreement was terminated on {_fmt(ended.termination_date)}: "
            "PHI cannot be sent until an admin signs a new one."
        )
        return GateDecision(False, GateCode.TERMINATED, reason, sign_url, str(ended.pk), ended.expiry_date)
    if ended is not None:
        reason = (
            f"The business associate agreement expired on {_fmt(ended.expiry_date)}: "
            "PHI cannot be sent until an admin signs a new one."
        )
        return GateDecision(False, GateCode.EXPIRED, reason, sign_url, str(ended.pk), ended.expiry_date)
    if pending is not None:
        reason = "A business associate agreement is prepared but not signed: an admin must sign it before PHI is sent."
        return GateDecision(False, GateCode.UNSIGNED, reason, sign_url, str(pending.pk))
    reason = "No business associate agreement is in force: an admin must sign one before PHI is sent."
    return GateDecision(False, GateCode.NO_AGREEMENT, reason, sign_url)


def require_active_baa(*, tenant: Organisation, phi: bool = True, at: datetime | None = None) -> GateDecision:
    """Raise ``BaaRequired`` unless ``tenant`` may send (PHI) now; returns the allowing decision."""
    decision = phi_sending_decision(tenant=tenant, phi=phi, at=at)
    if not decision.allowed:
        raise BaaRequired(decision)
    return decision
