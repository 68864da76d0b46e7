"""The merge fields a template may use: each one's name, label, whether it is PHI, and a
synthetic sample value for previews.

Names are dotted paths under a few roots:

- ``contact.*``: the contact's own fields; names, email and external id are PHI (identifiers);
- ``attr.<key>``: the organisation's data dictionary, PHI as the dictionary says;
- ``org.*``: the organisation, never PHI;
- ``event.*``: what a trigger or campaign carries (appointment, provider, bill, prescription):
  about a patient's care or payment, so PHI; ``event.items`` is a list (each item has
  ``description`` and ``amount``) that templates loop over; every payload field of the trigger
  types the organisation receives (``campaigns.triggers``) is there too, PHI as its type
  declares;
- ``links.*``: the recipient's preference-centre and unsubscribe links, never PHI;
- ``campaign.*``: the campaign's name, never PHI.

A template that names anything else is refused when it is saved (``templates.analysis``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from segments.attributes import dictionary_for
from segments.models import AttributeType
from tenants.models import Organisation

ROOTS = ("contact", "attr", "org", "event", "links", "campaign")
# Fields that are lists: a template may loop over them; their items' fields are free.
LIST_FIELDS = frozenset({"event.items"})


@dataclass(frozen=True)
class MergeField:
    name: str
    label: str
    phi: bool
    kind: str  # text, number, date, datetime, money, boolean, list, url
    sample: Any

    @property
    def root(self) -> str:
        return self.name.split(".", 1)[0]


_SAMPLE_TIME = datetime(2026, 12, 3, 14, 30, tzinfo=UTC)

BUILTIN_FIELDS: tuple[MergeField, ...] = (
    MergeField("contact.first_name", "First name", True, "text", "Avery"),
    MergeField("contact.last_name", "Last name", True, "text", "Sampleton"),
    MergeField("contact.full_name", "Full name", True, "text", "Avery Sampleton"),
    MergeField("contact.email", "Email address", True, "text", "avery.sampleton@example.com"),
    MergeField("contact.external_id", "Patient id (EHR)", True, "text", "DEMO-00042"),
    MergeField("contact.language", "Language", False, "text", "en"),
    MergeField("contact.time_zone", "Time zone", False, "text", "America/New_York"),
    MergeField("org.name", "Organisation name", False, "text", "Sunrise Family Clinic"),
    MergeField("campaign.name", "Campaign name", False, "text", "December reminders"),
    MergeField("links.preferences", "Preference centre link", False, "url", "https://sealpost.example/r/preferences/…"),
    MergeField("links.unsubscribe", "Unsubscribe link", False, "url", "https://sealpost.example/r/unsubscribe/…"),
    MergeField("event.appointment_at", "Appointment date and time", True, "datetime", _SAMPLE_TIME),
    MergeField("event.provider_name", "Provider", True, "text", "Dr. Rowan Demoway"),
    MergeField("event.location", "Location", True, "text", "Sunrise Clinic, Suite 4"),
    MergeField("event.amount_due", "Amount due", True, "money", Decimal("42.50")),
    MergeField("event.due_date", "Payment due date", True, "date", _SAMPLE_TIME.date()),
    MergeField("event.prescription_name", "Prescription", True, "text", "Synthetamol 10 mg"),
    MergeField(
        "event.items",
        "Line items (a list: description, amount)",
        True,
        "list",
        [
            {"description": "Office visit", "amount": Decimal("30.00")},
            {"description": "Lab panel", "amount": Decimal("12.50")},
        ],
    ),
)

_ATTRIBUTE_KINDS = {
    AttributeType.TEXT: ("text", "Sample text"),
    AttributeType.NUMBER: ("number", 7),
    AttributeType.DATE: ("date", _SAMPLE_TIME.date()),
    AttributeType.BOOLEAN: ("boolean", True),
    AttributeType.CHOICE: ("text", ""),
}


_TRIGGER_KINDS: dict[str, tuple[str, Any]] = {
    "text": ("text", "Sample text"),
    "number": ("number", 7),
    "date": ("date", _SAMPLE_TIME.date()),
    "datetime": ("datetime", _SAMPLE_TIME),
    "boolean": ("boolean", True),
    "choice": ("text", ""),
}


def merge_fields(*, tenant: Organisation) -> dict[str, MergeField]:
    """Every field the organisation's templates may use, by name."""
    fields = {field.name: field for field in BUILTIN_FIELDS}
    for key, definition in sorted(dictionary_for(tenant=tenant).items()):
        kind, sample = _ATTRIBUTE_KINDS[AttributeType(definition.type)]
        if definition.type == AttributeType.CHOICE:
            sample = (definition.choices or [""])[0]
        fields[f"attr.{key}"] = MergeField(f"attr.{key}", definition.label or key, definition.is_phi, kind, sample)
    fields.update(trigger_event_fields(tenant=tenant, taken=fields))
    return fields


def trigger_event_fields(*, tenant: Organisation, taken: dict[str, MergeField]) -> dict[str, MergeField]:
    """``event.<key>`` for every payload field of the trigger types the organisation receives
    (built in and its own) that the catalogue does not name already: a journey's template reads
    its trigger's payload. A key two types declare differently is PHI if either says so, and text
    if their types differ."""
    from campaigns.triggers import trigger_types_for

    found: dict[str, MergeField] = {}
    for spec in trigger_types_for(tenant=tenant).values():
        for item in spec.fields:
            name = f"event.{item.key}"
            if name in taken:
                continue
            kind, sample = _TRIGGER_KINDS.get(item.type, ("text", "Sample text"))
            if item.type == "choice":
                sample = item.choices[0] if item.choices else ""
            earlier = found.get(name)
            if earlier is not None:
                same_kind = earlier.kind == kind
                kind, sample = (kind, sample) if same_kind else ("text", "Sample text")
                found[name] = MergeField(name, earlier.label, earlier.phi or item.is_phi, kind, sample)
            else:
                found[name] = MergeField(name, item.label, item.is_phi, kind, sample)
    return found
