"""Template-aware classification: a template is scanned once, then each recipient's merge
values only.

A campaign sends one approved template version to many recipients. Scanning every rendered
message in full would scan the same literal text thousands of times, so the work is split:

1. ``template_profile`` scans the version's literal text once (every branch of every part, the
   Jinja syntax left out, HTML turned into text) and remembers which merge fields it reads.
   Profiles are cached per process by version, language and a digest of the sources.
2. ``recipient_plan`` splits those fields, for the organisation's current data dictionary, into
   fields that are counted without scanning (each builtin PHI field has a known finding type;
   an attribute the dictionary tags PHI is health information about the patient by definition)
   and fields whose values must be scanned (non-PHI attributes, the free parts of events).
   Fields that can never carry PHI (the organisation's name, links, the campaign's name) are
   neither.
3. ``classify_recipient`` combines the template's findings with the recipient's value findings
   and applies the message-level rule (``level_of``, with the template text's non-care signals).

Offsets: a finding from the template points into ``TemplateProfile.literal_text``; a finding
from a merge value points into that value's text (its rule says ``merge:<field>``). They tell
the protection policy *what* a message carries; where a person must see highlights (quarantine
review) the rendered message is classified in full instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError

from encryption.dlp import level_of, scan_value, text_evidence
from encryption.dlp.findings import ADDRESS, DATE, EMAIL, MEDICATION, MRN, NAME, OTHER_ID, Classification, Finding
from templates.fields import MergeField
from templates.rendering import analysis_environment
from templates.text import html_to_text

PROFILE_CACHE_SIZE = 512
# Merge values this long or shorter are scanned through a per-process cache: the same plan
# name or city repeats across thousands of recipients.
CACHED_VALUE_LENGTH = 64


@dataclass(frozen=True)
class FieldRole:
    """How a merge field's value counts without being scanned."""

    finding_type: str | None  # the identifier or health type its value is, if any
    health: bool  # its value is health information about the patient (care, payment for care)


# The builtin PHI fields (templates.fields.BUILTIN_FIELDS): what each one is.
BUILTIN_ROLES: dict[str, FieldRole] = {
    "contact.first_name": FieldRole(NAME, health=False),
    "contact.last_name": FieldRole(NAME, health=False),
    "contact.full_name": FieldRole(NAME, health=False),
    "contact.email": FieldRole(EMAIL, health=False),
    "contact.external_id": FieldRole(MRN, health=False),
    "event.appointment_at": FieldRole(DATE, health=True),
    "event.provider_name": FieldRole(NAME, health=True),
    "event.location": FieldRole(ADDRESS, health=True),
    "event.amount_due": FieldRole(None, health=True),
    "event.due_date": FieldRole(DATE, health=True),
    "event.prescription_name": FieldRole(MEDICATION, health=True),
    "event.items": FieldRole(None, health=True),
}
# Roots whose values never carry PHI (templates.fields says so): neither counted nor scanned.
NEVER_PHI_ROOTS = frozenset({"org", "links", "campaign"})
NEVER_PHI_FIELDS = frozenset({"contact.language", "contact.time_zone"})


def field_role(field: MergeField) -> FieldRole | None:
    """The role of a field counted without scanning, or None when its value must be scanned."""
    if field.name in BUILTIN_ROLES:
        return BUILTIN_ROLES[field.name]
    if field.root == "attr" and field.phi:
        return FieldRole(DATE if field.kind == "date" else OTHER_ID, health=True)
    if field.phi:
        # A PHI field this module does not know yet: count it as health information rather
        # than let it through unscanned and unnoticed.
        return FieldRole(OTHER_ID, health=True)
    return None


def _never_phi(field: MergeField) -> bool:
    return not field.phi and (field.root in NEVER_PHI_ROOTS or field.name in NEVER_PHI_FIELDS)


@dataclass(frozen=True)
class TemplateProfile:
    version_key: str
    language: str
    literal_text: str
    findings: tuple[Finding, ...]
    health_context: bool
    fields: tuple[str, ...]
    # The non-care classes the template's own text is recognised as (a newsletter, an account
    # notice...): with them a message that identifies its recipient is phi unless it is one of
    # those (``encryption.dlp.decision``).
    signals: frozenset[str] = frozenset()


def _literal_text(source: str, *, html: bool) -> str:
    """The literal text of every branch of a template part, without its Jinja syntax.

    Each literal piece is kept on its own line so that text either side of a merge field is
    never read as one phrase; HTML pieces are joined first and then turned into text, as the
    rendered HTML body would be."""
    try:
        pieces = [value for _, kind, value in analysis_environment().lex(source) if kind == "data"]
    except TemplateSyntaxError:
        # Templates are analysed when saved and an approved version always parses; scan the
        # raw source rather than nothing if this one does not.
        pieces = [source]
    joined = "\n".join(pieces)
    return html_to_text(joined) if html else joined


def _digest(parts: Iterable[str]) -> str:
    hasher = hashlib.blake2b(digest_size=16)
    for part in parts:
        hasher.update(part.encode())
        hasher.update(b"\x00")
    return hasher.hexdigest()


@lru_cache(maxsize=PROFILE_CACHE_SIZE)
def _profile(
    version_key: str, language: str, digest: str, parts: tuple[tuple[str, bool], ...], fields: tuple[str, ...]
) -> TemplateProfile:
    del digest  # in the key only, so that an edited draft is never served a stale profile
    literal = "\n\n".join(_literal_text(source, html=html) for source, html in parts if source)
    evidence = text_evidence(literal)
    return TemplateProfile(
        version_key=version_key,
        language=language,
        literal_text=literal,
        findings=evidence.findings,
        health_context=evidence.health_context,
        fields=fields,
        signals=evidence.signals,
    )


def template_profile(
    *,
    version_key: str,
    language: str,
    subject: str,
    preheader: str,
    html_body: str,
    text_body: str,
    fields_used: Iterable[str],
) -> TemplateProfile:
    """The template's own findings and the merge fields it reads (scanned once per process)."""
    parts = ((subject, False), (preheader, False), (html_body, True), (text_body, False))
    fields = tuple(sorted(fields_used))
    digest = _digest([subject, preheader, html_body, text_body, *fields])
    return _profile(version_key, language, digest, parts, fields)


def content_profile(*, version: Any, content: Any) -> TemplateProfile:
    """``template_profile`` for a ``TemplateVersion`` and one of its ``TemplateContent`` rows."""
    return template_profile(
        version_key=str(version.pk),
        language=content.language,
        subject=content.subject,
        preheader=content.preheader,
        html_body=content.html_body,
        text_body=content.text_body,
        fields_used=version.fields_used,
    )


@dataclass(frozen=True)
class RecipientPlan:
    """What to do with each merge field per recipient, for one profile and one dictionary."""

    profile: TemplateProfile
    counted: tuple[tuple[str, FieldRole], ...]
    scanned: tuple[str, ...]


def recipient_plan(profile: TemplateProfile, catalogue: Mapping[str, MergeField]) -> RecipientPlan:
    """Build once per batch: ``catalogue`` is the organisation's current merge fields
    (``templates.fields.merge_fields``), so a change to the dictionary's PHI flags applies to
    the next batch. A field the catalogue no longer knows is scanned."""
    counted: list[tuple[str, FieldRole]] = []
    scanned: list[str] = []
    for name in profile.fields:
        field = catalogue.get(name)
        if field is None:
            scanned.append(name)
            continue
        if _never_phi(field):
            continue
        role = field_role(field)
        if role is None:
            scanned.append(name)
        else:
            counted.append((name, role))
    return RecipientPlan(profile=profile, counted=tuple(counted), scanned=tuple(scanned))


@lru_cache(maxsize=65536)
def _scan_short_value(text: str) -> tuple[Finding, ...]:
    return scan_value(text)


def _scan_merge_value(text: str) -> tuple[Finding, ...]:
    return _scan_short_value(text) if len(text) <= CACHED_VALUE_LENGTH else scan_value(text)


def _value_texts(value: Any) -> Iterable[str]:
    """The text of a merge value; a list of items (``event.items``) gives each item's fields."""
    if value is None or value == "":
        return
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _value_texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _value_texts(item)
    else:
        yield str(value)


def _is_present(value: Any) -> bool:
    return value not in (None, "", [], {}, ())


def classify_recipient(plan: RecipientPlan, values: Mapping[str, Any]) -> Classification:
    """The message level and findings for one recipient: the template's findings, a finding per
    counted PHI field that has a value, and what scanning the other values finds."""
    findings = list(plan.profile.findings)
    health = plan.profile.health_context
    for name, role in plan.counted:
        value = values.get(name)
        if not _is_present(value):
            continue
        health = health or role.health
        if role.finding_type is not None:
            length = len(str(value))
            findings.append(Finding(role.finding_type, 0, length, 1.0, f"merge:{name}"))
    for name in plan.scanned:
        for text in _value_texts(values.get(name)):
            for found in _scan_merge_value(text):
                findings.append(Finding(found.type, found.start, found.end, found.confidence, f"merge:{name}"))
    result = tuple(findings)
    return Classification(level=level_of(result, health, plan.profile.signals), findings=result, health_context=health)
