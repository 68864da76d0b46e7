"""Conditional access: each rule allows, steps up or blocks as the policy says, with a stubbed
clock (``Signals.now``) and locations from the tiny GeoIP database; and each decision recorded
in the audit log with its signals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from audit.services import mark_break_glass
from audit.tests.helpers import events, head_seq
from authn.conditional_access import (
    GEO_ACCURACY_KM,
    Decision,
    Outcome,
    PreviousSignIn,
    Signals,
    evaluate,
    required_factor,
)
from authn.geo import Location, locate
from authn.models import AccessPolicy, Factor, RequiredFactor, RuleAction
from authn.policies import access_decision_record
from authn.tests.geoip import (
    BERLIN_IP,
    NEW_YORK,
    NEW_YORK_IP,
    TOKYO_IP,
    geoip_db,  # noqa: F401 - fixture
)
from tenants.context import tenant_context
from tenants.roles import Role

# A Wednesday in winter: Berlin is UTC+1, New York UTC-5.
NOON_UTC = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


def policy(**fields) -> AccessPolicy:
    return AccessPolicy(**fields)


def signals(**overrides) -> Signals:
    values: dict[str, Any] = {
        "now": NOON_UTC,
        "ip": NEW_YORK_IP,
        "location": Location("US", *NEW_YORK),
        "role": Role.MARKETER.value,
        "factor": Factor.PASSKEY,
        "device_known": True,
        "known_countries": frozenset({"US"}),
        "previous": PreviousSignIn(
            at=NOON_UTC - timedelta(days=1), country="US", latitude=NEW_YORK[0], longitude=NEW_YORK[1]
        ),
        "break_glass": False,
    }
    values.update(overrides)
    return Signals(**values)


def at(ip: str) -> dict:
    """The address and its location, from the test GeoIP database."""
    return {"ip": ip, "location": locate(ip)}


def decide(policy_: AccessPolicy, *, at_sign_in: bool = True, **overrides) -> Decision:
    return evaluate(policy_, signals(**overrides), at_sign_in=at_sign_in)


# --- The default policy -------------------------------------------------------------------------


def test_the_default_policy_allows_a_passkey_sign_in_from_a_known_place():
    decision = decide(policy())
    assert (decision.outcome, decision.rule, decision.reason) == (Outcome.ALLOW, "", "")


def test_signals_are_json_safe_and_never_hold_the_address():
    decision = decide(policy(allowed_networks=["198.51.100.0/24"]), ip=NEW_YORK_IP)
    assert decision.signals == {
        "country": "US",
        "network_allowed": True,
        "local_hour": 12,
        "device_known": True,
        "new_country": False,
        "impossible_travel": False,
        "speed_kmh": 0,
        "factor": "passkey",
        "required_factor": "second_factor",
        "break_glass": False,
    }
    encoded = json.dumps(decision.signals)
    assert NEW_YORK_IP not in encoded and "198.51.100" not in encoded


# --- Networks -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("networks", "ip", "outcome"),
    [
        ([], NEW_YORK_IP, Outcome.ALLOW),
        (["198.51.100.0/24"], NEW_YORK_IP, Outcome.ALLOW),
        (["203.0.113.0/24", "198.51.100.10/32"], NEW_YORK_IP, Outcome.ALLOW),
        (["203.0.113.0/24"], NEW_YORK_IP, Outcome.BLOCK),
        (["2001:db8::/32"], "2001:db8:1::5", Outcome.ALLOW),
        (["2001:db8::/32"], NEW_YORK_IP, Outcome.BLOCK),
        (["198.51.100.0/24"], "::ffff:198.51.100.10", Outcome.ALLOW),
        (["198.51.100.0/24"], "not-an-address", Outcome.BLOCK),
        (["198.51.100.0/24"], "", Outcome.BLOCK),
        (["garbage", "198.51.100.0/24"], NEW_YORK_IP, Outcome.ALLOW),
    ],
)
def test_allowed_networks(networks, ip, outcome):
    decision = decide(policy(allowed_networks=networks), ip=ip)
    assert decision.outcome == outcome
    assert decision.rule == ("network" if outcome == Outcome.BLOCK else "")
    assert decision.signals["network_allowed"] is (outcome == Outcome.ALLOW)


def test_network_rule_applies_on_every_request_too():
    decision = decide(policy(allowed_networks=["10.0.0.0/8"]), at_sign_in=False)
    assert (decision.outcome, decision.rule) == (Outcome.BLOCK, "network")
    assert "networks" in decision.reason


# --- Countries ----------------------------------------------------------------------------------


def test_allowed_countries_use_the_geoip_location(geoip_db):  # noqa: F811
    restricted = policy(allowed_countries=["US", "DE"])
    assert decide(restricted, **at(NEW_YORK_IP)).outcome == Outcome.ALLOW
    assert decide(restricted, **at(BERLIN_IP)).outcome == Outcome.ALLOW
    tokyo = decide(restricted, **at(TOKYO_IP))
    assert (tokyo.outcome, tokyo.rule, tokyo.signals["country"]) == (Outcome.BLOCK, "country", "JP")
    assert "JP" in tokyo.reason


@pytest.mark.parametrize("ip", ["8.8.8.8", "10.0.0.1", "127.0.0.1"])
def test_an_unknown_country_is_blocked_while_countries_are_restricted(geoip_db, ip):  # noqa: F811
    decision = decide(policy(allowed_countries=["US"]), **at(ip))
    assert (decision.outcome, decision.rule, decision.signals["country"]) == (Outcome.BLOCK, "country", "")
    assert "could not be determined" in decision.reason


def test_an_unknown_country_is_fine_without_country_restrictions(geoip_db):  # noqa: F811
    assert decide(policy(), **at("8.8.8.8")).outcome == Outcome.ALLOW


def test_a_location_without_a_country_counts_as_unknown():
    decision = decide(policy(allowed_countries=["US"]), location=Location("", 40.0, -74.0))
    assert (decision.outcome, decision.rule) == (Outcome.BLOCK, "country")


# --- Hours --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "utc_time", "outcome"),
    [
        # 09:00-17:00 in Berlin (UTC+1 in January)
        (9, 17, (7, 59), Outcome.BLOCK),  # 08:59 Berlin
        (9, 17, (8, 0), Outcome.ALLOW),  # 09:00 Berlin
        (9, 17, (15, 59), Outcome.ALLOW),  # 16:59 Berlin
        (9, 17, (16, 0), Outcome.BLOCK),  # 17:00 Berlin: the end hour is not included
        # 22:00-06:00 wraps past midnight
        (22, 6, (21, 0), Outcome.ALLOW),  # 22:00 Berlin
        (22, 6, (23, 30), Outcome.ALLOW),  # 00:30 Berlin
        (22, 6, (4, 59), Outcome.ALLOW),  # 05:59 Berlin
        (22, 6, (5, 0), Outcome.BLOCK),  # 06:00 Berlin
        (22, 6, (11, 0), Outcome.BLOCK),  # noon Berlin
        (None, None, (3, 0), Outcome.ALLOW),
        (9, None, (3, 0), Outcome.ALLOW),  # half a window is no window
    ],
)
def test_sign_in_hours_in_the_policy_time_zone(start, end, utc_time, outcome):
    now = NOON_UTC.replace(hour=utc_time[0], minute=utc_time[1])
    restricted = policy(sign_in_hours_start=start, sign_in_hours_end=end, timezone="Europe/Berlin")
    decision = decide(restricted, now=now)
    assert decision.outcome == outcome
    assert decision.rule == ("hours" if outcome == Outcome.BLOCK else "")
    assert decision.signals["local_hour"] == (utc_time[0] + 1) % 24


def test_hours_follow_daylight_saving_time():
    restricted = policy(sign_in_hours_start=9, sign_in_hours_end=17, timezone="America/New_York")
    # 13:30 UTC is 08:30 in New York in January (UTC-5) but 09:30 in July (UTC-4).
    assert decide(restricted, now=datetime(2025, 1, 15, 13, 30, tzinfo=UTC)).outcome == Outcome.BLOCK
    assert decide(restricted, now=datetime(2025, 7, 15, 13, 30, tzinfo=UTC)).outcome == Outcome.ALLOW


def test_hours_apply_on_every_request():
    restricted = policy(sign_in_hours_start=1, sign_in_hours_end=2)
    decision = decide(restricted, at_sign_in=False)
    assert (decision.outcome, decision.rule) == (Outcome.BLOCK, "hours")
    assert "01:00 and 02:00 (UTC)" in decision.reason


# --- Break-glass --------------------------------------------------------------------------------


def test_break_glass_lifts_network_country_and_hours_but_not_the_rest(geoip_db):  # noqa: F811
    strict = policy(
        allowed_networks=["10.0.0.0/8"],
        allowed_countries=["DE"],
        sign_in_hours_start=1,
        sign_in_hours_end=2,
        new_device_action=RuleAction.BLOCK,
        new_country_action=RuleAction.STEP_UP,
    )
    assert decide(strict, **at(TOKYO_IP)).rule == "network"
    emergency = decide(strict, **at(TOKYO_IP), break_glass=True)
    assert (emergency.outcome, emergency.rule) == (Outcome.ALLOW, "")
    assert emergency.signals["break_glass"] is True and emergency.signals["network_allowed"] is False
    # The sign-in risk rules and the factor rule still apply under emergency access.
    new_device = decide(strict, **at(TOKYO_IP), break_glass=True, device_known=False)
    assert (new_device.outcome, new_device.rule) == (Outcome.BLOCK, "new_device")
    new_country = decide(strict, **at(TOKYO_IP), break_glass=True, factor=Factor.TOTP)
    assert (new_country.outcome, new_country.rule) == (Outcome.STEP_UP, "new_country")
    weak = decide(
        strict, **at(TOKYO_IP), break_glass=True, factor=Factor.PASSWORD, role=Role.ADMIN.value,
        known_countries=frozenset({"JP"}),
    )  # fmt: skip
    assert (weak.outcome, weak.rule) == (Outcome.STEP_UP, "factor")


# --- Impossible travel --------------------------------------------------------------------------


def _was_in_new_york(hours_ago: float) -> PreviousSignIn:
    return PreviousSignIn(
        at=NOON_UTC - timedelta(hours=hours_ago), country="US", latitude=NEW_YORK[0], longitude=NEW_YORK[1]
    )


@pytest.mark.parametrize(
    ("action", "factor", "outcome"),
    [
        (RuleAction.BLOCK, Factor.PASSKEY, Outcome.BLOCK),
        (RuleAction.BLOCK, Factor.TOTP, Outcome.BLOCK),
        (RuleAction.STEP_UP, Factor.PASSWORD, Outcome.STEP_UP),
        (RuleAction.STEP_UP, Factor.PASSKEY, Outcome.ALLOW),  # the passkey was the step-up
        (RuleAction.ALLOW, Factor.TOTP, Outcome.ALLOW),
    ],
)
def test_impossible_travel_does_what_the_policy_says(geoip_db, action, factor, outcome):  # noqa: F811
    travel = policy(impossible_travel_action=action, max_travel_kmh=1000, marketer_factor=RequiredFactor.PASSWORD)
    decision = decide(
        travel, **at(TOKYO_IP), previous=_was_in_new_york(hours_ago=2), known_countries=frozenset({"US", "JP"}),
        factor=factor,
    )  # fmt: skip
    assert decision.outcome == outcome
    assert decision.rule == ("impossible_travel" if outcome != Outcome.ALLOW else "")
    assert decision.signals["impossible_travel"] is True
    assert decision.signals["speed_kmh"] == pytest.approx(10_850 / 2, rel=0.01)


def test_travel_at_a_possible_speed_is_allowed(geoip_db):  # noqa: F811
    travel = policy(max_travel_kmh=1000, impossible_travel_action=RuleAction.BLOCK)
    decision = decide(
        travel, **at(TOKYO_IP), previous=_was_in_new_york(hours_ago=14), known_countries=frozenset({"JP"})
    )
    assert decision.outcome == Outcome.ALLOW
    assert decision.signals["impossible_travel"] is False and 700 < decision.signals["speed_kmh"] < 1000  # type: ignore[operator]


def test_impossible_travel_threshold_is_the_policys(geoip_db):  # noqa: F811
    previous = _was_in_new_york(hours_ago=14)  # about 775 km/h to Tokyo
    kwargs = {**at(TOKYO_IP), "previous": previous, "known_countries": frozenset({"JP"})}
    assert decide(policy(max_travel_kmh=700), **kwargs).rule == "impossible_travel"
    assert decide(policy(max_travel_kmh=800), **kwargs).outcome == Outcome.ALLOW
    assert decide(policy(max_travel_kmh=None), **kwargs).outcome == Outcome.ALLOW  # rule off


def test_impossible_travel_needs_coordinates_for_both_sign_ins(geoip_db):  # noqa: F811
    blind = PreviousSignIn(at=NOON_UTC - timedelta(minutes=5), country="US", latitude=None, longitude=None)
    decision = decide(policy(), **at(TOKYO_IP), previous=blind, known_countries=frozenset({"JP"}))
    assert decision.outcome == Outcome.ALLOW and decision.signals["speed_kmh"] is None
    decision = decide(policy(), ip=TOKYO_IP, location=Location("JP", None, None), previous=_was_in_new_york(0.1))
    assert decision.signals["speed_kmh"] is None and decision.signals["impossible_travel"] is False


def test_nearby_sign_ins_are_not_travel():
    near = Location("US", NEW_YORK[0] + 0.5, NEW_YORK[1])  # about 55 km north, GeoIP's noise
    assert GEO_ACCURACY_KM > 55
    decision = decide(policy(), location=near, previous=_was_in_new_york(hours_ago=0))
    assert decision.outcome == Outcome.ALLOW and decision.signals["speed_kmh"] == 0


def test_a_far_sign_in_at_the_same_instant_is_impossible(geoip_db):  # noqa: F811
    decision = decide(
        policy(), **at(BERLIN_IP), previous=_was_in_new_york(hours_ago=0), known_countries=frozenset({"DE"})
    )
    assert decision.rule == "impossible_travel"


def test_travel_and_new_places_are_judged_only_at_sign_in(geoip_db):  # noqa: F811
    strict = policy(
        impossible_travel_action=RuleAction.BLOCK,
        new_country_action=RuleAction.BLOCK,
        new_device_action=RuleAction.BLOCK,
    )
    decision = decide(strict, at_sign_in=False, **at(TOKYO_IP), previous=_was_in_new_york(0.5), device_known=False)
    assert decision.outcome == Outcome.ALLOW
    assert decision.signals["speed_kmh"] is None and decision.signals["new_country"] is False


# --- New country --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "factor", "outcome"),
    [
        (RuleAction.STEP_UP, Factor.PASSWORD, Outcome.STEP_UP),
        (RuleAction.STEP_UP, Factor.TOTP, Outcome.STEP_UP),
        (RuleAction.STEP_UP, Factor.PASSKEY, Outcome.ALLOW),
        (RuleAction.BLOCK, Factor.PASSKEY, Outcome.BLOCK),
        (RuleAction.ALLOW, Factor.PASSWORD, Outcome.ALLOW),
    ],
)
def test_a_new_country_does_what_the_policy_says(geoip_db, action, factor, outcome):  # noqa: F811
    rule = policy(new_country_action=action, marketer_factor=RequiredFactor.PASSWORD, max_travel_kmh=None)
    decision = decide(rule, **at(BERLIN_IP), factor=factor, previous=_was_in_new_york(hours_ago=48))
    assert decision.outcome == outcome
    assert decision.rule == ("new_country" if outcome != Outcome.ALLOW else "")
    assert decision.signals["new_country"] is True and decision.signals["country"] == "DE"


def test_a_known_country_is_not_new(geoip_db):  # noqa: F811
    rule = policy(new_country_action=RuleAction.BLOCK)
    decision = decide(rule, **at(BERLIN_IP), known_countries=frozenset({"US", "DE"}), previous=_was_in_new_york(48))
    assert decision.outcome == Outcome.ALLOW and decision.signals["new_country"] is False


@pytest.mark.parametrize(
    ("previous", "known"),
    [
        (None, frozenset()),  # the first sign-in ever
        (PreviousSignIn(at=NOON_UTC - timedelta(days=2), country="", latitude=None, longitude=None), frozenset()),
    ],
    ids=["first-sign-in", "no-located-sign-in-before"],
)
def test_without_a_baseline_no_country_is_new(geoip_db, previous, known):  # noqa: F811
    decision = decide(
        policy(new_country_action=RuleAction.BLOCK), **at(BERLIN_IP), previous=previous, known_countries=known
    )
    assert decision.outcome == Outcome.ALLOW and decision.signals["new_country"] is False


def test_an_unknown_country_is_not_new(geoip_db):  # noqa: F811
    decision = decide(policy(new_country_action=RuleAction.BLOCK), **at("8.8.8.8"))
    assert decision.outcome == Outcome.ALLOW and decision.signals["new_country"] is False


# --- New device ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "factor", "outcome"),
    [
        (RuleAction.STEP_UP, Factor.PASSWORD, Outcome.STEP_UP),
        (RuleAction.STEP_UP, Factor.PASSKEY, Outcome.ALLOW),
        (RuleAction.BLOCK, Factor.PASSKEY, Outcome.BLOCK),
        (RuleAction.ALLOW, Factor.PASSWORD, Outcome.ALLOW),
    ],
)
def test_a_new_device_does_what_the_policy_says(action, factor, outcome):
    rule = policy(new_device_action=action, marketer_factor=RequiredFactor.PASSWORD)
    decision = decide(rule, device_known=False, factor=factor)
    assert decision.outcome == outcome
    assert decision.rule == ("new_device" if outcome != Outcome.ALLOW else "")
    assert decision.signals["device_known"] is False
    if outcome == Outcome.STEP_UP:
        assert "browser" in decision.reason


# --- Required factor ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "marketer_factor", "expected"),
    [
        (Role.ADMIN, RequiredFactor.PASSWORD, RequiredFactor.PASSKEY),
        (Role.COMPLIANCE_OFFICER, RequiredFactor.SECOND_FACTOR, RequiredFactor.PASSKEY),
        (Role.MARKETER, RequiredFactor.PASSWORD, RequiredFactor.PASSWORD),
        (Role.MARKETER, RequiredFactor.SECOND_FACTOR, RequiredFactor.SECOND_FACTOR),
        (Role.MARKETER, RequiredFactor.PASSKEY, RequiredFactor.PASSKEY),
        ("someone_new", RequiredFactor.PASSWORD, RequiredFactor.PASSKEY),  # unknown roles fail closed
    ],
)
def test_required_factor_per_role(role, marketer_factor, expected):
    assert required_factor(policy(marketer_factor=marketer_factor), str(role)) == expected


@pytest.mark.parametrize(
    ("role", "marketer_factor", "fallback", "factor", "outcome"),
    [
        (Role.ADMIN, RequiredFactor.PASSWORD, True, Factor.TOTP, Outcome.STEP_UP),
        (Role.ADMIN, RequiredFactor.PASSWORD, True, Factor.PASSWORD, Outcome.STEP_UP),
        (Role.ADMIN, RequiredFactor.PASSWORD, True, Factor.PASSKEY, Outcome.ALLOW),
        (Role.COMPLIANCE_OFFICER, RequiredFactor.PASSWORD, True, Factor.RECOVERY, Outcome.STEP_UP),
        (Role.MARKETER, RequiredFactor.SECOND_FACTOR, True, Factor.PASSWORD, Outcome.STEP_UP),
        (Role.MARKETER, RequiredFactor.SECOND_FACTOR, True, Factor.TOTP, Outcome.ALLOW),
        (Role.MARKETER, RequiredFactor.SECOND_FACTOR, True, Factor.RECOVERY, Outcome.ALLOW),
        (Role.MARKETER, RequiredFactor.SECOND_FACTOR, False, Factor.TOTP, Outcome.STEP_UP),  # fallback not allowed
        (Role.MARKETER, RequiredFactor.SECOND_FACTOR, False, Factor.PASSKEY, Outcome.ALLOW),
        (Role.MARKETER, RequiredFactor.PASSWORD, False, Factor.PASSWORD, Outcome.ALLOW),
        (Role.MARKETER, RequiredFactor.PASSKEY, True, Factor.TOTP, Outcome.STEP_UP),
    ],
)
def test_the_factor_rule(role, marketer_factor, fallback, factor, outcome):
    rule = policy(marketer_factor=marketer_factor, allow_fallback_factors=fallback)
    for at_sign_in in (True, False):
        decision = decide(rule, at_sign_in=at_sign_in, role=str(role), factor=factor)
        assert decision.outcome == outcome
        assert decision.rule == ("factor" if outcome == Outcome.STEP_UP else "")
        assert decision.signals["factor"] == factor.value
        assert decision.signals["required_factor"] == required_factor(rule, str(role)).value


# --- Precedence ---------------------------------------------------------------------------------


def test_block_beats_step_up_whatever_the_order(geoip_db):  # noqa: F811
    rule = policy(
        allowed_networks=["10.0.0.0/8"],
        impossible_travel_action=RuleAction.STEP_UP,
        new_device_action=RuleAction.BLOCK,
    )
    decision = decide(
        rule, **at(TOKYO_IP), factor=Factor.PASSWORD, device_known=False, previous=_was_in_new_york(1),
        role=Role.ADMIN.value,
    )  # fmt: skip
    assert (decision.outcome, decision.rule) == (Outcome.BLOCK, "network")
    # Without the network block: new_device (block) beats impossible_travel (step-up) though it comes later.
    decision = decide(
        policy(impossible_travel_action=RuleAction.STEP_UP, new_device_action=RuleAction.BLOCK),
        **at(TOKYO_IP), factor=Factor.PASSWORD, device_known=False, previous=_was_in_new_york(1),
    )  # fmt: skip
    assert (decision.outcome, decision.rule) == (Outcome.BLOCK, "new_device")


def test_among_blocks_the_first_rule_wins(geoip_db):  # noqa: F811
    rule = policy(allowed_networks=["10.0.0.0/8"], allowed_countries=["DE"], sign_in_hours_start=1, sign_in_hours_end=2)
    assert decide(rule, **at(TOKYO_IP)).rule == "network"
    assert (
        decide(policy(allowed_countries=["DE"], sign_in_hours_start=1, sign_in_hours_end=2), **at(TOKYO_IP)).rule
        == "country"
    )


def test_among_step_ups_the_first_rule_wins(geoip_db):  # noqa: F811
    rule = policy(
        impossible_travel_action=RuleAction.STEP_UP,
        new_country_action=RuleAction.STEP_UP,
        new_device_action=RuleAction.STEP_UP,
    )
    kwargs = {**at(TOKYO_IP), "factor": Factor.PASSWORD, "device_known": False}
    assert decide(rule, previous=_was_in_new_york(1), **kwargs).rule == "impossible_travel"
    assert decide(rule, previous=_was_in_new_york(48), **kwargs).rule == "new_country"
    assert decide(rule, previous=_was_in_new_york(48), known_countries=frozenset({"JP"}), **kwargs).rule == "new_device"
    # The factor rule comes last.
    assert (
        decide(policy(), **kwargs, previous=_was_in_new_york(48), known_countries=frozenset({"JP"}), role="admin").rule
        == "new_device"
    )


# --- Properties ---------------------------------------------------------------------------------

actions = st.sampled_from(list(RuleAction))


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    networks=st.sampled_from([[], ["198.51.100.0/24"], ["10.0.0.0/8"]]),
    countries=st.sampled_from([[], ["US"], ["JP", "DE"]]),
    hours=st.sampled_from([(None, None), (9, 17), (22, 6)]),
    travel=st.sampled_from([None, 500, 1000]),
    new_device=actions,
    new_country=actions,
    impossible=actions,
    marketer_factor=st.sampled_from(list(RequiredFactor)),
    fallback=st.booleans(),
    role=st.sampled_from([role.value for role in Role]),
    factor=st.sampled_from(list(Factor)),
    location=st.sampled_from(
        [None, Location("US", *NEW_YORK), Location("JP", 35.68, 139.65), Location("DE", None, None)]
    ),
    device_known=st.booleans(),
    hours_ago=st.floats(min_value=0, max_value=100),
    minute=st.integers(min_value=0, max_value=24 * 60 - 1),
    break_glass=st.booleans(),
    at_sign_in=st.booleans(),
)
def test_every_decision_is_consistent(
    networks, countries, hours, travel, new_device, new_country, impossible, marketer_factor, fallback, role,
    factor, location, device_known, hours_ago, minute, break_glass, at_sign_in,
):  # fmt: skip
    rule = policy(
        allowed_networks=networks, allowed_countries=countries, sign_in_hours_start=hours[0],
        sign_in_hours_end=hours[1], max_travel_kmh=travel, new_device_action=new_device,
        new_country_action=new_country, impossible_travel_action=impossible, marketer_factor=marketer_factor,
        allow_fallback_factors=fallback,
    )  # fmt: skip
    now = NOON_UTC.replace(hour=0) + timedelta(minutes=minute)
    decision = evaluate(
        rule,
        signals(
            now=now, location=location, role=role, factor=factor, device_known=device_known,
            previous=_was_in_new_york(hours_ago), break_glass=break_glass,
        ),
        at_sign_in=at_sign_in,
    )  # fmt: skip
    json.dumps(decision.signals)
    assert (decision.outcome == Outcome.ALLOW) == (decision.rule == "") == (decision.reason == "")
    if break_glass:
        assert decision.rule not in ("network", "country", "hours")
    if not at_sign_in:
        assert decision.rule in ("", "network", "country", "hours", "factor")
    if decision.outcome == Outcome.ALLOW and not break_glass:
        assert decision.signals["network_allowed"] is True
        assert not countries or decision.signals["country"] in countries
    if decision.rule in ("impossible_travel", "new_country", "new_device") and decision.outcome == Outcome.STEP_UP:
        assert factor != Factor.PASSKEY  # a passkey sign-in has already stepped up


# --- Recording decisions ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_decision_is_audited_with_outcome_rule_stage_and_signals(world, geoip_db):  # noqa: F811
    tenant, user = world.a.tenant, world.a.users[Role.MARKETER]
    decision = decide(policy(allowed_countries=["US"]), **at(TOKYO_IP), factor=Factor.PASSWORD)
    since = head_seq(tenant)
    with tenant_context(tenant):
        access_decision_record(tenant=tenant, user=user, decision=decision, stage="sign_in")
    [(action, details)] = events(tenant, since)
    assert action == "auth.access_decision"
    assert details == {
        **decision.signals,
        "outcome": "block",
        "rule": "country",
        "stage": "sign_in",
    }
    assert TOKYO_IP not in json.dumps(details)


@pytest.mark.django_db
def test_a_request_stage_allow_is_recorded_too(world):
    tenant, user = world.a.tenant, world.a.users[Role.ADMIN]
    since = head_seq(tenant)
    with tenant_context(tenant):
        access_decision_record(tenant=tenant, user=user, decision=decide(policy(), at_sign_in=False), stage="request")
    [(action, details)] = events(tenant, since)
    assert (action, details["outcome"], details["rule"], details["stage"]) == (
        "auth.access_decision",
        "allow",
        "",
        "request",
    )


@pytest.mark.django_db
def test_an_unknown_stage_is_refused(world):
    tenant = world.a.tenant
    since = head_seq(tenant)
    with tenant_context(tenant), pytest.raises(ValueError):
        access_decision_record(tenant=tenant, user=world.a.users[Role.ADMIN], decision=decide(policy()), stage="later")
    assert events(tenant, since) == []


@pytest.mark.django_db
def test_under_break_glass_the_decision_carries_the_grant_id(world):
    tenant, user = world.a.tenant, world.a.users[Role.MARKETER]
    decision = decide(policy(allowed_networks=["10.0.0.0/8"]), break_glass=True)
    since = head_seq(tenant)
    mark_break_glass(tenant.pk, "grant-123")
    try:
        with tenant_context(tenant):
            access_decision_record(tenant=tenant, user=user, decision=decision, stage="request")
    finally:
        mark_break_glass(None, None)
    [(_, details)] = events(tenant, since)
    assert details["break_glass"] == "grant-123" and details["network_allowed"] is False
