"""The protection policy as a pure function: the matrix of inputs that matter, the rules, and
the property that PHI never goes by standard delivery without the patient's recorded choice."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from encryption.dlp.findings import FINDING_TYPES, IDENTIFIER_TYPES, LEVEL_PHI, LEVEL_PII, LEVELS, Classification
from encryption.protection import (
    ACTIONS,
    BLOCK,
    DEFAULT_SETTINGS,
    ESCROW,
    HOLD_CHOICES,
    QUARANTINE,
    RULE_ACTIONS,
    STANDARD,
    STRICTNESS,
    TLS_STATES,
    VERIFIED_TLS,
    DomainPosture,
    InvalidRule,
    PolicySettings,
    ProtectionInvariantError,
    ProtectionRule,
    PurposeFacts,
    _check_invariants,
    finding_counts,
    highlight_segments,
    protection_decide,
    rules_from_json,
)
from encryption.tests.support import (
    CARE,
    MARKETING,
    NEWSLETTER,
    NO_TLS,
    NONE,
    PHI,
    PII,
    UNVERIFIED,
    VERIFIED,
    VERIFIED_12,
    classified,
    finding,
)


def decide(
    classification: Classification = PHI,
    *,
    posture: DomainPosture = VERIFIED,
    purpose=CARE,
    accepts: bool = False,
    released: bool = False,
    **settings,
):
    return protection_decide(
        policy=dataclasses.replace(DEFAULT_SETTINGS, **settings),
        classification=classification,
        purpose=purpose,
        posture=posture,
        accepts_unencrypted_phi=accepts,
        released=released,
    )


# --- Transport of PHI ---------------------------------------------------------------------------

PHI_TRANSPORT = [
    # posture, accepts, policy overrides, expected action, expected transport reason
    (VERIFIED, False, {}, VERIFIED_TLS, "phi_verified_tls"),
    (VERIFIED_12, False, {}, VERIFIED_TLS, "phi_verified_tls"),
    (DomainPosture("x.example", "verified", None), False, {}, VERIFIED_TLS, "phi_verified_tls"),
    (DomainPosture("x.example", "verified", "1.1"), False, {}, ESCROW, "phi_no_verified_tls"),
    (UNVERIFIED, False, {}, ESCROW, "phi_no_verified_tls"),
    (NO_TLS, False, {}, ESCROW, "phi_no_verified_tls"),
    # The patient's recorded choice, honoured by default, only where verified TLS is missing.
    (UNVERIFIED, True, {}, STANDARD, "phi_patient_accepts_unencrypted"),
    (NO_TLS, True, {}, STANDARD, "phi_patient_accepts_unencrypted"),
    (VERIFIED, True, {}, VERIFIED_TLS, "phi_verified_tls"),
    (NO_TLS, True, {"honour_unencrypted_preference": False}, ESCROW, "phi_no_verified_tls"),
    # Escrow for all PHI wins over TLS and over the patient's choice.
    (VERIFIED, False, {"escrow_all_phi": True}, ESCROW, "escrow_all_phi"),
    (NO_TLS, True, {"escrow_all_phi": True}, ESCROW, "escrow_all_phi"),
    # TLS 1.3 required.
    (VERIFIED, False, {"require_tls13": True}, VERIFIED_TLS, "phi_verified_tls"),
    (VERIFIED_12, False, {"require_tls13": True}, ESCROW, "phi_tls13_required"),
    (DomainPosture("x.example", "verified", None), False, {"require_tls13": True}, ESCROW, "phi_tls13_required"),
    (
        DomainPosture("x.example", "verified", "TLSv1.3"),
        False,
        {"require_tls13": True},
        VERIFIED_TLS,
        "phi_verified_tls",
    ),
    (VERIFIED_12, True, {"require_tls13": True}, STANDARD, "phi_patient_accepts_unencrypted"),
    (UNVERIFIED, False, {"require_tls13": True}, ESCROW, "phi_no_verified_tls"),
]


@pytest.mark.parametrize(("posture", "accepts", "overrides", "action", "code"), PHI_TRANSPORT)
def test_phi_transport_matrix(posture, accepts, overrides, action, code):
    decision = decide(PHI, posture=posture, accepts=accepts, **overrides)
    assert decision.action == action
    assert decision.codes == (code,)


@pytest.mark.parametrize("posture", [VERIFIED, VERIFIED_12, UNVERIFIED, NO_TLS])
@pytest.mark.parametrize("honour", [True, False])
def test_phi_never_goes_standard_without_the_recorded_choice(posture, honour):
    assert decide(PHI, posture=posture, accepts=False, honour_unencrypted_preference=honour).action != STANDARD


def test_health_context_alone_makes_phi_protected():
    classification = classified(LEVEL_PHI, "NAME", health_context=True)
    decision = decide(classification, posture=NO_TLS)
    assert decision.action == ESCROW
    assert "health context" in decision.reasons[0].message


# --- Messages without PHI -----------------------------------------------------------------------


@pytest.mark.parametrize("posture", [VERIFIED, UNVERIFIED, NO_TLS])
def test_messages_without_phi_are_deliverable_by_default(posture):
    assert decide(NONE, posture=posture).action == STANDARD
    assert decide(NONE, posture=posture).codes == ("none_standard",)
    assert decide(PII, posture=posture).action == STANDARD
    assert decide(PII, posture=posture).codes == ("pii_standard",)


@pytest.mark.parametrize(
    ("posture", "accepts", "action", "code"),
    [
        (VERIFIED, False, VERIFIED_TLS, "pii_verified_tls"),
        (UNVERIFIED, False, ESCROW, "pii_no_verified_tls"),
        (NO_TLS, False, ESCROW, "pii_no_verified_tls"),
        (NO_TLS, True, STANDARD, "pii_patient_accepts_unencrypted"),
    ],
)
def test_pii_protected_like_phi_when_the_tenant_says_so(posture, accepts, action, code):
    decision = decide(PII, posture=posture, accepts=accepts, pii_requires_verified_tls=True)
    assert (decision.action, decision.codes) == (action, (code,))


def test_escrow_all_phi_leaves_pii_alone():
    assert decide(PII, posture=NO_TLS, escrow_all_phi=True).action == STANDARD
    assert decide(PII, posture=NO_TLS, escrow_all_phi=True, pii_requires_verified_tls=True).action == ESCROW


# --- Sensitive content --------------------------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("posture", [VERIFIED, NO_TLS])
def test_an_ssn_means_escrow_whatever_the_level_tls_or_choice(level, posture):
    decision = decide(classified(level, "SSN"), posture=posture, accepts=True)
    assert decision.action == ESCROW
    assert "ssn" in decision.codes


def test_a_dense_record_means_escrow_and_counts_distinct_kinds():
    six = classified(LEVEL_PII, "NAME", "DATE", "ADDRESS", "ZIP", "PHONE", "MRN")
    five = classified(LEVEL_PII, "NAME", "DATE", "ADDRESS", "ZIP", "PHONE")
    names = classified(LEVEL_PII, *["NAME"] * 10, "DATE")
    assert decide(six, posture=VERIFIED).action == ESCROW
    assert "dense_record" in decide(six).codes
    assert "6 kinds of identifier" in decide(six).reasons[-1].message
    assert decide(five, posture=VERIFIED).action == STANDARD
    assert decide(names, posture=VERIFIED).action == STANDARD
    assert decide(classified(LEVEL_PHI, "NAME", "DATE", "CONDITION"), dense_threshold=2).action == ESCROW
    assert decide(six, dense_threshold=7).action == STANDARD


def test_health_findings_do_not_count_towards_a_dense_record():
    many_health = classified(LEVEL_PHI, "NAME", "CONDITION", "MEDICATION", "PROCEDURE", "LAB_RESULT", "DATE")
    assert decide(many_health, posture=VERIFIED).action == VERIFIED_TLS


def test_the_patients_choice_relaxes_only_the_transport_rule():
    dense = classified(LEVEL_PHI, "NAME", "DATE", "ADDRESS", "ZIP", "PHONE", "MRN", "CONDITION")
    assert decide(dense, posture=NO_TLS, accepts=True).action == ESCROW
    assert decide(PHI, posture=NO_TLS, accepts=True, purpose=MARKETING).action == QUARANTINE
    assert decide(PHI, posture=NO_TLS, accepts=True, purpose=NEWSLETTER).action == QUARANTINE
    rules = (ProtectionRule("finding", "CONDITION", ESCROW),)
    assert decide(PHI, posture=NO_TLS, accepts=True, rules=rules).action == ESCROW


# --- Purposes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "action", "codes"),
    [
        ("quarantine", QUARANTINE, ("phi_verified_tls", "phi_in_marketing")),
        ("block", BLOCK, ("phi_verified_tls", "phi_in_marketing")),
        ("allow", VERIFIED_TLS, ("phi_verified_tls",)),
    ],
)
def test_phi_in_marketing(choice, action, codes):
    decision = decide(PHI, purpose=MARKETING, phi_in_marketing=choice)
    assert (decision.action, decision.codes) == (action, codes)


def test_marketing_without_phi_is_not_held():
    assert decide(PII, purpose=MARKETING).action == STANDARD
    assert decide(NONE, purpose=MARKETING).action == STANDARD


def test_a_custom_marketing_purpose_that_allows_phi_is_still_held():
    purpose = PurposeFacts("offers", is_marketing=True, allows_phi=True)
    assert decide(PHI, purpose=purpose).action == QUARANTINE


@pytest.mark.parametrize(("choice", "action"), [("quarantine", QUARANTINE), ("block", BLOCK), ("allow", VERIFIED_TLS)])
def test_phi_for_a_purpose_that_may_not_carry_it(choice, action):
    decision = decide(PHI, purpose=NEWSLETTER, phi_outside_phi_purposes=choice)
    assert decision.action == action
    assert ("phi_purpose_not_allowed" in decision.codes) == (choice != "allow")


def test_a_real_purpose_info_is_accepted():
    from consent.purposes import BUILTIN_PURPOSES

    marketing = next(purpose for purpose in BUILTIN_PURPOSES if purpose.key == "marketing")
    care = next(purpose for purpose in BUILTIN_PURPOSES if purpose.key == "care")
    assert decide(PHI, purpose=marketing).action == QUARANTINE
    assert decide(PHI, purpose=care).action == VERIFIED_TLS


# --- Organisation rules -------------------------------------------------------------------------


def test_a_finding_rule_applies_only_when_the_type_is_present():
    rules = (ProtectionRule("finding", "MRN", ESCROW),)
    with_mrn = classified(LEVEL_PHI, "NAME", "MRN", "MRN", "CONDITION")
    decision = decide(with_mrn, rules=rules)
    assert decision.action == ESCROW
    assert decision.codes == ("phi_verified_tls", "rule_finding_mrn")
    assert "MRN (found 2)" in decision.reasons[-1].message
    assert decide(PHI, rules=rules).action == VERIFIED_TLS


def test_a_purpose_rule_applies_only_to_its_purpose():
    rules = (ProtectionRule("purpose", "billing", BLOCK),)
    billing = PurposeFacts("billing")
    assert decide(NONE, purpose=billing, rules=rules).action == BLOCK
    assert decide(NONE, purpose=billing, rules=rules).codes == ("none_standard", "rule_purpose")
    assert decide(NONE, purpose=CARE, rules=rules).action == STANDARD


def test_a_rule_never_lowers_the_decision():
    rules = (ProtectionRule("finding", "NAME", VERIFIED_TLS),)
    assert decide(PHI, posture=VERIFIED, purpose=MARKETING, rules=rules).action == QUARANTINE
    assert decide(classified(LEVEL_PHI, "NAME", "SSN"), rules=rules).action == ESCROW


@pytest.mark.parametrize("posture", [UNVERIFIED, NO_TLS, VERIFIED_12])
def test_verified_tls_asked_by_a_rule_but_unavailable_becomes_escrow(posture):
    rules = (ProtectionRule("purpose", "care", VERIFIED_TLS),)
    decision = decide(NONE, posture=posture, rules=rules, require_tls13=True)
    assert decision.action == ESCROW
    assert decision.codes == ("none_standard", "rule_purpose", "verified_tls_unavailable")
    # A patient's recorded choice does not undo a tenant rule asking for verified TLS.
    assert decide(PHI, posture=NO_TLS, accepts=True, rules=rules).action == ESCROW


def test_every_rule_that_fires_gives_a_reason():
    rules = (ProtectionRule("finding", "SSN", QUARANTINE), ProtectionRule("purpose", "marketing", BLOCK))
    classification = classified(LEVEL_PHI, "NAME", "SSN", "CONDITION")
    decision = decide(classification, posture=NO_TLS, purpose=MARKETING, accepts=True, rules=rules)
    assert decision.action == BLOCK
    assert decision.codes == (
        "phi_patient_accepts_unencrypted",
        "ssn",
        "phi_in_marketing",
        "rule_finding_ssn",
        "rule_purpose",
    )


# --- Released from quarantine -------------------------------------------------------------------


def test_a_released_message_keeps_every_protection_but_the_hold():
    released = decide(PHI, purpose=MARKETING, released=True)
    assert released.action == VERIFIED_TLS
    assert released.codes == ("phi_verified_tls", "phi_in_marketing", "released_after_review")
    assert decide(PHI, purpose=MARKETING, posture=NO_TLS, released=True).action == ESCROW
    assert decide(PHI, purpose=MARKETING, phi_in_marketing="block", released=True).action == BLOCK
    assert decide(PHI, purpose=CARE, released=True).codes == ("phi_verified_tls",)


# --- Reasons hold no PHI ------------------------------------------------------------------------


def test_reasons_name_types_and_counts_never_the_domain_or_text():
    posture = DomainPosture(domain="testy-synthetic-family.example", tls="unverified", tls_version="1.2")
    classification = classified(LEVEL_PHI, "NAME", "NAME", "SSN", "CONDITION")
    decision = decide(classification, posture=posture, purpose=MARKETING, accepts=True)
    text = " ".join(reason.message for reason in decision.reasons)
    assert "testy-synthetic-family" not in text
    assert "NAME ×2" in text and "SSN" in text and "CONDITION" in text
    # The function is never given the text, only findings (types and offsets).
    assert "text" not in protection_decide.__code__.co_varnames[: protection_decide.__code__.co_kwonlyargcount]


# --- The invariant, over every input ------------------------------------------------------------

levels = st.sampled_from(LEVELS)
finding_lists = st.lists(st.sampled_from(sorted(FINDING_TYPES)), max_size=12)
postures = st.builds(
    DomainPosture,
    domain=st.just("prop.example"),
    tls=st.sampled_from(TLS_STATES),
    tls_version=st.sampled_from([None, "1.0", "1.2", "1.3", "TLSv1.3"]),
)
purposes = st.builds(
    PurposeFacts,
    key=st.sampled_from(["care", "billing", "marketing", "newsletter"]),
    is_marketing=st.booleans(),
    allows_phi=st.booleans(),
)
rule_lists = st.lists(
    st.one_of(
        st.builds(
            ProtectionRule, st.just("finding"), st.sampled_from(sorted(FINDING_TYPES)), st.sampled_from(RULE_ACTIONS)
        ),
        st.builds(
            ProtectionRule,
            st.just("purpose"),
            st.sampled_from(["care", "billing", "marketing", "newsletter"]),
            st.sampled_from(RULE_ACTIONS),
        ),
    ),
    max_size=4,
).map(tuple)
policies = st.builds(
    PolicySettings,
    honour_unencrypted_preference=st.booleans(),
    escrow_all_phi=st.booleans(),
    require_tls13=st.booleans(),
    pii_requires_verified_tls=st.booleans(),
    dense_threshold=st.integers(2, len(IDENTIFIER_TYPES)),
    phi_in_marketing=st.sampled_from(HOLD_CHOICES),
    phi_outside_phi_purposes=st.sampled_from(HOLD_CHOICES),
    rules=rule_lists,
)


@hypothesis_settings(max_examples=1500, deadline=None)
@given(
    policy=policies,
    level=levels,
    kinds=finding_lists,
    health_context=st.booleans(),
    purpose=purposes,
    posture=postures,
    accepts=st.booleans(),
    released=st.booleans(),
)
def test_property_never_plaintext_phi_without_the_recorded_choice(
    policy, level, kinds, health_context, purpose, posture, accepts, released
):
    classification = Classification(
        level=level,
        findings=tuple(finding(kind, i, i + 1) for i, kind in enumerate(kinds)),
        health_context=health_context,
    )
    decision = protection_decide(
        policy=policy,
        classification=classification,
        purpose=purpose,
        posture=posture,
        accepts_unencrypted_phi=accepts,
        released=released,
    )
    assert decision.action in ACTIONS
    assert decision.reasons, "every decision has a reason"
    rank = STRICTNESS[decision.action]
    # Never PHI by standard delivery without the patient's recorded choice, honoured by the tenant.
    if decision.action == STANDARD and level == LEVEL_PHI:
        assert accepts and policy.honour_unencrypted_preference
    # Verified TLS is only ever decided where the domain offers it (as the tenant requires).
    if decision.action == VERIFIED_TLS:
        assert posture.verified(require_tls13=policy.require_tls13)
    # Sensitive content and tenant-wide escrow are floors.
    if "SSN" in kinds:
        assert rank >= STRICTNESS[ESCROW]
    if level == LEVEL_PHI and policy.escrow_all_phi:
        assert rank >= STRICTNESS[ESCROW]
    if level == LEVEL_PHI and posture.tls != "verified" and not (accepts and policy.honour_unencrypted_preference):
        assert rank >= STRICTNESS[ESCROW]
    if level == LEVEL_PII and policy.pii_requires_verified_tls and decision.action == STANDARD:
        assert accepts and policy.honour_unencrypted_preference
    # The strictest reason decides (a release lifts only the quarantine minimums).
    counted = [r for r in decision.reasons if not (released and r.action == QUARANTINE)]
    assert rank == max(STRICTNESS[r.action] for r in counted)
    if not released:
        assert rank >= max(STRICTNESS[r.action] for r in decision.reasons)


def test_the_function_checks_its_invariant_itself():
    with pytest.raises(ProtectionInvariantError):
        _check_invariants(
            action=STANDARD, level=LEVEL_PHI, policy=DEFAULT_SETTINGS, accepts_unencrypted_phi=False, findings=()
        )
    with pytest.raises(ProtectionInvariantError):
        _check_invariants(
            action=STANDARD,
            level=LEVEL_PII,
            policy=DEFAULT_SETTINGS,
            accepts_unencrypted_phi=True,
            findings=(finding("SSN"),),
        )
    _check_invariants(
        action=STANDARD, level=LEVEL_PHI, policy=DEFAULT_SETTINGS, accepts_unencrypted_phi=True, findings=()
    )


def test_protection_decide_refuses_to_return_a_broken_decision(monkeypatch):
    """Were a rule ever to send PHI by standard delivery without the recorded choice, the
    function raises rather than return that decision."""
    from encryption import protection
    from encryption.protection import Reason

    monkeypatch.setattr(protection, "_transport", lambda **kwargs: Reason("broken", STANDARD, "A broken rule."))
    with pytest.raises(ProtectionInvariantError):
        decide(PHI, posture=NO_TLS, accepts=False)


# --- Inputs are validated -----------------------------------------------------------------------


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="tls must be"):
        DomainPosture("x.example", "maybe")
    with pytest.raises(ValueError, match="tls_version"):
        DomainPosture("x.example", "verified", "1.3; DROP")
    with pytest.raises(ValueError, match="dense_threshold"):
        PolicySettings(dense_threshold=1)
    with pytest.raises(ValueError, match="phi_in_marketing"):
        PolicySettings(phi_in_marketing="shrug")
    with pytest.raises(ValueError, match="level"):
        decide(Classification(level="secret", findings=()))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("finding MRN escrow", "list"),
        ([{"kind": "finding", "value": "MRN"}], "exactly"),
        ([{"kind": "colour", "value": "MRN", "action": "escrow"}], "finding type or a purpose"),
        ([{"kind": "finding", "value": "MOOD", "action": "escrow"}], "not a finding type"),
        ([{"kind": "purpose", "value": "has space", "action": "escrow"}], "not a purpose key"),
        ([{"kind": "finding", "value": "MRN", "action": "standard"}], "requires one of"),
        ([{"kind": "finding", "value": "MRN", "action": 3}], "text"),
        (
            [
                {"kind": "finding", "value": "MRN", "action": "escrow"},
                {"kind": "finding", "value": "MRN", "action": "block"},
            ],
            "repeats",
        ),
        ([{"kind": "purpose", "value": f"p{i}", "action": "escrow"} for i in range(51)], "At most 50"),
    ],
)
def test_rule_lists_are_validated(raw, message):
    with pytest.raises(InvalidRule, match=message):
        rules_from_json(raw)


def test_a_valid_rule_list_round_trips():
    raw = [
        {"kind": "finding", "value": "MRN", "action": "escrow"},
        {"kind": "purpose", "value": "billing", "action": "block"},
    ]
    rules = rules_from_json(raw)
    assert [rule.as_json() for rule in rules] == raw
    assert [rule.label for rule in rules] == ["finding:MRN:escrow", "purpose:billing:block"]
    assert rules_from_json(None) == ()


# --- Highlighting -------------------------------------------------------------------------------


def test_highlight_segments_cut_the_text_at_the_findings():
    text = "Dear Testy, MRN ZZ-1."
    segments = highlight_segments(text, [finding("MRN", 16, 20), finding("NAME", 5, 10)])
    assert [(s.text, s.type) for s in segments] == [
        ("Dear ", None),
        ("Testy", "NAME"),
        (", MRN ", None),
        ("ZZ-1", "MRN"),
        (".", None),
    ]
    assert "".join(s.text for s in segments) == text


def test_highlight_segments_survive_bad_and_overlapping_offsets():
    text = "abcdefghij"
    stored = [
        {"type": "NAME", "start": 2, "end": 6},
        {"type": "DATE", "start": 4, "end": 8},  # overlaps: clipped
        {"type": "ZIP", "start": 9, "end": 50},  # past the end: clipped
        {"type": "MRN", "start": -1, "end": 3},  # ignored
        {"type": "MRN", "start": 5, "end": 5},  # empty: ignored
        {"type": "MRN", "start": "1", "end": 2},  # not a number: ignored
    ]
    segments = highlight_segments(text, stored)
    assert "".join(s.text for s in segments) == text
    assert [(s.text, s.type) for s in segments if s.type] == [("cdef", "NAME"), ("gh", "DATE"), ("j", "ZIP")]


def test_finding_counts_most_frequent_first():
    assert finding_counts([finding("NAME"), finding("MRN"), finding("NAME")]) == [("NAME", 2), ("MRN", 1)]
    assert finding_counts([{"type": "ZIP"}]) == [("ZIP", 1)]
