"""Conditional access: given an organisation's policy and what is known about a sign-in or a
request, decide allow, step up or block. Pure: no database reads or writes, no clock (the time
comes in ``Signals.now``), no GeoIP lookups (the location comes in ``Signals.location``).

Rules, in order; block beats step-up beats allow, and among equals the first rule wins:

1. ``network``: the address is outside every allowed network (none listed = any network).
2. ``country``: the country is not allowed (none listed = any). An unknown country while
   countries are restricted blocks: fail closed.
3. ``hours``: outside the allowed sign-in hours, in the policy's time zone.
   Rules 1–3 do not apply under break-glass (emergency) access.
4. ``impossible_travel`` (sign-in only): the speed from the previous sign-in's place to this one
   exceeds ``max_travel_kmh``; needs coordinates for both.
5. ``new_country`` (sign-in only): a country the user has not signed in from before.
6. ``new_device`` (sign-in only): a browser without a known device cookie.
   Rules 4–6 do what the policy says (allow, step up or block). A step-up they ask for is already
   satisfied by a passkey sign-in: the assertion IS the step-up.
7. ``factor``: the session's factor is weaker than the role requires (admins and compliance
   officers: always a passkey; marketers: the policy's ``marketer_factor``). Authenticator codes
   and recovery codes count as a second factor only while the policy allows fallback factors.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from authn.geo import Location, distance_km
from authn.models import AccessPolicy, Factor, RequiredFactor, RuleAction
from tenants.roles import Role

# GeoIP places an address to a city at best: two sign-ins closer than this are "no travel", so
# two addresses in one metropolitan area seconds apart are not impossible travel.
GEO_ACCURACY_KM = 100.0
# The shortest interval a speed is computed over (sign-ins in the same second).
MIN_TRAVEL_SECONDS = 1.0

PASSKEY_ROLES = frozenset({Role.ADMIN.value, Role.COMPLIANCE_OFFICER.value})
FALLBACK_FACTORS = frozenset({Factor.TOTP, Factor.RECOVERY})


class Outcome(StrEnum):
    ALLOW = "allow"
    STEP_UP = "step_up"
    BLOCK = "block"


@dataclass(frozen=True)
class PreviousSignIn:
    at: datetime
    country: str
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True)
class Signals:
    now: datetime
    ip: str
    location: Location | None
    role: str
    factor: Factor
    device_known: bool
    known_countries: frozenset[str]
    previous: PreviousSignIn | None
    break_glass: bool = False


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    rule: str  # the rule that fired; "" when allowed
    reason: str  # a sentence for the user
    signals: dict[str, object]  # JSON-safe, for the audit log; never the address itself


_OUTCOME_OF_ACTION = {
    RuleAction.ALLOW: Outcome.ALLOW,
    RuleAction.STEP_UP: Outcome.STEP_UP,
    RuleAction.BLOCK: Outcome.BLOCK,
}


def required_factor(policy: AccessPolicy, role: str) -> RequiredFactor:
    """The factor a role must sign in with. Admins and compliance officers always need a passkey;
    a role this code does not know is treated the same way (fail closed)."""
    if role == Role.MARKETER.value:
        return RequiredFactor(policy.marketer_factor)
    return RequiredFactor.PASSKEY


def effective_strength(policy: AccessPolicy, factor: Factor) -> int:
    """A factor's strength under the policy: authenticator and recovery codes count as a second
    factor only while the policy allows fallback factors."""
    if factor in FALLBACK_FACTORS and not policy.allow_fallback_factors:
        return Factor.PASSWORD.strength
    return Factor(factor).strength


def parse_network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A CIDR block (host bits are dropped; a bare address is a /32 or /128). Raises ValueError."""
    return ipaddress.ip_network(value.strip(), strict=False)


def network_allowed(allowed_networks: list[str], ip: str) -> bool:
    """Whether ``ip`` is in one of the networks; an empty list allows any address. An address
    that does not parse is in no network."""
    if not allowed_networks:
        return True
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for entry in allowed_networks:
        try:
            network = parse_network(entry)
        except ValueError:
            continue  # validated on save; a damaged entry allows nothing
        if network.version == address.version and address in network:
            return True
    return False


def policy_zone(policy: AccessPolicy) -> ZoneInfo:
    try:
        return ZoneInfo(policy.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def hours_restricted(policy: AccessPolicy) -> bool:
    start, end = policy.sign_in_hours_start, policy.sign_in_hours_end
    return start is not None and end is not None and start != end


def hour_allowed(policy: AccessPolicy, hour: int) -> bool:
    """Whether ``hour`` (0–23, policy time) is in the window [start, end); start > end wraps past
    midnight (22–6 allows 22:00 to 05:59)."""
    if not hours_restricted(policy):
        return True
    start, end = int(policy.sign_in_hours_start or 0), int(policy.sign_in_hours_end or 0)
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end


def travel_speed_kmh(previous: PreviousSignIn | None, location: Location | None, now: datetime) -> float | None:
    """Speed needed to get from the previous sign-in to here by ``now``; ``None`` without
    coordinates for both."""
    if previous is None or location is None or previous.latitude is None or previous.longitude is None:
        return None
    if location.latitude is None or location.longitude is None:
        return None
    distance = distance_km(previous.latitude, previous.longitude, location.latitude, location.longitude)
    if distance < GEO_ACCURACY_KM:
        return 0.0
    seconds = max((now - previous.at).total_seconds(), MIN_TRAVEL_SECONDS)
    return distance / (seconds / 3600)


def _hours_text(policy: AccessPolicy) -> str:
    return f"{policy.sign_in_hours_start:02d}:00 and {policy.sign_in_hours_end:02d}:00 ({policy.timezone})"


def evaluate(policy: AccessPolicy, signals: Signals, *, at_sign_in: bool) -> Decision:
    location = signals.location
    country = location.country if location is not None else ""
    local_hour = signals.now.astimezone(policy_zone(policy)).hour
    in_network = network_allowed(list(policy.allowed_networks or []), signals.ip)
    allowed_countries = [str(code).upper() for code in policy.allowed_countries or []]
    required = required_factor(policy, signals.role)

    speed = travel_speed_kmh(signals.previous, location, signals.now) if at_sign_in else None
    impossible_travel = policy.max_travel_kmh is not None and speed is not None and speed > policy.max_travel_kmh
    # A new country needs a baseline: a country the user has signed in from before.
    new_country = (
        at_sign_in
        and bool(country)
        and signals.previous is not None
        and bool(signals.known_countries)
        and country not in signals.known_countries
    )

    # (outcome, rule, reason) of every rule that objects, in rule order.
    findings: list[tuple[Outcome, str, str]] = []
    if not signals.break_glass:
        if not in_network:
            findings.append(
                (Outcome.BLOCK, "network", "Your organisation allows access only from its own networks, not this one.")
            )
        if allowed_countries and country not in allowed_countries:
            if country:
                reason = f"Your organisation does not allow access from this country ({country})."
            else:
                reason = (
                    "Your organisation allows access only from some countries, and the country of this "
                    "address could not be determined."
                )
            findings.append((Outcome.BLOCK, "country", reason))
        if not hour_allowed(policy, local_hour):
            findings.append(
                (Outcome.BLOCK, "hours", f"Your organisation allows access only between {_hours_text(policy)}.")
            )
    if at_sign_in:
        rules = (
            ("impossible_travel", impossible_travel, policy.impossible_travel_action,
             "This sign-in is too far from your previous one for the time between them."),
            ("new_country", new_country, policy.new_country_action,
             "You have not signed in from this country before."),
            ("new_device", not signals.device_known, policy.new_device_action,
             "You have not signed in from this browser before."),
        )  # fmt: skip
        for rule, fired, action, sentence in rules:
            outcome = _OUTCOME_OF_ACTION[RuleAction(action)]
            if not fired or outcome == Outcome.ALLOW:
                continue
            if outcome == Outcome.STEP_UP:
                if signals.factor == Factor.PASSKEY:
                    continue  # the passkey assertion was the step-up
                sentence += " Confirm it is you with a passkey or a second step."
            else:
                sentence += " Ask your admin if this is you."
            findings.append((outcome, rule, sentence))
    if effective_strength(policy, signals.factor) < required.strength:
        findings.append(
            (
                Outcome.STEP_UP,
                "factor",
                f"Your role needs a stronger sign-in: {RequiredFactor(required).label.lower()}.",
            )
        )

    outcome, rule, reason = Outcome.ALLOW, "", ""
    for wanted in (Outcome.BLOCK, Outcome.STEP_UP):
        first = next((finding for finding in findings if finding[0] == wanted), None)
        if first is not None:
            outcome, rule, reason = first
            break

    return Decision(
        outcome=outcome,
        rule=rule,
        reason=reason,
        signals={
            "country": country,
            "network_allowed": in_network,
            "local_hour": local_hour,
            "device_known": signals.device_known,
            "new_country": new_country,
            "impossible_travel": impossible_travel,
            "speed_kmh": round(speed) if speed is not None else None,
            "factor": Factor(signals.factor).value,
            "required_factor": required.value,
            "break_glass": signals.break_glass,
        },
    )
