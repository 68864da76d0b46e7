"""The decision at sign-in, once a first factor has been verified.

1. The organisation the session will open in (the user's first active membership, as the tenant
   middleware chooses) supplies the conditional-access policy; its decision is audited.
2. Block: the sign-in is refused with the rule's reason.
3. Step-up: the user is asked for a second step they actually have — a passkey if they have one,
   otherwise (where the policy allows fallback factors) an authenticator code or a recovery code.
   A user who must use a factor they have not enrolled yet is signed in and taken to enrollment
   (``authn.enforcement`` lets them do nothing else).
4. Allow: the session opens.
Suspicious sign-ins (a new country, impossible travel) alert the user and the admins.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.http import HttpRequest
from django.utils import timezone

from authn.auth_state import PENDING_KEY
from authn.binding import device_secret_of, hash_device_secret
from authn.break_glass import active_break_glass_for
from authn.conditional_access import Decision, Outcome, PreviousSignIn, Signals, evaluate, required_factor
from authn.factors import fallback_factors_allowed, recovery_codes_left, user_has_totp
from authn.geo import Location, locate
from authn.models import AccessPolicy, Factor, KnownDevice, RequiredFactor, User, UserSession
from authn.notifications import suspicious_sign_in_alert
from authn.passkeys import user_has_passkey
from authn.policies import access_decision_record, access_policy_for
from sealpost.request_id import client_ip
from tenants.context import principal_context, tenant_context
from tenants.models import Membership
from tenants.resolution import user_memberships

PENDING_SECONDS = 5 * 60

if TYPE_CHECKING:
    from authn.conditional_access import Decision, PreviousSignIn, Signals


@dataclass(frozen=True)
class Verdict:
    outcome: str  # "complete", "second_factor", "blocked"
    reason: str = ""
    acceptable: tuple[str, ...] = ()
    location: Location | None = None
    decision: Decision | None = None


def landing_membership(user: User) -> Membership | None:
    with principal_context(user_id=user.pk):
        memberships = user_memberships(user.pk)
    return memberships[0] if memberships else None


def _device_known(request: HttpRequest, user: User) -> bool:
    devices = KnownDevice.objects.filter(user=user)
    if not devices.exists():
        return True  # a first sign-in has no baseline to be "new" against
    secret = device_secret_of(request)
    return secret is not None and devices.filter(device_hash=hash_device_secret(secret)).exists()


def _previous_sign_in(user: User) -> PreviousSignIn | None:
    last = UserSession.objects.filter(user=user).order_by("-created_at").first()
    if last is None:
        return None
    return PreviousSignIn(at=last.created_at, country=last.country, latitude=last.latitude, longitude=last.longitude)


def _known_countries(user: User) -> frozenset[str]:
    return frozenset(UserSession.objects.filter(user=user).exclude(country="").values_list("country", flat=True))


def signals_for(request: HttpRequest, user: User, *, factor: Factor, role: str, break_glass: bool) -> Signals:
    ip = client_ip(request)
    return Signals(
        now=timezone.now(),
        ip=ip,
        location=locate(ip),
        role=role,
        factor=factor,
        device_known=_device_known(request, user),
        known_countries=_known_countries(user),
        previous=_previous_sign_in(user),
        break_glass=break_glass,
    )


def _alerts_for(decision: Decision) -> tuple[str, ...]:
    reasons = []
    if decision.signals.get("new_country"):
        reasons.append("new_country")
    if decision.rule == "impossible_travel" or decision.signals.get("impossible_travel"):
        reasons.append("impossible_travel")
    return tuple(reasons)


def _second_factors_available(user: User, policy: AccessPolicy, minimum: RequiredFactor) -> tuple[str, ...]:
    available: list[str] = []
    if user_has_passkey(user):
        available.append("passkey")
    if minimum != RequiredFactor.PASSKEY and policy.allow_fallback_factors and fallback_factors_allowed(user):
        if user_has_totp(user):
            available.append("totp")
        if recovery_codes_left(user) > 0:
            available.append("recovery")
    return tuple(available)


def decide_sign_in(request: HttpRequest, user: User, *, factor: Factor) -> Verdict:
    membership = landing_membership(user)
    if membership is None:
        return Verdict("complete")
    with tenant_context(membership.tenant, switch_from_active=True):
        policy = access_policy_for(tenant=membership.tenant)
        grant = active_break_glass_for(tenant=membership.tenant, user_id=user.pk)
        role = str(grant.role) if grant else str(membership.role)
        signals = signals_for(request, user, factor=factor, role=role, break_glass=grant is not None)
        decision = evaluate(policy, signals, at_sign_in=True)
        access_decision_record(tenant=membership.tenant, user=user, decision=decision, stage="sign_in")
        alerts = _alerts_for(decision)
        if alerts:
            suspicious_sign_in_alert(
                tenant=membership.tenant, user=user, reasons=list(alerts), decision_rule=decision.rule
            )
        if decision.outcome == Outcome.ALLOW:
            return Verdict("complete", location=signals.location, decision=decision)
        if decision.outcome == Outcome.BLOCK:
            return Verdict("blocked", reason=decision.reason, decision=decision)
        if decision.rule == "factor":
            required = required_factor(policy, role)
            available = _second_factors_available(user, policy, required)
            if not available:
                # Signed in, but only to enroll the factor the role requires.
                return Verdict("complete", location=signals.location, decision=decision)
            return Verdict("second_factor", acceptable=available, location=signals.location, decision=decision)
        available = _second_factors_available(user, policy, RequiredFactor.SECOND_FACTOR)
        if "passkey" in available:
            available = ("passkey",)
        if not available:
            return Verdict(
                "blocked",
                reason=f"{decision.reason} Confirming it needs a passkey or an authenticator app, and this "
                "account has neither: ask your admin.",
                decision=decision,
            )
        return Verdict("second_factor", acceptable=available, location=signals.location, decision=decision)


# --- The pending second step --------------------------------------------------------------------


@dataclass(frozen=True)
class PendingSignIn:
    user_id: int
    first_factor: Factor
    acceptable: tuple[str, ...]
    country: str
    latitude: float | None
    longitude: float | None


def store_pending(request: HttpRequest, user: User, verdict: Verdict, first_factor: Factor) -> None:
    location = verdict.location
    request.session.cycle_key()
    request.session[PENDING_KEY] = {
        "user_id": user.pk,
        "first_factor": first_factor.value,
        "acceptable": list(verdict.acceptable),
        "started": time.time(),
        "country": location.country if location else "",
        "latitude": location.latitude if location else None,
        "longitude": location.longitude if location else None,
    }


def pending_sign_in(request: HttpRequest) -> PendingSignIn | None:
    raw = request.session.get(PENDING_KEY)
    if not isinstance(raw, dict):
        return None
    if time.time() - float(raw.get("started", 0)) > PENDING_SECONDS:
        request.session.pop(PENDING_KEY, None)
        return None
    return PendingSignIn(
        user_id=int(raw["user_id"]),
        first_factor=Factor(raw["first_factor"]),
        acceptable=tuple(raw["acceptable"]),
        country=str(raw.get("country") or ""),
        latitude=raw.get("latitude"),
        longitude=raw.get("longitude"),
    )


def pending_user(pending: PendingSignIn) -> User | None:
    return User.objects.filter(pk=pending.user_id, is_active=True).first()


def record_second_step(user: User, factor: Factor) -> None:
    """The second step asked for at sign-in was completed: the access decision is now allow."""
    membership = landing_membership(user)
    if membership is None:
        return
    with tenant_context(membership.tenant, switch_from_active=True):
        decision = Decision(
            outcome=Outcome.ALLOW,
            rule="second_step",
            reason="Confirmed with a second step.",
            signals={"factor": factor.value},
        )
        access_decision_record(tenant=membership.tenant, user=user, decision=decision, stage="sign_in")
