"""Saved segments: services (create, update, delete; validated and audited) and selectors.

A segment is a name and a rule tree (``segments.rules``). The rules are validated against the
tenant's data dictionary before anything is written; a bad tree raises ``InvalidRules`` whose
errors name the bad node (``rules.all[1].value``), for forms and structured 400s. Audit details
hold ids and counts only: rule values may be PHI ("diagnosis is diabetes"), so they stay out.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import transaction
from django.http import Http404

from audit.services import Actor, Target, record
from authn.models import User
from consent.models import ConsentStatus
from consent.purposes import purposes_for
from segments.attributes import dictionary_for
from segments.models import Contact, Segment
from segments.rules import (
    BUILTIN_FIELDS,
    ENGAGEMENT_FIELDS,
    OPERATORS,
    InvalidRules,
    RuleError,
    purpose_keys,
    segment_count,
    segment_matches,
    validate_rules,
)
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

MAX_NAME_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 1000
SAMPLE_SIZE = 10

# The contact's own fields a rule can use, with their kind in ``rules.OPERATORS``.
_BUILTIN_KINDS = {
    "tag": ("Tag", "tag"),
    "language": ("Language", "code"),
    "time_zone": ("Time zone", "code"),
    "created_at": ("Created", "datetime"),
    "last_activity_at": ("Last activity", "datetime"),
}
assert set(_BUILTIN_KINDS) == set(BUILTIN_FIELDS)  # noqa: S101 - keeps this table in step with rules
# engagement.<what>: a person's last open or click of any campaign email (reporting).
_ENGAGEMENT_LABELS = {"opened": "Opened an email", "clicked": "Clicked a link"}
assert set(_ENGAGEMENT_LABELS) == set(ENGAGEMENT_FIELDS)  # noqa: S101


class SegmentError(ValueError):
    """A refused name or description; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class SegmentPreview:
    count: int
    sample: list[Contact]


# --- Selectors ----------------------------------------------------------------------------------


def segment_list(*, tenant: Organisation) -> list[Segment]:
    require_tenant_is_current(tenant)
    return list(Segment.objects.for_tenant(tenant).order_by("name", "pk"))


def segment_get(*, tenant: Organisation, segment_id: uuid.UUID | int | str) -> Segment:
    """404 both when the segment does not exist and when it belongs to another tenant."""
    require_tenant_is_current(tenant)
    segment = Segment.objects.for_tenant(tenant).filter(pk=segment_id).first()
    if segment is None:
        raise Http404("No such segment.")
    return segment


def segment_rule_errors(*, tenant: Organisation, rules: Any) -> list[RuleError]:
    return validate_rules(rules, dictionary_for(tenant=tenant), purpose_keys(tenant=tenant))


def segment_count_for(*, tenant: Organisation, rules: Any, today: date | None = None) -> int:
    """How many contacts match; raises ``InvalidRules`` for a bad tree (compiling checks it)."""
    require_tenant_is_current(tenant)
    return segment_count(tenant=tenant, rules=rules, today=today)


def segment_preview(*, tenant: Organisation, rules: Any, today: date | None = None) -> SegmentPreview:
    """The count and the first ``SAMPLE_SIZE`` matching contacts (callers show them masked);
    raises ``InvalidRules`` for a bad tree. The rules are compiled once for both."""
    require_tenant_is_current(tenant)
    matches = segment_matches(tenant=tenant, rules=rules, today=today)
    sample = Contact.objects.for_tenant(tenant).filter(pk__in=matches.values("pk")).order_by("pk")[:SAMPLE_SIZE]
    return SegmentPreview(count=matches.count(), sample=list(sample))


def segment_counts(*, tenant: Organisation, segments: list[Segment]) -> dict[Any, int | None]:
    """Live counts by segment id; None for a segment whose rules no longer validate (an
    attribute it uses was deleted or changed type)."""
    require_tenant_is_current(tenant)
    dictionary = dictionary_for(tenant=tenant)
    purposes = purpose_keys(tenant=tenant)
    counts: dict[Any, int | None] = {}
    for segment in segments:
        if validate_rules(segment.rules, dictionary, purposes):
            counts[segment.pk] = None
        else:
            counts[segment.pk] = segment_count(tenant=tenant, rules=segment.rules)
    return counts


def segment_fields(*, tenant: Organisation) -> list[dict[str, Any]]:
    """What the builder offers: each field with its label, kind, PHI flag and choices."""
    fields: list[dict[str, Any]] = [
        {"field": field, "label": label, "kind": kind, "phi": False, "choices": []}
        for field, (label, kind) in _BUILTIN_KINDS.items()
    ]
    for key, definition in sorted(dictionary_for(tenant=tenant).items()):
        fields.append(
            {
                "field": f"attr.{key}",
                "label": definition.label or key,
                "kind": definition.type,
                "phi": definition.is_phi,
                "choices": list(definition.choices or []),
            }
        )
    for purpose in purposes_for(tenant=tenant):
        fields.append(
            {
                "field": f"consent.{purpose.key}",
                "label": f"Consent: {purpose.name}",
                "kind": "consent",
                "phi": False,
                "choices": list(ConsentStatus.values),
            }
        )
    for what, label in _ENGAGEMENT_LABELS.items():
        fields.append(
            {"field": f"engagement.{what}", "label": label, "kind": "engagement", "phi": False, "choices": []}
        )
    return fields


def builder_catalogue(*, tenant: Organisation) -> dict[str, Any]:
    return {"fields": segment_fields(tenant=tenant), "operators": OPERATORS}


# --- Services -----------------------------------------------------------------------------------


def _clean(name: str, description: str) -> tuple[str, str]:
    name = (name or "").strip()
    if not name:
        raise SegmentError("name", "Give the segment a name.")
    if len(name) > MAX_NAME_LENGTH:
        raise SegmentError("name", f"At most {MAX_NAME_LENGTH} characters.")
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise SegmentError("description", f"At most {MAX_DESCRIPTION_LENGTH} characters.")
    return name, description


def _validated(tenant: Organisation, rules: Any) -> dict[str, Any]:
    errors = segment_rule_errors(tenant=tenant, rules=rules)
    if errors:
        raise InvalidRules(errors)
    return rules  # type: ignore[no-any-return]


def _condition_count(rules: Any) -> int:
    if isinstance(rules, dict):
        if "field" in rules:
            return 1
        return sum(_condition_count(child) for value in rules.values() if isinstance(value, list) for child in value)
    return 0


def segment_create(
    *,
    tenant: Organisation,
    actor: Actor,
    created_by: User,
    name: str,
    rules: Any,
    description: str = "",
) -> Segment:
    require_tenant_is_current(tenant)
    name, description = _clean(name, description)
    rules = _validated(tenant, rules)
    with transaction.atomic():
        segment = Segment.objects.create(
            tenant=tenant, name=name, description=description, rules=rules, created_by=created_by
        )
        record(
            tenant=tenant,
            action="segment.created",
            actor=actor,
            target=Target.of(segment),
            details={"conditions": _condition_count(rules)},
        )
    return segment


def segment_update(
    *,
    tenant: Organisation,
    actor: Actor,
    segment: Segment,
    name: str | None = None,
    rules: Any = None,
    description: str | None = None,
) -> Segment:
    """Changes what is given (None keeps it); the details name the changed fields."""
    require_tenant_is_current(tenant)
    new_name, new_description = _clean(
        segment.name if name is None else name, segment.description if description is None else description
    )
    new_rules = segment.rules if rules is None else _validated(tenant, rules)
    with transaction.atomic():
        segment = Segment.objects.for_tenant(tenant).select_for_update().get(pk=segment.pk)
        changed = [
            field
            for field, value in (("name", new_name), ("description", new_description), ("rules", new_rules))
            if getattr(segment, field) != value
        ]
        if not changed:
            return segment
        segment.name, segment.description, segment.rules = new_name, new_description, new_rules
        segment.save(update_fields=[*changed, "updated_at"])
        record(
            tenant=tenant,
            action="segment.updated",
            actor=actor,
            target=Target.of(segment),
            details={"fields": changed, "conditions": _condition_count(new_rules)},
        )
    return segment


def segment_delete(*, tenant: Organisation, actor: Actor, segment: Segment) -> None:
    require_tenant_is_current(tenant)
    with transaction.atomic():
        deleted, _ = Segment.objects.for_tenant(tenant).filter(pk=segment.pk).delete()
        if not deleted:
            raise Http404("No such segment.")
        record(tenant=tenant, action="segment.deleted", actor=actor, target=Target("segment", str(segment.pk)))
