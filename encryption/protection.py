"""The protection policy: how one message is protected for one recipient.

``protection_decide`` is a pure function of the tenant's policy settings, the classifier's
verdict on the message, the campaign purpose, the recipient domain's TLS posture and the
patient's recorded choice of PHI by ordinary email. It returns one action and every reason.

Actions, from least to most strict:

- ``standard``: deliver with opportunistic TLS, so plaintext is possible. For messages with no
  PHI, and for PHI only when the patient recorded that they accept unencrypted email and the
  organisation honours that choice (HIPAA gives patients that right; 45 CFR 164.522(b)).
- ``verified_tls``: deliver only over TLS verified for the recipient's MX.
- ``escrow``: store encrypted; the recipient gets a PHI-free notice with a portal link.
- ``quarantine``: hold for a compliance officer's review (``encryption.quarantine``).
- ``block``: do not send.

Every rule that fires contributes a minimum action and a reason; the decision is the strictest
minimum. Reasons carry finding types and counts, never the text found. Whatever the inputs,
``standard`` is never the answer for a PHI message without the patient's recorded choice: the
function checks that itself before it returns (and a property test checks it over all inputs).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from encryption.dlp.findings import (
    FINDING_TYPES,
    HEALTH_TYPES,
    IDENTIFIER_TYPES,
    LEVEL_PHI,
    LEVEL_PII,
    LEVELS,
    SSN,
    Classification,
    Finding,
)

# --- Actions ------------------------------------------------------------------------------------

STANDARD = "standard"
VERIFIED_TLS = "verified_tls"
ESCROW = "escrow"
QUARANTINE = "quarantine"
BLOCK = "block"
ACTIONS = (STANDARD, VERIFIED_TLS, ESCROW, QUARANTINE, BLOCK)  # least strict first
STRICTNESS = {action: rank for rank, action in enumerate(ACTIONS)}
ACTION_LABELS = {
    STANDARD: "Standard delivery (opportunistic TLS)",
    VERIFIED_TLS: "Verified TLS only",
    ESCROW: "Escrow (secure portal)",
    QUARANTINE: "Quarantine (compliance review)",
    BLOCK: "Block",
}
# What a tenant rule may require at least (``standard`` would never change a decision).
RULE_ACTIONS = (VERIFIED_TLS, ESCROW, QUARANTINE, BLOCK)

# What a PHI message for a purpose that may not carry it becomes (a policy setting).
HOLD_QUARANTINE = "quarantine"
HOLD_BLOCK = "block"
HOLD_ALLOW = "allow"  # only the transport rules apply
HOLD_CHOICES = (HOLD_QUARANTINE, HOLD_BLOCK, HOLD_ALLOW)

# --- Recipient-domain TLS posture ---------------------------------------------------------------

TLS_VERIFIED = "verified"  # STARTTLS, certificate valid for the MX name (or MTA-STS enforce / DANE)
TLS_UNVERIFIED = "unverified"  # STARTTLS offered, certificate not verifiable
TLS_NONE = "none"  # no STARTTLS
TLS_STATES = (TLS_VERIFIED, TLS_UNVERIFIED, TLS_NONE)
_VERSION = re.compile(r"^(?:TLSv)?(\d+)\.(\d+)$")  # "1.3", or Python's "TLSv1.3"
MIN_TLS = (1, 2)
TLS13 = (1, 3)

# --- Dense records ------------------------------------------------------------------------------

# A message naming this many distinct kinds of identifier (name, date, address, ZIP, phone, MRN,
# ...) reads as a record about a person: escrow whatever the transport. Six is past what an
# ordinary reminder carries (a name, a date, the clinic's phone and address) and short of a
# registration record; tenants tune it between the bounds.
DEFAULT_DENSE_THRESHOLD = 6
MIN_DENSE_THRESHOLD = 2
MAX_DENSE_THRESHOLD = len(IDENTIFIER_TYPES)

# --- Tenant rules -------------------------------------------------------------------------------

RULE_FINDING = "finding"  # "if finding type X is present, at least action Y"
RULE_PURPOSE = "purpose"  # "if the campaign purpose is P, at least action Y"
RULE_KINDS = (RULE_FINDING, RULE_PURPOSE)
MAX_RULES = 50
_PURPOSE_KEY = re.compile(r"^[-a-zA-Z0-9_]{1,64}$")


class InvalidRule(ValueError):
    """A tenant rule that does not validate; the message says which and why (never PHI)."""


class ProtectionInvariantError(RuntimeError):
    """The policy produced a decision it must never produce (a bug, not a bad input)."""


@dataclass(frozen=True)
class ProtectionRule:
    kind: str
    value: str
    action: str

    def __post_init__(self) -> None:
        if self.kind not in RULE_KINDS:
            raise InvalidRule(f"A rule applies to a finding type or a purpose, not “{self.kind[:40]}”.")
        if self.kind == RULE_FINDING and self.value not in FINDING_TYPES:
            raise InvalidRule(f"“{self.value[:40]}” is not a finding type (such as MRN, SSN, CONDITION).")
        if self.kind == RULE_PURPOSE and not _PURPOSE_KEY.match(self.value):
            raise InvalidRule(f"“{self.value[:40]}” is not a purpose key.")
        if self.action not in RULE_ACTIONS:
            raise InvalidRule(f"A rule requires one of {', '.join(RULE_ACTIONS)}, not “{self.action[:40]}”.")

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind, "value": self.value, "action": self.action}

    @property
    def label(self) -> str:
        """Also the form in the audit log (``finding:MRN:escrow``)."""
        return f"{self.kind}:{self.value}:{self.action}"


def rules_from_json(raw: Any) -> tuple[ProtectionRule, ...]:
    """Validate a stored or submitted rule list: a list of {"kind", "value", "action"} objects,
    no duplicates, at most ``MAX_RULES``."""
    if raw is None:
        return ()
    if not isinstance(raw, list | tuple):
        raise InvalidRule("Rules are a list.")
    if len(raw) > MAX_RULES:
        raise InvalidRule(f"At most {MAX_RULES} rules.")
    rules: list[ProtectionRule] = []
    for position, item in enumerate(raw, start=1):
        if not isinstance(item, dict) or set(item) != {"kind", "value", "action"}:
            raise InvalidRule(f"Rule {position} must have exactly a kind, a value and an action.")
        if not all(isinstance(item[key], str) for key in item):
            raise InvalidRule(f"Rule {position}: kind, value and action are text.")
        try:
            rule = ProtectionRule(item["kind"], item["value"], item["action"])
        except InvalidRule as error:
            raise InvalidRule(f"Rule {position}: {error}") from None
        if any((rule.kind, rule.value) == (seen.kind, seen.value) for seen in rules):
            raise InvalidRule(f"Rule {position} repeats an earlier rule for {rule.kind} {rule.value}.")
        rules.append(rule)
    return tuple(rules)


# --- Inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicySettings:
    """A tenant's protection policy as plain values (``ProtectionPolicy.settings`` makes one)."""

    honour_unencrypted_preference: bool = True
    escrow_all_phi: bool = False
    require_tls13: bool = False
    pii_requires_verified_tls: bool = False
    dense_threshold: int = DEFAULT_DENSE_THRESHOLD
    phi_in_marketing: str = HOLD_QUARANTINE
    phi_outside_phi_purposes: str = HOLD_QUARANTINE
    rules: tuple[ProtectionRule, ...] = ()

    def __post_init__(self) -> None:
        if not MIN_DENSE_THRESHOLD <= self.dense_threshold <= MAX_DENSE_THRESHOLD:
            raise ValueError(f"dense_threshold must be between {MIN_DENSE_THRESHOLD} and {MAX_DENSE_THRESHOLD}.")
        for name in ("phi_in_marketing", "phi_outside_phi_purposes"):
            if getattr(self, name) not in HOLD_CHOICES:
                raise ValueError(f"{name} must be one of {HOLD_CHOICES}.")


DEFAULT_SETTINGS = PolicySettings()


class PurposeLike(Protocol):
    """What the policy reads of a purpose (``consent.purposes.PurposeInfo`` has it)."""

    @property
    def key(self) -> str: ...
    @property
    def is_marketing(self) -> bool: ...
    @property
    def allows_phi(self) -> bool: ...


@dataclass(frozen=True)
class PurposeFacts:
    """A purpose as plain values, for callers without a ``PurposeInfo`` at hand."""

    key: str
    is_marketing: bool = False
    allows_phi: bool = True


@dataclass(frozen=True)
class DomainPosture:
    """What the delivery pipeline knows of a recipient domain's TLS (issue 10 supplies it)."""

    domain: str
    tls: str
    tls_version: str | None = None

    def __post_init__(self) -> None:
        if self.tls not in TLS_STATES:
            raise ValueError(f"tls must be one of {TLS_STATES}.")
        if self.tls_version is not None and not _VERSION.match(self.tls_version):
            raise ValueError("tls_version looks like 1.2 or TLSv1.3.")

    @property
    def version(self) -> tuple[int, int] | None:
        match = _VERSION.match(self.tls_version or "")
        return (int(match.group(1)), int(match.group(2))) if match else None

    @property
    def version_label(self) -> str:
        version = self.version
        return f"TLS {version[0]}.{version[1]}" if version else "an unknown TLS version"

    def verified(self, *, require_tls13: bool) -> bool:
        """Verified TLS good enough for PHI: at least TLS 1.2 (1.3 when the tenant requires it)."""
        if self.tls != TLS_VERIFIED:
            return False
        version = self.version
        if require_tls13:
            return version is not None and version >= TLS13
        return version is None or version >= MIN_TLS


# --- Output -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """Why a rule fired: a stable ``code``, the minimum ``action`` it asked for and a sentence
    for people. Neither holds PHI: finding types and counts at most."""

    code: str
    action: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "action": self.action, "message": self.message}


@dataclass(frozen=True)
class ProtectionDecision:
    action: str
    reasons: tuple[Reason, ...] = field(default_factory=tuple)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(reason.code for reason in self.reasons)

    @property
    def label(self) -> str:
        return ACTION_LABELS[self.action]


# --- The policy ---------------------------------------------------------------------------------


def _types_summary(findings: Iterable[Finding], kinds: frozenset[str]) -> str:
    counts = Counter(finding.type for finding in findings if finding.type in kinds)
    return ", ".join(f"{kind} ×{count}" if count > 1 else kind for kind, count in sorted(counts.items()))


def _level_sentence(classification: Classification) -> str:
    identifiers = _types_summary(classification.findings, IDENTIFIER_TYPES)
    health = _types_summary(classification.findings, HEALTH_TYPES)
    parts = [f"identifiers: {identifiers}" if identifiers else "", f"health information: {health}" if health else ""]
    if classification.health_context and not health:
        parts.append("health context")
    found = "; ".join(part for part in parts if part)
    return f" ({found})" if found else ""


def _transport(
    *,
    policy: PolicySettings,
    posture: DomainPosture,
    accepts_unencrypted_phi: bool,
    subject: str,
    code_prefix: str,
) -> Reason:
    """PHI (or PII treated like it) travels over verified TLS, or with the patient's recorded
    choice by ordinary email, or else goes to escrow. The domain itself stays out of the reason
    (part of an address; reasons are shown where no PHI may be)."""
    domain = "the recipient's domain"
    if policy.escrow_all_phi and code_prefix == "phi":
        return Reason("escrow_all_phi", ESCROW, "The organisation sends all PHI through escrow.")
    if posture.verified(require_tls13=policy.require_tls13):
        version = f" ({posture.version_label})" if posture.version else ""
        return Reason(f"{code_prefix}_verified_tls", VERIFIED_TLS, f"{subject}: {domain} offers verified TLS{version}.")
    if accepts_unencrypted_phi and policy.honour_unencrypted_preference:
        return Reason(
            f"{code_prefix}_patient_accepts_unencrypted",
            STANDARD,
            f"{subject}, and {domain} has no verified TLS{' 1.3' if policy.require_tls13 else ''}; the patient "
            "recorded that they accept unencrypted email and the organisation honours that choice.",
        )
    if policy.require_tls13 and posture.tls == TLS_VERIFIED:
        return Reason(
            f"{code_prefix}_tls13_required",
            ESCROW,
            f"{subject}: the organisation requires TLS 1.3 and {domain} offers {posture.version_label}; "
            "escrow instead.",
        )
    state = {TLS_VERIFIED: "verified TLS below 1.2", TLS_UNVERIFIED: "TLS without verification", TLS_NONE: "no TLS"}
    return Reason(
        f"{code_prefix}_no_verified_tls", ESCROW, f"{subject}: {domain} offers {state[posture.tls]}; escrow instead."
    )


def _purpose_hold(choice: str, code: str, message: str) -> Reason | None:
    if choice == HOLD_ALLOW:
        return None
    return Reason(code, QUARANTINE if choice == HOLD_QUARANTINE else BLOCK, message)


def protection_decide(
    *,
    policy: PolicySettings,
    classification: Classification,
    purpose: PurposeLike,
    posture: DomainPosture,
    accepts_unencrypted_phi: bool,
    released: bool = False,
) -> ProtectionDecision:
    """Decide how to protect one message for one recipient. Pure: no database, no I/O.

    ``released``: a compliance officer released this message from quarantine, so rules asking
    for ``quarantine`` no longer hold it; every other rule (transport, escrow, block) still
    applies, so a released message is never sent less protected than policy requires."""
    level = classification.level
    if level not in LEVELS:
        raise ValueError(f"Unknown classification level {level!r}.")
    reasons: list[Reason] = []
    level_note = _level_sentence(classification)

    # Transport.
    if level == LEVEL_PHI:
        reasons.append(
            _transport(
                policy=policy,
                posture=posture,
                accepts_unencrypted_phi=accepts_unencrypted_phi,
                subject=f"The message carries PHI{level_note}",
                code_prefix="phi",
            )
        )
    elif level == LEVEL_PII and policy.pii_requires_verified_tls:
        reasons.append(
            _transport(
                policy=policy,
                posture=posture,
                accepts_unencrypted_phi=accepts_unencrypted_phi,
                subject=f"The message identifies a person{level_note} and the organisation protects that like PHI",
                code_prefix="pii",
            )
        )
    else:
        what = "identifies a person but carries no health information" if level == LEVEL_PII else "carries no PHI"
        reasons.append(Reason(f"{level}_standard", STANDARD, f"The message {what}{level_note}."))

    # Sensitive content: escrow whatever the transport or the patient's choice.
    findings = classification.findings
    if any(finding.type == SSN for finding in findings):
        reasons.append(Reason("ssn", ESCROW, "The message contains a Social Security number: escrow only."))
    identifier_kinds = {finding.type for finding in findings if finding.type in IDENTIFIER_TYPES}
    if len(identifier_kinds) >= policy.dense_threshold:
        reasons.append(
            Reason(
                "dense_record",
                ESCROW,
                f"The message names {len(identifier_kinds)} kinds of identifier (the organisation's limit is "
                f"{policy.dense_threshold}): it reads as a record about a person, so escrow only.",
            )
        )

    # Purpose: PHI where the purpose does not allow it is held (or blocked) for review.
    if level == LEVEL_PHI:
        if purpose.is_marketing:
            reason = _purpose_hold(
                policy.phi_in_marketing,
                "phi_in_marketing",
                f"The message carries PHI for the marketing purpose “{purpose.key}”: marketing with PHI needs the "
                "patient's HIPAA authorisation, so a compliance officer reviews it.",
            )
        elif not purpose.allows_phi:
            reason = _purpose_hold(
                policy.phi_outside_phi_purposes,
                "phi_purpose_not_allowed",
                f"The message carries PHI, but the purpose “{purpose.key}” is not one that may carry PHI.",
            )
        else:
            reason = None
        if reason is not None:
            reasons.append(reason)

    # The organisation's own rules.
    present = classification.types
    for rule in policy.rules:
        if rule.kind == RULE_FINDING and rule.value in present:
            count = sum(1 for finding in findings if finding.type == rule.value)
            reasons.append(
                Reason(
                    f"rule_finding_{rule.value.lower()}",
                    rule.action,
                    f"Organisation rule: a message with {rule.value} (found {count}) is at least "
                    f"“{ACTION_LABELS[rule.action]}”.",
                )
            )
        elif rule.kind == RULE_PURPOSE and rule.value == purpose.key:
            reasons.append(
                Reason(
                    "rule_purpose",
                    rule.action,
                    f"Organisation rule: messages for the purpose “{rule.value}” are at least "
                    f"“{ACTION_LABELS[rule.action]}”.",
                )
            )

    counted = reasons
    if released and any(reason.action == QUARANTINE for reason in reasons):
        counted = [reason for reason in reasons if reason.action != QUARANTINE]
        reasons.append(
            Reason("released_after_review", STANDARD, "A compliance officer reviewed the message and released it.")
        )
    action = max((reason.action for reason in counted), key=STRICTNESS.__getitem__)
    # Verified TLS cannot be had from this domain: escrow rather than a delivery that must fail.
    if action == VERIFIED_TLS and not posture.verified(require_tls13=policy.require_tls13):
        reasons.append(
            Reason(
                "verified_tls_unavailable",
                ESCROW,
                "Verified TLS is required, but the recipient's domain does not offer it "
                f"{'(TLS 1.3) ' if policy.require_tls13 else ''}: escrow instead.",
            )
        )
        action = ESCROW
    _check_invariants(
        action=action, level=level, policy=policy, accepts_unencrypted_phi=accepts_unencrypted_phi, findings=findings
    )
    return ProtectionDecision(action=action, reasons=tuple(reasons))


def _check_invariants(
    *, action: str, level: str, policy: PolicySettings, accepts_unencrypted_phi: bool, findings: Sequence[Finding]
) -> None:
    honoured = accepts_unencrypted_phi and policy.honour_unencrypted_preference
    if action == STANDARD and level == LEVEL_PHI and not honoured:
        raise ProtectionInvariantError("PHI without the patient's recorded choice was about to go by standard email.")
    if action == STANDARD and any(finding.type == SSN for finding in findings):
        raise ProtectionInvariantError("A Social Security number was about to go by standard email.")


# --- Highlighting findings (the simulator and quarantine review) --------------------------------


@dataclass(frozen=True)
class Segment:
    """A piece of text, and the finding type it was found as (``None``: not a finding). The
    template escapes ``text``; nothing here is marked safe."""

    text: str
    type: str | None = None


def highlight_segments(text: str, findings: Iterable[Finding | dict[str, Any]]) -> list[Segment]:
    """Cut ``text`` into plain and found segments. Findings are objects or their stored JSON
    (type, start, end); out-of-range ones are ignored and overlapping ones clipped, so a bad
    offset can never break the page."""
    spans: list[tuple[int, int, str]] = []
    for finding in findings:
        if isinstance(finding, dict):
            start, end, kind = finding.get("start"), finding.get("end"), finding.get("type")
        else:
            start, end, kind = finding.start, finding.end, finding.type
        if isinstance(start, int) and isinstance(end, int) and isinstance(kind, str) and 0 <= start < end:
            spans.append((start, min(end, len(text)), kind))
    segments: list[Segment] = []
    cursor = 0
    for start, end, kind in sorted(spans):
        start = max(start, cursor)
        if start >= end:
            continue
        if start > cursor:
            segments.append(Segment(text[cursor:start]))
        segments.append(Segment(text[start:end], kind))
        cursor = end
    if cursor < len(text):
        segments.append(Segment(text[cursor:]))
    return segments


def finding_counts(findings: Iterable[Finding | dict[str, Any]]) -> list[tuple[str, int]]:
    """(type, count) pairs, most frequent first: what may be shown without the text."""
    counts = Counter(finding["type"] if isinstance(finding, dict) else finding.type for finding in findings)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))
