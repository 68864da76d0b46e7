"""The classifier: every rule module's findings merged without overlaps, and the message level.

Level (``level_of``, decided by ``decision.decide_level``):

* ``phi``  — something in the message identifies a person, and the message is not recognisably
  about something other than their care: positive evidence of care (a health finding, or
  ``health_context``: an appointment, a bill for care, a prescription being ready, results being
  available...) or none either way (implicit care: "we have you scheduled", "payment received");
* ``pii``  — something identifies a person, and the message is recognisably not about their care
  (account security, portal access, outreach, plan paperwork, staff mail...: ``decision.py``);
* ``none`` — otherwise: general health education with no identifier is ``none``.

What identifies a person: a name, an SSN, a record, plan, account, licence, vehicle or device
number, an IP address, a biometric or photo reference, any other labelled identifier; and a
phone or fax number, e-mail address, street address, ZIP code or URL *when the words around it tie
it to the person* (their rule ends in ``/personal``: "your mobile", a personal mailbox rather than
``info@``, a URL carrying a record number). A date counts when it is tied to the person (a date
of birth, "your appointment on ...") and the message carries health information. Values from
merge fields (rules ``merge:<field>``) are about the recipient by construction.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

from encryption.dlp.context import ScanContext
from encryption.dlp.decision import (
    CARE_CONTEXT,
    CARE_FINDING,
    CARE_NONE,
    GENERAL_HEALTH,
    decide_level,
    non_care_signals,
)
from encryption.dlp.findings import (
    CONDITION,
    DATE,
    EMAIL,
    HEALTH_TYPES,
    LAB_RESULT,
    LEVEL_NONE,
    LEVEL_PHI,
    LEVEL_PII,
    MEDICATION,
    NAME,
    OTHER_ID,
    PHONE,
    PROCEDURE,
    URL,
    Classification,
    Finding,
)
from encryption.dlp.health import GENERAL, health_context, health_findings, mark_general
from encryption.dlp.lexicon import health_terms, icd10_categories, lower_same_length, normalise
from encryption.dlp.names import _NOT_NAME, _ORG, _known, _lists, fold, name_findings
from encryption.dlp.patterns import ORG, PERSONAL, structured_findings
from encryption.dlp.validators import digits_of

# Findings that identify a person wherever they appear.
STRONG_IDENTIFIERS = frozenset(
    {
        "NAME",
        "SSN",
        "MRN",
        "HEALTH_PLAN_ID",
        "ACCOUNT_NUMBER",
        "LICENSE_NUMBER",
        "VEHICLE_ID",
        "DEVICE_ID",
        "IP_ADDRESS",
        "BIOMETRIC",
        "PHOTO",
        "OTHER_ID",
    }
)

# Which finding wins where two overlap: the higher tier, then the longer span, then confidence.
_HEALTH_TIER = {LAB_RESULT: 3, MEDICATION: 3, PROCEDURE: 2, CONDITION: 2}


def _tier(finding: Finding) -> int:
    tier = _TIERS.get((finding.rule, finding.type))
    if tier is None:
        tier = _rule_tier(finding.rule, finding.type)
        if len(_TIERS) < 4096:  # merge rules are named after template fields: keep the memo bounded
            _TIERS[finding.rule, finding.type] = tier
    return tier


# A rule's tier depends on the rule and the type alone: computed once per pair.
_TIERS: dict[tuple[str, str], int] = {}


def _rule_tier(rule: str, type_: str) -> int:
    if rule.startswith("label:") or rule.endswith((".check_digit", ".check_digit/org")) or rule == "mbi.format":
        return 6  # the words said what it is
    if type_ == NAME:
        # A name after a title or label beats a dictionary word it overlaps ("Dr. Allegra Stone");
        # a name found only in the name lists gives way to a drug or condition of the same spelling.
        return 4 if rule in ("name.title", "name.label", "name.greeting", "name.closing") else 1
    if type_ in HEALTH_TYPES:
        return _HEALTH_TIER[type_]
    if type_ == OTHER_ID and rule in ("id.digits", "id.code", "id.digits/org", "id.code/org"):
        return 2
    return 5


def resolve(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Non-overlapping findings sorted by start: where spans overlap the stronger one stays."""
    ranked = sorted(set(findings), key=lambda f: (-_tier(f), f.start - f.end, -f.confidence, f.start))
    starts: list[int] = []  # the kept spans, sorted by start (they never overlap)
    ends: list[int] = []
    kept: list[Finding] = []
    for finding in ranked:
        if finding.end <= finding.start:
            continue
        at = bisect_left(starts, finding.start)
        if at < len(starts) and starts[at] < finding.end:
            continue  # a kept span starts inside this one
        if at and ends[at - 1] > finding.start:
            continue  # the kept span before this one reaches into it
        starts.insert(at, finding.start)
        ends.insert(at, finding.end)
        kept.insert(at, finding)
    return tuple(kept)


def _scan(ctx: ScanContext) -> tuple[tuple[Finding, ...], list[tuple[int, int]]]:
    """The findings, and the spans of dates and names (anchors of personal sentences)."""
    identifiers = [*structured_findings(ctx), *name_findings(ctx)]
    resolved = resolve([*identifiers, *health_findings(ctx)])
    anchors = [(f.start, f.end) for f in resolved if f.type in (DATE, NAME)]
    health = [f for f in resolved if f.type in HEALTH_TYPES]
    if not health:
        return resolved, anchors
    # Health terms in general sentences (education, marketing, event titles) are no information
    # about anyone: they are left out, as they would not change the level anyway.
    general = {(f.start, f.end) for f in mark_general(ctx, health, anchors) if f.rule.endswith(GENERAL)}
    if len(general) == len(health):
        ctx.cache[GENERAL_HEALTH] = True  # only general health terms: a signal of education (decision.py)
    return tuple(f for f in resolved if (f.start, f.end) not in general or f.type not in HEALTH_TYPES), anchors


def scan(text: str) -> tuple[Finding, ...]:
    """Every finding in ``text``, sorted by start, without overlaps."""
    if not text:
        return ()
    return _scan(ScanContext.of(text))[0]


def _identifies(finding: Finding, health: bool) -> bool:
    if finding.rule.endswith(ORG):
        return False  # the organisation's equipment: a server's IP address, a fleet van's VIN
    if finding.type in STRONG_IDENTIFIERS or finding.rule.startswith("merge:"):
        return True
    if finding.rule.endswith(PERSONAL):
        return finding.type != DATE or health
    return False


def level_of(findings: Iterable[Finding], health_context: bool, signals: frozenset[str] | None = None) -> str:
    """The message level for these findings (see the module docstring).

    ``signals``: the non-care classes the text was recognised as (``decision.non_care_signals``);
    with them the level is decided by ``decision.decide_level`` (a person identified is ``phi``
    unless the message is recognisably not about their care). Without them (``None``: a caller
    that has findings but no text) only positive evidence of care makes ``phi``."""
    findings = tuple(findings)
    finding = any(f.type in HEALTH_TYPES and not f.rule.endswith(GENERAL) for f in findings)
    health = health_context or finding
    identifies = any(_identifies(f, health) for f in findings)
    if signals is None:
        if identifies:
            return LEVEL_PHI if health else LEVEL_PII
        return LEVEL_NONE
    care = CARE_FINDING if finding else CARE_CONTEXT if health_context else CARE_NONE
    return decide_level(identifies=identifies, care=care, signals=signals)


@dataclass(frozen=True)
class TextEvidence:
    """What ``level_of`` needs from a text, for callers that add findings of their own (the
    template-aware path adds a finding per PHI merge field): its findings, whether it is about
    someone's care, and the non-care classes it is recognised as."""

    findings: tuple[Finding, ...]
    health_context: bool
    signals: frozenset[str]


def text_evidence(text: str) -> TextEvidence:
    """One scan of ``text`` for its findings, care context and non-care signals."""
    if not text:
        return TextEvidence((), False, frozenset())
    ctx = ScanContext.of(text)
    findings, anchors = _scan(ctx)
    return TextEvidence(findings, health_context(ctx, anchors), non_care_signals(ctx))


def classify(text: str) -> Classification:
    """The findings in ``text``, whether it carries health context, and its level."""
    if not text:
        return Classification(level=LEVEL_NONE, findings=(), health_context=False)
    evidence = text_evidence(text)
    level = level_of(evidence.findings, evidence.health_context, evidence.signals)
    return Classification(level=level, findings=evidence.findings, health_context=evidence.health_context)


# --------------------------------------------------------------------------------------------
# Merge values: a value alone, with no words around it, judged by its shape.

_VALUE_SHAPES = re.compile(
    r"""
      (?P<email>[\w.+%'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24})
    | (?P<url>(?:https?://|www\.)\S+)
    | (?P<ssn>\d{3}-\d{2}-\d{4})
    | (?P<phone>(?:\+?1[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?:[ ]?(?:x|ext\.?)[ ]?\d{1,6})?
        |\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){2,6})
    | (?P<date>(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2}))
        (?:[T ]\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?(?:[ ]?[AaPp]\.?[Mm]\.?)?)?
        |(?:(?:Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)[a-z]*,?[ ]+)?
         (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?[ ]+\d{1,2}(?:st|nd|rd|th)?
         (?:,?[ ]+\d{4})?(?:,?[ ]+(?:at[ ]+)?\d{1,2}(?::\d{2})?[ ]?(?:[AaPp]\.?[Mm]\.?)?)?
        |\d{1,2}(?:st|nd|rd|th)?[ ]+(?:of[ ]+)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?
         (?:,?[ ]+\d{4})?)
    | (?P<icd>[A-TV-Z]\d[0-9AB](?:\.[0-9A-Z]{1,4})?)
    | (?P<money>[$€£]?[ ]?\d{1,3}(?:,\d{3})*(?:\.\d{1,2})?|\d+(?:\.\d+)?[ ]?%)
    | (?P<ident>(?=[A-Za-z0-9-]*\d)[A-Za-z0-9][A-Za-z0-9-]{3,30})
    """,
    re.X,
)
_VALUE_DOSE = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z -]{2,40}?)[ ]+\(?\d+(?:\.\d+)?[ ]?(?:mg|mcg|µg|g|ml|mL|units?|IU|iu|%)\b"
)
_NAME_VALUE = re.compile(r"[A-ZÀ-Þ][\w'’.-]*(?:[ ]+[A-ZÀ-Þ][\w'’.-]*){0,3}")
_SIMPLE_TYPES = {"email": EMAIL, "url": URL, "ssn": "SSN", "phone": PHONE, "date": DATE}


def scan_value(value: str) -> tuple[Finding, ...]:
    """Findings in a short merge value (a name, a date, "Metformin 500 mg", "E11.9", an MRN).

    A value that is entirely one thing (a date, a phone number, a dictionary term, a code, a
    name) is that thing; anything longer or less regular is scanned as text."""
    stripped = value.strip()
    if not stripped:
        return ()
    if len(stripped) > 64 or stripped.count(" ") > 6:
        return scan(value)
    start = value.index(stripped[0])
    end = start + len(stripped)
    shape = _VALUE_SHAPES.fullmatch(stripped)
    if shape is not None:
        kind = shape.lastgroup
        if kind in _SIMPLE_TYPES:
            return (Finding(_SIMPLE_TYPES[kind], start, end, 0.9, f"value.{kind}"),)
        if kind == "icd":
            if stripped[:3] in icd10_categories():
                return (Finding(CONDITION, start, end, 0.8, "value.icd10"),)
        elif kind == "money":
            return ()
        elif kind == "ident":
            digits = len(digits_of(stripped))
            if stripped.isdigit() and (len(stripped) < 5 or (len(stripped) == 4 and 1900 <= int(stripped) <= 2099)):
                return ()
            if digits >= 3 or (digits >= 1 and len(stripped) >= 6):
                return (Finding(OTHER_ID, start, end, 0.6, "value.identifier"),)
    key = normalise(lower_same_length(stripped)).strip()
    kind = health_terms().get(key)
    if kind is not None:
        return (Finding(kind, start, end, 0.9, "value.dictionary"),)
    dose = _VALUE_DOSE.match(stripped)
    if dose is not None:
        head = normalise(dose.group("head").lower()).strip()
        if health_terms().get(head) == MEDICATION or dose.group("head")[0].isupper():
            return (Finding(MEDICATION, start, end, 0.85 if head in health_terms() else 0.65, "value.dose"),)
    if _NAME_VALUE.fullmatch(stripped) and _name_value(stripped):
        return (Finding(NAME, start, end, 0.7, "value.name"),)
    if " " in stripped or any(char.isdigit() for char in stripped):
        return scan(value)
    return ()


def _name_value(value: str) -> bool:
    """A value of capitalised words, one of them a given name or surname that is not also an
    everyday word ("Maria Garcia", "Dr. Rowan Demoway"; not "Gold PPO")."""
    lists = _lists()
    words = [fold(word.strip(".,").lower()) for word in value.split()]
    if any(word in _ORG or word in _NOT_NAME for word in words):
        return False
    return any(_known(word, lists) for word in words)
