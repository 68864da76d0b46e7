"""Contact attributes, typed by the organisation's data dictionary.

- Values are coerced to their declared type (``coerce_value``); errors never quote the value,
  which may be PHI.
- Non-PHI values live in ``Contact.attributes`` (JSON: numbers as numbers, dates as ISO strings,
  booleans).
- PHI values live encrypted in ``Contact.phi_attributes`` (one JSON document under the tenant's
  data key).
- Segment rules test both kinds through search terms, keyed hashes of the values written
  with the contact (``segments.search_index``): equality for every type, and for dates the day,
  the month and the month-day, so that "within the next 7 days" is membership in 7 day terms and
  "birthday this month" one month term. Ranges over PHI numbers cannot be answered from hashes
  and are refused by the rule compiler.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from segments.models import AttributeDefinition, AttributeType, Contact
from tenants.models import Organisation

MAX_TEXT_LENGTH = 1000
MAX_TAGS = 50
MAX_TAG_LENGTH = 64
TRUE_WORDS = frozenset({"true", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "no", "n", "0"})
TAG_PATTERN = re.compile(r"^[\w .:/+-]+$")

AttributeValue = str | int | float | bool | None


class AttributeValueError(ValueError):
    """A value that does not fit its attribute. The message names the attribute and the rule,
    never the value."""


def dictionary_for(*, tenant: Organisation) -> dict[str, AttributeDefinition]:
    """The attributes in use. One being deleted is left out from the moment it is hidden: rules,
    imports, the API, contact pages and merge fields treat it as gone (``segments.dictionary``)."""
    definitions = AttributeDefinition.objects.for_tenant(tenant).filter(deleting_at__isnull=True)
    return {definition.key: definition for definition in definitions}


def attribute_keys_being_deleted(*, tenant: Organisation) -> frozenset[str]:
    """Keys hidden while their values are removed: output that copies a contact's stored
    attributes wholesale leaves them out."""
    return frozenset(
        AttributeDefinition.objects.for_tenant(tenant).filter(deleting_at__isnull=False).values_list("key", flat=True)
    )


# --- Coercion -----------------------------------------------------------------------------------


def coerce_value(definition: AttributeDefinition, raw: Any) -> AttributeValue:
    """The stored form of ``raw`` for ``definition``; None for empty (the attribute is unset)."""
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    kind = AttributeType(definition.type)
    if kind == AttributeType.TEXT:
        return _text(definition, raw)
    if kind == AttributeType.NUMBER:
        return _number(definition, raw)
    if kind == AttributeType.DATE:
        return _date(definition, raw)
    if kind == AttributeType.BOOLEAN:
        return _boolean(definition, raw)
    return _choice(definition, raw)


def _text(definition: AttributeDefinition, raw: Any) -> str:
    value = str(raw).strip()
    if len(value) > MAX_TEXT_LENGTH:
        raise AttributeValueError(f"{definition.key}: longer than {MAX_TEXT_LENGTH} characters.")
    return value


def _number(definition: AttributeDefinition, raw: Any) -> int | float:
    if isinstance(raw, bool):
        raise AttributeValueError(f"{definition.key}: expected a number.")
    if isinstance(raw, int):
        return raw
    try:
        number = Decimal(str(raw).strip().replace(",", ""))
    except InvalidOperation as error:
        raise AttributeValueError(f"{definition.key}: expected a number.") from error
    if not number.is_finite():
        raise AttributeValueError(f"{definition.key}: expected a finite number.")
    if number == number.to_integral_value() and abs(number) < 2**53:
        return int(number)
    as_float = float(number)
    if math.isinf(as_float):
        raise AttributeValueError(f"{definition.key}: number out of range.")
    return as_float


def _date(definition: AttributeDefinition, raw: Any) -> str:
    if isinstance(raw, date):
        return raw.isoformat()
    text = str(raw).strip()
    try:
        return date.fromisoformat(text[:10] if len(text) >= 10 and text[10:11] in ("T", " ") else text).isoformat()
    except ValueError as error:
        raise AttributeValueError(f"{definition.key}: expected a date as YYYY-MM-DD.") from error


def _boolean(definition: AttributeDefinition, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().casefold()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise AttributeValueError(f"{definition.key}: expected yes or no (true/false, 1/0).")


def _choice(definition: AttributeDefinition, raw: Any) -> str:
    wanted = str(raw).strip().casefold()
    for choice in definition.choices or []:
        if str(choice).casefold() == wanted:
            return str(choice)
    raise AttributeValueError(f"{definition.key}: not one of the allowed choices.")


def normalise_tags(raw: Any) -> dict[str, bool]:
    """Tags from a list or a comma/semicolon-separated string, as the stored {tag: true}."""
    items = raw if isinstance(raw, list | tuple | set) else re.split(r"[,;]", str(raw or ""))
    tags: dict[str, bool] = {}
    for item in items:
        tag = str(item).strip().casefold()
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH or not TAG_PATTERN.match(tag):
            raise AttributeValueError(
                f"tags: each tag is at most {MAX_TAG_LENGTH} letters, digits, spaces or . : / + - _"
            )
        tags[tag] = True
    if len(tags) > MAX_TAGS:
        raise AttributeValueError(f"tags: at most {MAX_TAGS} tags.")
    return tags


# --- Reading and writing a contact's attributes -----------------------------------------------


def contact_phi_attributes(contact: Contact) -> dict[str, AttributeValue]:
    text = contact.phi_attributes or ""
    return json.loads(text) if text else {}


def contact_attributes_apply(
    *, contact: Contact, values: dict[str, Any], dictionary: dict[str, AttributeDefinition]
) -> None:
    """Set (or, with None/empty, unset) attributes on ``contact`` in memory; the caller saves.
    Unknown keys and bad values raise ``AttributeValueError`` before anything changes."""
    coerced: dict[str, AttributeValue] = {}
    for key, raw in values.items():
        definition = dictionary.get(key)
        if definition is None:
            raise AttributeValueError(f"{key}: not in the data dictionary.")
        coerced[key] = coerce_value(definition, raw)
    plain = dict(contact.attributes or {})
    secret = contact_phi_attributes(contact)
    for key, value in coerced.items():
        target = secret if dictionary[key].is_phi else plain
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    contact.attributes = plain
    contact.phi_attributes = json.dumps(secret, separators=(",", ":"), sort_keys=True) if secret else None  # type: ignore[assignment]


def contact_attribute_values(contact: Contact) -> dict[str, AttributeValue]:
    """Every attribute of the contact, PHI included (decrypts: audit the view)."""
    return {**(contact.attributes or {}), **contact_phi_attributes(contact)}
