"""The conditional-access policy: reading it, changing it (validated, audited, with a guard
against an admin locking themselves out), and recording the decisions it leads to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import Target, actor_for_user, current_break_glass, record
from authn import geo
from authn.conditional_access import (
    Decision,
    Signals,
    evaluate,
    hour_allowed,
    network_allowed,
    parse_network,
)
from authn.models import AccessPolicy, Factor, RequiredFactor, RuleAction, User
from tenants.context import require_tenant_is_current
from tenants.models import Organisation
from tenants.roles import Role

MAX_NETWORKS = 200
MAX_COUNTRIES = 250
MIN_TRAVEL_KMH = 100
MAX_TRAVEL_KMH = 20_000
STAGES = ("sign_in", "request")

EDITABLE_FIELDS = (
    "allowed_networks",
    "allowed_countries",
    "marketer_factor",
    "allow_fallback_factors",
    "new_device_action",
    "new_country_action",
    "max_travel_kmh",
    "impossible_travel_action",
    "sign_in_hours_start",
    "sign_in_hours_end",
    "timezone",
)
_COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")
# Codes people type that ISO 3166-1 spells differently.
_COUNTRY_HINTS = {"UK": "GB", "EL": "GR"}


# --- Selectors --------------------------------------------------------------------------------


def access_policy_for(*, tenant: Organisation) -> AccessPolicy:
    """The organisation's saved policy, or an unsaved one with the defaults."""
    policy = AccessPolicy.objects.for_tenant(tenant).first()
    return policy if policy is not None else AccessPolicy(tenant=tenant)


# --- Validation -------------------------------------------------------------------------------


def _clean_networks(values: Any, errors: dict[str, list[str]]) -> list[str]:
    cleaned: list[str] = []
    for raw in list(values or []):
        text = str(raw).strip()
        if not text:
            continue
        try:
            network = str(parse_network(text))
        except ValueError:
            errors.setdefault("allowed_networks", []).append(
                f"“{text[:60]}” is not an address or a network in CIDR notation "
                "(such as 203.0.113.0/24 or 2001:db8::/48)."
            )
            continue
        if network not in cleaned:
            cleaned.append(network)
    if len(cleaned) > MAX_NETWORKS:
        errors.setdefault("allowed_networks", []).append(f"List at most {MAX_NETWORKS} networks.")
    return cleaned


def _clean_countries(values: Any, errors: dict[str, list[str]]) -> list[str]:
    cleaned: list[str] = []
    for raw in list(values or []):
        code = str(raw).strip().upper()
        if not code:
            continue
        if code in _COUNTRY_HINTS:
            errors.setdefault("allowed_countries", []).append(
                f"“{code}” is not an ISO 3166-1 code; did you mean {_COUNTRY_HINTS[code]}?"
            )
        elif not _COUNTRY_CODE.match(code):
            errors.setdefault("allowed_countries", []).append(
                f"“{code[:60]}” is not a two-letter country code (ISO 3166-1 alpha-2, such as US or DE)."
            )
        elif code not in cleaned:
            cleaned.append(code)
    if len(cleaned) > MAX_COUNTRIES:
        errors.setdefault("allowed_countries", []).append(f"List at most {MAX_COUNTRIES} countries.")
    if cleaned and not geo.status().available:
        errors.setdefault("allowed_countries", []).append(
            "Countries cannot be restricted: no working GeoIP database is configured (GEOIP_DATABASE), so every "
            "address's country would be unknown and everyone would be blocked."
        )
    return cleaned


def _clean_choice(name: str, value: Any, choices: type[RuleAction] | type[RequiredFactor], errors: dict) -> str:
    if value not in choices.values:
        errors.setdefault(name, []).append("Choose one of the listed options.")
        return str(value)
    return str(value)


def _clean_hour(name: str, value: Any, errors: dict[str, list[str]]) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 23:
        errors.setdefault(name, []).append("Enter an hour from 0 to 23.")
        return None
    return value


def _clean_timezone(value: Any, errors: dict[str, list[str]]) -> str:
    name = str(value or "").strip()
    try:
        ZoneInfo(name)
        valid = name in available_timezones()
    except (ZoneInfoNotFoundError, ValueError):
        valid = False
    if not valid:
        errors.setdefault("timezone", []).append(
            "Enter a time zone from the IANA database, such as America/New_York, Europe/Berlin or UTC."
        )
    return name


def _cleaned(current: AccessPolicy, fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"Not editable access-policy fields: {sorted(unknown)}")
    values = {name: getattr(current, name) for name in EDITABLE_FIELDS} | fields
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {
        "allowed_networks": _clean_networks(values["allowed_networks"], errors),
        "allowed_countries": _clean_countries(values["allowed_countries"], errors),
        "marketer_factor": _clean_choice("marketer_factor", values["marketer_factor"], RequiredFactor, errors),
        "allow_fallback_factors": bool(values["allow_fallback_factors"]),
        "new_device_action": _clean_choice("new_device_action", values["new_device_action"], RuleAction, errors),
        "new_country_action": _clean_choice("new_country_action", values["new_country_action"], RuleAction, errors),
        "impossible_travel_action": _clean_choice(
            "impossible_travel_action", values["impossible_travel_action"], RuleAction, errors
        ),
        "sign_in_hours_start": _clean_hour("sign_in_hours_start", values["sign_in_hours_start"], errors),
        "sign_in_hours_end": _clean_hour("sign_in_hours_end", values["sign_in_hours_end"], errors),
        "timezone": _clean_timezone(values["timezone"], errors),
    }
    speed = values["max_travel_kmh"]
    if speed is None or speed == "":
        cleaned["max_travel_kmh"] = None
    elif isinstance(speed, bool) or not isinstance(speed, int) or not MIN_TRAVEL_KMH <= speed <= MAX_TRAVEL_KMH:
        errors.setdefault("max_travel_kmh", []).append(
            f"Enter a speed from {MIN_TRAVEL_KMH} to {MAX_TRAVEL_KMH} km/h, or leave it empty to turn the rule off."
        )
    else:
        cleaned["max_travel_kmh"] = speed
    start, end = cleaned["sign_in_hours_start"], cleaned["sign_in_hours_end"]
    if "sign_in_hours_start" not in errors and "sign_in_hours_end" not in errors:
        if (start is None) != (end is None):
            errors.setdefault("sign_in_hours_end", []).append(
                "Give both the first and the end hour, or neither for any hour."
            )
        elif start is not None and start == end:
            errors.setdefault("sign_in_hours_end", []).append(
                "The end hour must differ from the first hour (leave both empty to allow any hour)."
            )
    if errors:
        raise ValidationError(errors)
    return cleaned


# --- Self-lockout -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Lockout:
    """Why the new policy would shut out the admin saving it, per field."""

    errors: dict[str, str]


def lockout_for(policy: AccessPolicy, *, ip: str, now: datetime | None = None) -> Lockout | None:
    """Would ``policy`` block an admin at ``ip`` (signed in with a passkey) right now?"""
    now = now or timezone.now()
    signals = Signals(
        now=now,
        ip=ip,
        location=geo.locate(ip),
        role=Role.ADMIN.value,
        factor=Factor.PASSKEY,
        device_known=True,
        known_countries=frozenset(),
        previous=None,
    )
    decision = evaluate(policy, signals, at_sign_in=False)
    errors: dict[str, str] = {}
    if not network_allowed(list(policy.allowed_networks), ip):
        errors["allowed_networks"] = (
            "Your current address is in none of these networks: saving would lock you out at your next request."
        )
    country = str(decision.signals["country"])
    if policy.allowed_countries and country not in policy.allowed_countries:
        where = f"your current country ({country})" if country else "your current address (its country is unknown)"
        errors["allowed_countries"] = f"This list does not include {where}: saving would lock you out."
    if not hour_allowed(policy, int(decision.signals["local_hour"])):  # type: ignore[call-overload]
        errors["sign_in_hours_start"] = (
            "The current hour is outside these sign-in hours: saving would lock you out until they begin."
        )
    return Lockout(errors) if errors else None


class SelfLockout(ValidationError):
    """Saving would block the admin who saves; they must confirm they mean it."""

    def __init__(self, lockout: Lockout) -> None:
        super().__init__({name: [message] for name, message in lockout.errors.items()}, code="self_lockout")
        self.lockout = lockout


# --- Services ---------------------------------------------------------------------------------


@transaction.atomic
def access_policy_update(
    *,
    tenant: Organisation,
    actor: User,
    actor_ip: str | None = None,
    confirm_lockout: bool = False,
    **fields: Any,
) -> AccessPolicy:
    """Change the organisation's policy. Raises ``ValidationError`` (a dict of field errors) for
    bad values, and ``SelfLockout`` when the new policy would block ``actor_ip`` (the saving
    admin's address) unless ``confirm_lockout``. Audited as ``access_policy.changed`` with the
    changed fields' names and new values; nothing is written when nothing changed."""
    require_tenant_is_current(tenant)
    policy = AccessPolicy.objects.for_tenant(tenant).select_for_update().first()
    if policy is None:
        policy = AccessPolicy(tenant=tenant)
    cleaned = _cleaned(policy, fields)
    changed = [name for name in EDITABLE_FIELDS if getattr(policy, name) != cleaned[name]]
    if not changed:
        return policy
    for name in changed:
        setattr(policy, name, cleaned[name])
    if actor_ip is not None and not confirm_lockout:
        lockout = lockout_for(policy, ip=actor_ip)
        if lockout is not None:
            raise SelfLockout(lockout)
    policy.updated_by = actor
    policy.save()
    record(
        tenant=tenant,
        action="access_policy.changed",
        actor=actor_for_user(actor),
        target=Target.of(policy),
        details={"changed": changed, **{name: cleaned[name] for name in changed}},
    )
    return policy


def _detail_value(value: object) -> object:
    if isinstance(value, float):
        return round(value)
    return value


@transaction.atomic
def access_decision_record(*, tenant: Organisation, user: User, decision: Decision, stage: str) -> None:
    """Write ``auth.access_decision``: the outcome, the rule that fired, the stage (``sign_in`` or
    ``request``) and the signals. While the request runs under break-glass access the
    ``break_glass`` signal carries the grant id, as every other event of that request does."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}")
    details: dict[str, Any] = {name: _detail_value(value) for name, value in decision.signals.items()}
    mark = current_break_glass()
    if details.get("break_glass") is True and mark is not None and mark[0] == tenant.pk:
        details["break_glass"] = mark[1]
    details.update(outcome=str(decision.outcome), rule=decision.rule, stage=stage)
    record(
        tenant=tenant,
        action="auth.access_decision",
        actor=actor_for_user(user),
        target=Target.of(user),
        details=details,
    )
