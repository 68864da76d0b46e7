"""Trigger events: integrations (an EHR, a scheduling or billing system) tell Sealpost what happened
to a contact, and automation reacts (issue 13).

- **Types.** Built-in types are declared here (``BUILTIN_TYPES``; their field names are the
  templates' ``event.*`` merge fields, so a reminder's template reads its trigger's payload);
  an organisation adds its own
  with a declared payload schema (``trigger_type_create``). Every payload field is typed and
  tagged PHI or not, like the data dictionary. Most built-in fields are PHI: a visit time, a
  provider or a medication, tied to a patient, is health information.
- **Receiving** (``trigger_events_receive``): a request carries one event or a batch. Every event
  is validated before anything is stored; errors name the field by its path
  (``events.3.data.appointment_at``) and never quote a value. A batch is all or nothing.
- **Idempotent** by the caller's own id: a retry with the same id and the same content returns
  the stored event (``replayed``); the same id with different content is refused
  (``TriggerConflict``), never silently taken as the first. The id is kept encrypted with a
  blind index (an integration's id may embed a patient or visit number); sameness is a keyed
  digest of the request as understood.
- **Stored**: PHI fields encrypted in ``TriggerEvent.phi_data``, the others as JSON. A type's
  ``correlation_field`` (an appointment id) gets a blind index, so the cancellation of a booking
  finds the booking's events without decrypting anything.
- One audit event per request: how many were stored and replayed, and the types (no values).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import Actor, record
from campaigns.trigger_models import TriggerEvent, TriggerFieldType, TriggerType
from encryption.blind_index import BlindIndexer
from encryption.keyring import index_key
from segments.contacts import normalise_email
from segments.models import Contact
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

F = TriggerFieldType
MAX_BATCH = 500
MAX_SOURCE_ID_LENGTH = 200
MAX_TEXT_LENGTH = 1000
MAX_FIELDS = 30
MAX_CHOICES = 50
# An event may be reported late, never from the future (beyond a little clock skew).
CLOCK_SKEW = timedelta(minutes=5)
TYPE_KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
FIELD_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
CONTACT_KEYS = ("id", "external_id", "email")
_EMAIL_INDEX = Contact._meta.get_field("email_index").index_name(Contact)  # type: ignore[attr-defined]
_EXTERNAL_ID_INDEX = Contact._meta.get_field("external_id_index").index_name(Contact)  # type: ignore[attr-defined]
_SOURCE_ID_INDEX = TriggerEvent._meta.get_field("source_id_index").index_name(TriggerEvent)  # type: ignore[attr-defined]
_CORRELATION = "trigger_correlation"


@dataclass(frozen=True)
class FieldSpec:
    key: str
    label: str
    type: str
    required: bool = False
    is_phi: bool = True
    choices: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "type": self.type,
            "required": self.required,
            "is_phi": self.is_phi,
            "choices": list(self.choices),
        }


@dataclass(frozen=True)
class TypeSpec:
    key: str
    label: str
    description: str
    fields: tuple[FieldSpec, ...]
    correlation_field: str = ""
    builtin: bool = False

    def field(self, key: str) -> FieldSpec | None:
        return next((spec for spec in self.fields if spec.key == key), None)


def _builtin(key: str, label: str, description: str, *fields: FieldSpec, correlation: str = "") -> TypeSpec:
    return TypeSpec(key, label, description, tuple(fields), correlation, builtin=True)


BUILTIN_TYPES: dict[str, TypeSpec] = {
    spec.key: spec
    for spec in (
        _builtin(
            "appointment.scheduled",
            "Appointment scheduled",
            "A visit was booked or moved. Reminders are timed from appointment_at.",
            FieldSpec("appointment_id", "Appointment id", F.TEXT, required=True),
            FieldSpec("appointment_at", "Appointment date and time", F.DATETIME, required=True),
            FieldSpec("provider_name", "Provider", F.TEXT),
            FieldSpec("location", "Location", F.TEXT),
            FieldSpec("appointment_type", "Appointment type", F.TEXT),
            FieldSpec("department", "Department", F.TEXT, is_phi=False),
            correlation="appointment_id",
        ),
        _builtin(
            "appointment.cancelled",
            "Appointment cancelled",
            "A booked visit was cancelled: journeys waiting on it stop.",
            FieldSpec("appointment_id", "Appointment id", F.TEXT, required=True),
            FieldSpec("department", "Department", F.TEXT, is_phi=False),
            correlation="appointment_id",
        ),
        _builtin(
            "patient.discharged",
            "Patient discharged",
            "The patient left a facility (follow-ups are timed from discharged_at).",
            FieldSpec("encounter_id", "Encounter id", F.TEXT, required=True),
            FieldSpec("discharged_at", "Discharged at", F.DATETIME, required=True),
            FieldSpec("facility", "Facility", F.TEXT),
            FieldSpec("department", "Department", F.TEXT, is_phi=False),
            correlation="encounter_id",
        ),
        _builtin(
            "prescription.due",
            "Prescription due",
            "A prescription runs out or is due for renewal on due_date.",
            FieldSpec("prescription_id", "Prescription id", F.TEXT, required=True),
            FieldSpec("due_date", "Due date", F.DATE, required=True),
            FieldSpec("prescription_name", "Prescription", F.TEXT),
            FieldSpec("pharmacy", "Pharmacy", F.TEXT),
            correlation="prescription_id",
        ),
        _builtin(
            "bill.issued",
            "Bill issued",
            "A statement was issued; reminders are timed from due_date.",
            FieldSpec("bill_id", "Bill id", F.TEXT, required=True),
            FieldSpec("amount_due", "Amount due", F.NUMBER, required=True),
            FieldSpec("due_date", "Payment due date", F.DATE, required=True),
            FieldSpec("department", "Department", F.TEXT, is_phi=False),
            correlation="bill_id",
        ),
    )
}


class TriggerInputError(Exception):
    """Invalid input. ``fields`` maps a field's path to its messages; nothing was stored."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("The request has invalid fields.")
        self.fields = fields


class TriggerConflict(Exception):
    """An id already used for a different event. ``fields`` names the events; nothing was stored."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("An event id was already used for a different event.")
        self.fields = fields


# --- Types ---------------------------------------------------------------------------------------


def _spec_of(row: TriggerType) -> TypeSpec:
    fields = tuple(
        FieldSpec(
            key=str(item["key"]),
            label=str(item.get("label") or item["key"]),
            type=str(item["type"]),
            required=bool(item.get("required", False)),
            is_phi=bool(item.get("is_phi", True)),
            choices=tuple(str(choice) for choice in item.get("choices") or ()),
        )
        for item in row.fields
    )
    return TypeSpec(row.key, row.label, row.description, fields, row.correlation_field)


def trigger_types_for(*, tenant: Organisation) -> dict[str, TypeSpec]:
    """Every type the organisation can receive: the built-in ones, then its own by key."""
    own = TriggerType.objects.for_tenant(tenant).order_by("key")
    return {**BUILTIN_TYPES, **{row.key: _spec_of(row) for row in own}}


def _clean_field_definitions(raw: Any) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(raw, list) or not raw:
        return [], {"fields": ["Declare at least one field."]}
    if len(raw) > MAX_FIELDS:
        return [], {"fields": [f"At most {MAX_FIELDS} fields."]}
    cleaned: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        path = f"fields.{index}"
        if not isinstance(item, dict):
            errors[path] = ["Expected an object with key, label, type, required and is_phi."]
            continue
        key = str(item.get("key") or "").strip()
        if not FIELD_KEY.match(key) or len(key) > 64:
            errors[f"{path}.key"] = ["Lower-case letters, digits and underscores, starting with a letter."]
        elif key in seen:
            errors[f"{path}.key"] = ["Used by another field."]
        seen.add(key)
        kind = str(item.get("type") or "")
        if kind not in F.values:
            errors[f"{path}.type"] = [f"One of: {', '.join(F.values)}."]
        choices = item.get("choices") or []
        if kind == F.CHOICE:
            if not isinstance(choices, list) or not choices or len(choices) > MAX_CHOICES:
                errors[f"{path}.choices"] = [f"A choice field lists 1 to {MAX_CHOICES} choices."]
                choices = []
            else:
                choices = [str(choice).strip()[:100] for choice in choices if str(choice).strip()]
        else:
            choices = []
        if not isinstance(item.get("is_phi", True), bool) or not isinstance(item.get("required", False), bool):
            errors[path] = ["required and is_phi are true or false."]
        cleaned.append(
            {
                "key": key,
                "label": str(item.get("label") or key).strip()[:100],
                "type": kind,
                "required": bool(item.get("required", False)),
                # PHI unless said otherwise: a field wrongly thought harmless is the costly mistake.
                "is_phi": bool(item.get("is_phi", True)),
                "choices": choices,
            }
        )
    return cleaned, errors


def trigger_type_create(
    *,
    tenant: Organisation,
    actor: Actor,
    key: str,
    label: str,
    fields: Any,
    description: str = "",
    correlation_field: str = "",
) -> TriggerType:
    """Add an organisation's own event type (audited ``trigger_type.created``)."""
    require_tenant_is_current(tenant)
    key = key.strip()
    errors: dict[str, list[str]] = {}
    if not TYPE_KEY.match(key) or len(key) > 64:
        errors["key"] = ["Lower-case words joined by dots, such as referral.received."]
    elif key in BUILTIN_TYPES or TriggerType.objects.for_tenant(tenant).filter(key=key).exists():
        errors["key"] = ["An event type with this key exists."]
    if not label.strip():
        errors["label"] = ["Give the type a name people will recognise."]
    cleaned, field_errors = _clean_field_definitions(fields)
    errors.update(field_errors)
    correlation_field = correlation_field.strip()
    if correlation_field and correlation_field not in {item["key"] for item in cleaned}:
        errors["correlation_field"] = ["Must be one of the type's fields."]
    if errors:
        raise TriggerInputError(errors)
    with transaction.atomic():
        created = TriggerType(
            tenant=tenant,
            key=key,
            label=label.strip()[:100],
            description=description.strip(),
            fields=cleaned,
            correlation_field=correlation_field,
        )
        created.save()
        record(
            tenant=tenant,
            action="trigger_type.created",
            actor=actor,
            details={"key": key, "fields": len(cleaned), "phi_fields": sum(1 for item in cleaned if item["is_phi"])},
        )
    return created


# --- Validating one event ------------------------------------------------------------------------


@dataclass
class _Parsed:
    index: int
    source_id: str
    spec: TypeSpec
    contact_ref: tuple[str, str]
    occurred_at: datetime
    values: dict[str, Any]
    contact_id: uuid.UUID | None = None
    digest: str = ""


def _coerce(spec: FieldSpec, raw: Any) -> Any:
    """The stored form of ``raw``; ValueError with a message that never quotes it."""
    if spec.type == F.TEXT:
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise ValueError("Expected text.")
        text = str(raw).strip()
        if len(text) > MAX_TEXT_LENGTH:
            raise ValueError(f"Longer than {MAX_TEXT_LENGTH} characters.")
        return text
    if spec.type == F.NUMBER:
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise ValueError("Expected a number.")
        return raw
    if spec.type == F.BOOLEAN:
        if not isinstance(raw, bool):
            raise ValueError("Expected true or false.")
        return raw
    if spec.type == F.DATE:
        return _date(raw)
    if spec.type == F.DATETIME:
        return _aware(raw).isoformat()
    wanted = str(raw).strip().casefold() if isinstance(raw, str) else None
    for choice in spec.choices:
        if choice.casefold() == wanted:
            return choice
    raise ValueError("Not one of the type's choices.")


def _date(raw: Any) -> str:
    message = "Expected a date as YYYY-MM-DD."
    if not isinstance(raw, str) or len(raw.strip()) != 10:
        raise ValueError(message)
    try:
        return date.fromisoformat(raw.strip()).isoformat()
    except ValueError as error:
        raise ValueError(message) from error


def _aware(raw: Any) -> datetime:
    message = "Expected a date and time in ISO 8601 with a UTC offset, such as 2027-03-01T09:30:00-05:00."
    if not isinstance(raw, str):
        raise ValueError(message)
    try:
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError as error:
        raise ValueError(message) from error
    if parsed.tzinfo is None:
        raise ValueError(message)
    return parsed.astimezone(UTC)


def _parse_one(index: int, raw: Any, types: dict[str, TypeSpec], now: datetime, prefix: str) -> _Parsed:
    errors: dict[str, list[str]] = {}

    def error(path: str, message: str) -> None:
        errors.setdefault(f"{prefix}{path}", []).append(message)

    if not isinstance(raw, dict):
        error("", "Expected an event object with id, type, contact and data.")
        raise TriggerInputError(errors)
    source_id = raw.get("id")
    if isinstance(source_id, bool) or not isinstance(source_id, str | int) or not str(source_id).strip():
        error("id", "Required: your own unique id for this event (a retry with the same id is harmless).")
        source_id = ""
    elif len(str(source_id)) > MAX_SOURCE_ID_LENGTH:
        error("id", f"At most {MAX_SOURCE_ID_LENGTH} characters.")
    spec = types.get(str(raw.get("type") or ""))
    if spec is None:
        error("type", "Unknown event type: see /api/event-types/.")
    contact_ref = _contact_ref(raw.get("contact"), error)
    occurred_at = now
    if raw.get("occurred_at") is not None:
        try:
            occurred_at = _aware(raw.get("occurred_at"))
        except ValueError as problem:
            error("occurred_at", str(problem))
        else:
            if occurred_at > now + CLOCK_SKEW:
                error("occurred_at", "In the future: an event is reported after it happened.")
    values = _payload(spec, raw.get("data"), error) if spec is not None else {}
    unknown = set(raw) - {"id", "type", "contact", "occurred_at", "data"}
    for key in sorted(unknown)[:5]:
        error(str(key)[:40], "Not a field of an event.")
    if errors:
        raise TriggerInputError(errors)
    assert spec is not None and contact_ref is not None  # noqa: S101 - both checked above
    return _Parsed(index, str(source_id).strip(), spec, contact_ref, occurred_at, values)


def _contact_ref(raw: Any, error: Any) -> tuple[str, str] | None:
    if not isinstance(raw, dict):
        error("contact", "Required: an object with one of id, external_id or email.")
        return None
    given = [(key, raw[key]) for key in CONTACT_KEYS if raw.get(key) not in (None, "")]
    if len(given) != 1 or set(raw) - set(CONTACT_KEYS):
        error("contact", "Give exactly one of id, external_id or email.")
        return None
    key, value = given[0]
    if isinstance(value, bool) or not isinstance(value, str | int) or len(str(value)) > 320:
        error(f"contact.{key}", "Expected text.")
        return None
    if key == "id":
        try:
            return key, str(uuid.UUID(str(value)))
        except ValueError:
            error("contact.id", "Expected a contact id (a UUID).")
            return None
    return key, (normalise_email(str(value)) if key == "email" else str(value).strip())


def _payload(spec: TypeSpec, raw: Any, error: Any) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        error("data", "Expected an object of the type's fields.")
        return {}
    values: dict[str, Any] = {}
    for key in sorted(set(raw) - {item.key for item in spec.fields})[:10]:
        error(f"data.{str(key)[:40]}", f"Not a field of {spec.key}.")
    for item in spec.fields:
        value = raw.get(item.key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if item.required:
                error(f"data.{item.key}", "Required.")
            continue
        try:
            values[item.key] = _coerce(item, value)
        except ValueError as problem:
            error(f"data.{item.key}", str(problem))
    return values


# --- Receiving -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    event: TriggerEvent
    replayed: bool


def trigger_events_receive(
    *, tenant: Organisation, actor: Actor, items: Sequence[Any], batch: bool = True
) -> list[Received]:
    """Validate and store ``items`` (decoded JSON events), all or nothing, in one transaction.
    Error paths start with ``events.<n>.`` for a batch. Raises ``TriggerInputError`` or
    ``TriggerConflict``."""
    require_tenant_is_current(tenant)
    if batch and (not isinstance(items, list) or not items):
        raise TriggerInputError({"events": ["Send a list of 1 to 500 events."]})
    if len(items) > MAX_BATCH:
        raise TriggerInputError({"events": [f"At most {MAX_BATCH} events per request."]})
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _receive(tenant, actor, items, batch)
        except IntegrityError:
            # A concurrent request stored one of these ids first: run again, it is a replay now.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _receive(tenant: Organisation, actor: Actor, items: Sequence[Any], batch: bool) -> list[Received]:
    types = trigger_types_for(tenant=tenant)
    now = timezone.now()
    parsed: list[_Parsed] = []
    errors: dict[str, list[str]] = {}
    for index, raw in enumerate(items):
        try:
            one = _parse_one(index, raw, types, now, f"events.{index}." if batch else "")
        except TriggerInputError as invalid:
            errors.update(
                {path.rstrip(".") or "non_field_errors": messages for path, messages in invalid.fields.items()}
            )
            continue
        parsed.append(one)
    indexer = BlindIndexer(tenant)
    _resolve_contacts(tenant, parsed, indexer, errors, batch)
    if errors:
        raise TriggerInputError(errors)
    digester = hmac.new(index_key(tenant).material, b"trigger-event|", hashlib.sha256)
    for one in parsed:
        one.digest = _digest(digester, one)
    return _store(tenant, actor, parsed, indexer, batch)


def _path(one: _Parsed, batch: bool, name: str) -> str:
    return f"events.{one.index}.{name}" if batch else name


def _resolve_contacts(
    tenant: Organisation, parsed: list[_Parsed], indexer: BlindIndexer, errors: dict[str, list[str]], batch: bool
) -> None:
    """Each event's contact, looked up in bulk (blind indexes for email and external id)."""
    wanted: dict[str, dict[str, list[_Parsed]]] = {key: {} for key in CONTACT_KEYS}
    for one in parsed:
        kind, value = one.contact_ref
        lookup = value
        if kind == "email":
            lookup = indexer(_EMAIL_INDEX, value)
        elif kind == "external_id":
            lookup = indexer(_EXTERNAL_ID_INDEX, value)
        wanted[kind].setdefault(lookup, []).append(one)
    contacts = Contact.objects.for_tenant(tenant)
    found: dict[str, dict[str, list[uuid.UUID]]] = {key: {} for key in CONTACT_KEYS}
    for kind, column in (("id", "pk"), ("email", "email_index"), ("external_id", "external_id_index")):
        if wanted[kind]:
            for pk, value in contacts.filter(**{f"{column}__in": list(wanted[kind])}).values_list("pk", column):
                found[kind].setdefault(str(value), []).append(pk)
    for kind, by_value in wanted.items():
        for lookup, events in by_value.items():
            matches = found[kind].get(lookup, [])
            for one in events:
                if len(matches) == 1:
                    one.contact_id = matches[0]
                elif matches:
                    errors[_path(one, batch, "contact")] = ["More than one contact matches: send the contact's id."]
                else:
                    errors[_path(one, batch, "contact")] = ["No contact matches: create the contact first."]


def _digest(digester: Any, one: _Parsed) -> str:
    canonical = json.dumps(
        {
            "type": one.spec.key,
            "contact": str(one.contact_id),
            "occurred_at": one.occurred_at.isoformat(),
            "data": one.values,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    keyed = digester.copy()
    keyed.update(canonical.encode())
    return str(keyed.hexdigest())


def _store(
    tenant: Organisation, actor: Actor, parsed: list[_Parsed], indexer: BlindIndexer, batch: bool
) -> list[Received]:
    keys = [indexer(_SOURCE_ID_INDEX, one.source_id) for one in parsed]  # each caller id's blind index
    existing = {
        event.source_id_index: event
        for event in TriggerEvent.objects.for_tenant(tenant).filter(source_id_index__in=set(keys))
    }
    conflicts: dict[str, list[str]] = {}
    first_of: dict[str, _Parsed] = {}
    new: dict[str, TriggerEvent] = {}
    for one, key in zip(parsed, keys, strict=True):
        stored = existing.get(key)
        earlier = first_of.setdefault(key, one)
        if stored is not None:
            same = hmac.compare_digest(stored.digest, one.digest)
        else:
            same = hmac.compare_digest(earlier.digest, one.digest)
            if earlier is one:
                new[key] = _event_row(tenant, one, indexer)
        if not same:
            conflicts[_path(one, batch, "id")] = ["This id was already used for a different event."]
    if conflicts:
        raise TriggerConflict(conflicts)
    if new:
        TriggerEvent.objects.bulk_create(list(new.values()))
        from campaigns.journeys import journeys_receive_events  # journeys read trigger events: no cycle at import

        journeys_receive_events(tenant=tenant, events=list(new.values()))
    received = [
        Received(existing.get(key) or new[key], key in existing or first_of[key] is not one)
        for one, key in zip(parsed, keys, strict=True)
    ]
    record(
        tenant=tenant,
        action="trigger_events.received",
        actor=actor,
        details={
            "stored": len(new),
            "replayed": len(parsed) - len(new),
            "types": sorted({one.spec.key for one in parsed}),
        },
    )
    return received


def _event_row(tenant: Organisation, one: _Parsed, indexer: BlindIndexer) -> TriggerEvent:
    phi = {key: value for key, value in one.values.items() if _is_phi(one.spec, key)}
    plain = {key: value for key, value in one.values.items() if not _is_phi(one.spec, key)}
    correlation = one.values.get(one.spec.correlation_field) if one.spec.correlation_field else None
    if one.contact_id is None:
        raise ValueError("An event without its contact cannot be stored.")
    return TriggerEvent(
        tenant=tenant,
        type_key=one.spec.key,
        source_id=one.source_id,
        contact_id=one.contact_id,
        occurred_at=one.occurred_at,
        data=plain,
        phi_data=json.dumps(phi, sort_keys=True) if phi else None,
        correlation_index=correlation_index(indexer, correlation) if correlation not in (None, "") else "",
        digest=one.digest,
    )


def _is_phi(spec: TypeSpec, key: str) -> bool:
    item = spec.field(key)
    return item is None or item.is_phi


def correlation_index(indexer: BlindIndexer, value: Any) -> str:
    """The blind index events of one matter share (an appointment id), whatever their type."""
    return indexer(_CORRELATION, str(value))


# --- Reading -------------------------------------------------------------------------------------


def trigger_event_payload(event: TriggerEvent) -> dict[str, Any]:
    """The event's whole payload, PHI fields decrypted (inside the tenant's context)."""
    values = dict(event.data)
    if event.phi_data:
        values.update(json.loads(event.phi_data))
    return values


def trigger_event_list(*, tenant: Organisation, limit: int = 50) -> list[TriggerEvent]:
    """The latest events received, newest first (for the automation page: no payload)."""
    return list(
        TriggerEvent.objects.for_tenant(tenant).defer("source_id", "phi_data").order_by("-received_at", "-pk")[:limit]
    )
