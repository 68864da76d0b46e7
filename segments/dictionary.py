"""The data dictionary: services and selectors for an organisation's contact attributes.

- A key is a slug, unique per tenant; the names of a contact's own fields are reserved.
- Type and PHI flag are fixed once any contact has a value for the key: changing them would
  leave stored values of the wrong type, or PHI stored in plain JSON (or the reverse). Label,
  description and choices (adding, not removing) can change at any time.
- Deleting an attribute that has values needs ``confirm=True`` and removes the values from every
  contact, PHI ones included, **in the same transaction** as the definition. Decision: one
  transaction for now, walking the contacts in keyset batches, so a failure leaves both the
  definition and every value in place (nothing half-deleted). It holds row locks for the length
  of the walk; at a million contacts with PHI values that is minutes, and the documented next
  step is a batched Celery task that hides the attribute first (docs/audience.md).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

from django.db import transaction
from django.http import Http404

from audit.services import Actor, Target, record
from segments.attributes import contact_attributes_apply, contact_phi_attributes, dictionary_for
from segments.models import AttributeDefinition, AttributeType, Contact, ContactSearch
from segments.search_index import TermMaker, attribute_term, contact_index_refresh
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

RESERVED_KEYS = frozenset({"email", "first_name", "last_name", "external_id", "language", "time_zone", "tags"})
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_CHOICES = 200
MAX_CHOICE_LENGTH = 100
VALUE_SCAN_BATCH = 1000


class DictionaryError(ValueError):
    """A refused change; ``field`` names the input at fault (for forms and structured 400s)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# --- Selectors ----------------------------------------------------------------------------------


def attribute_list(*, tenant: Organisation) -> list[AttributeDefinition]:
    return list(AttributeDefinition.objects.for_tenant(tenant).order_by("key"))


def attribute_get(*, tenant: Organisation, attribute_id: uuid.UUID | int | str) -> AttributeDefinition:
    """404 both when the attribute does not exist and when it belongs to another tenant."""
    definition = AttributeDefinition.objects.for_tenant(tenant).filter(pk=attribute_id).first()
    if definition is None:
        raise Http404("No such attribute.")
    return definition


def _contacts_with_phi(tenant: Organisation) -> Iterator[list[Contact]]:
    """Contacts holding any PHI attribute, in keyset batches (PHI values are encrypted, so which
    keys a contact has is only known after decrypting)."""
    last: Any = None
    base = Contact.objects.for_tenant(tenant).filter(phi_attributes__isnull=False).order_by("pk")
    while True:
        batch = list((base.filter(pk__gt=last) if last is not None else base)[:VALUE_SCAN_BATCH])
        if not batch:
            return
        yield batch
        last = batch[-1].pk


def attribute_value_count(*, tenant: Organisation, definition: AttributeDefinition, limit: int | None = None) -> int:
    """How many contacts have a value for the attribute (stops counting at ``limit``), from the
    presence term of the search index: nothing is decrypted."""
    present = attribute_term(TermMaker(tenant), definition.key, "set", "1")
    contacts = ContactSearch.objects.for_tenant(tenant).filter(terms__has_all=[present])
    return contacts[:limit].count() if limit is not None else contacts.count()


# --- Validation ---------------------------------------------------------------------------------


def _clean_key(key: str) -> str:
    key = (key or "").strip()
    if not KEY_PATTERN.match(key):
        raise DictionaryError("key", "Use 1 to 64 lower-case letters, digits and underscores, starting with a letter.")
    if key in RESERVED_KEYS:
        raise DictionaryError("key", "This name is a contact field of its own; choose another.")
    return key


def _clean_choices(kind: str, choices: Any) -> list[str]:
    if kind != AttributeType.CHOICE:
        if choices:
            raise DictionaryError("choices", "Only choice attributes have choices.")
        return []
    if isinstance(choices, str):
        choices = [line for line in re.split(r"[\n,]", choices)]
    if not isinstance(choices, list | tuple):
        raise DictionaryError("choices", "Give the choices as a list.")
    cleaned: list[str] = []
    for choice in choices:
        text = str(choice).strip()
        if not text:
            continue
        if len(text) > MAX_CHOICE_LENGTH:
            raise DictionaryError("choices", f"Each choice is at most {MAX_CHOICE_LENGTH} characters.")
        if text.casefold() not in {existing.casefold() for existing in cleaned}:
            cleaned.append(text)
    if not cleaned:
        raise DictionaryError("choices", "A choice attribute needs at least one choice.")
    if len(cleaned) > MAX_CHOICES:
        raise DictionaryError("choices", f"At most {MAX_CHOICES} choices.")
    return cleaned


def _clean_label(label: str, fallback: str) -> str:
    label = (label or "").strip() or fallback
    if len(label) > 100:
        raise DictionaryError("label", "At most 100 characters.")
    return label


# --- Services -----------------------------------------------------------------------------------


def attribute_define(
    *,
    tenant: Organisation,
    actor: Actor,
    key: str,
    type: str,
    label: str = "",
    is_phi: bool = False,
    description: str = "",
    choices: Any = None,
) -> AttributeDefinition:
    require_tenant_is_current(tenant)
    key = _clean_key(key)
    if type not in AttributeType.values:
        raise DictionaryError("type", "Choose one of text, number, date, boolean, choice.")
    cleaned_choices = _clean_choices(type, choices)
    with transaction.atomic():
        if AttributeDefinition.objects.for_tenant(tenant).filter(key=key).exists():
            raise DictionaryError("key", "An attribute with this name already exists.")
        definition = AttributeDefinition.objects.create(
            tenant=tenant,
            key=key,
            label=_clean_label(label, key.replace("_", " ").capitalize()),
            type=type,
            is_phi=bool(is_phi),
            description=(description or "").strip(),
            choices=cleaned_choices,
        )
        record(
            tenant=tenant,
            action="attribute.defined",
            actor=actor,
            target=Target.of(definition),
            details={"key": key, "type": type, "is_phi": definition.is_phi},
        )
    return definition


def attribute_update(
    *,
    tenant: Organisation,
    actor: Actor,
    definition: AttributeDefinition,
    label: str | None = None,
    description: str | None = None,
    choices: Any = None,
    type: str | None = None,
    is_phi: bool | None = None,
) -> AttributeDefinition:
    """Changes label, description, choices (adding only), and type or PHI flag while no contact
    has a value for the key."""
    require_tenant_is_current(tenant)
    with transaction.atomic():
        definition = AttributeDefinition.objects.for_tenant(tenant).select_for_update().get(pk=definition.pk)
        changed: list[str] = []
        new_type = definition.type if type is None else type
        new_phi = definition.is_phi if is_phi is None else bool(is_phi)
        if new_type not in AttributeType.values:
            raise DictionaryError("type", "Choose one of text, number, date, boolean, choice.")
        if (new_type != definition.type or new_phi != definition.is_phi) and attribute_value_count(
            tenant=tenant, definition=definition, limit=1
        ):
            field = "type" if new_type != definition.type else "is_phi"
            raise DictionaryError(
                field,
                "Contacts already have values for this attribute: changing its type or PHI flag would leave "
                "values stored in the wrong form (PHI must stay encrypted). Create a new attribute instead.",
            )
        if choices is not None or new_type != definition.type:
            new_choices = _clean_choices(new_type, choices if choices is not None else definition.choices)
            removed = {c.casefold() for c in definition.choices or []} - {c.casefold() for c in new_choices}
            if new_type == definition.type == AttributeType.CHOICE and removed:
                raise DictionaryError("choices", "Choices can be added, not removed: contacts may hold them.")
            if new_choices != (definition.choices or []):
                definition.choices = new_choices
                changed.append("choices")
        if new_type != definition.type:
            definition.type = new_type
            changed.append("type")
        if new_phi != definition.is_phi:
            definition.is_phi = new_phi
            changed.append("is_phi")
        if label is not None and _clean_label(label, definition.label) != definition.label:
            definition.label = _clean_label(label, definition.label)
            changed.append("label")
        if description is not None and description.strip() != definition.description:
            definition.description = description.strip()
            changed.append("description")
        if changed:
            definition.save(update_fields=[*changed, "updated_at"])
            record(
                tenant=tenant,
                action="attribute.updated",
                actor=actor,
                target=Target.of(definition),
                details={"key": definition.key, "fields": changed},
            )
    return definition


def attribute_delete(
    *, tenant: Organisation, actor: Actor, definition: AttributeDefinition, confirm: bool = False
) -> int:
    """Deletes the definition and its values on every contact (see the module docstring for
    why in one transaction). Returns how many contacts lost a value."""
    require_tenant_is_current(tenant)
    with transaction.atomic():
        definition = AttributeDefinition.objects.for_tenant(tenant).select_for_update().get(pk=definition.pk)
        if not confirm and attribute_value_count(tenant=tenant, definition=definition, limit=1):
            raise DictionaryError(
                "confirm", "Contacts have values for this attribute: confirm to delete them along with it."
            )
        removed = _remove_values(tenant, definition)
        record(
            tenant=tenant,
            action="attribute.deleted",
            actor=actor,
            target=Target.of(definition),
            details={"key": definition.key, "is_phi": definition.is_phi, "values_removed": removed},
        )
        definition.delete()
    return removed


def _remove_values(tenant: Organisation, definition: AttributeDefinition) -> int:
    """Removes every value of the attribute. PHI values are found by decrypting every contact
    that holds any PHI, not through the presence token: removing PHI must not depend on tokens
    being current."""
    key = definition.key
    if not definition.is_phi:
        removed = 0
        contacts = Contact.objects.for_tenant(tenant).filter(attributes__has_key=key).order_by("pk")
        while batch := list(contacts[:VALUE_SCAN_BATCH]):
            for contact in batch:
                contact.attributes.pop(key, None)
            Contact.objects.bulk_update(batch, ["attributes"])
            contact_index_refresh(batch)
            removed += len(batch)
        return removed
    dictionary = dictionary_for(tenant=tenant)
    removed = 0
    for batch in _contacts_with_phi(tenant):
        touched = [contact for contact in batch if key in contact_phi_attributes(contact)]
        for contact in touched:
            # Re-encrypts the remaining PHI values; save() also refreshes the search terms. One
            # save per contact: bulk_update would bypass the encrypting field's pre_save.
            contact_attributes_apply(contact=contact, values={key: None}, dictionary=dictionary)
            contact.save(update_fields=["phi_attributes", "updated_at"])
        removed += len(touched)
    return removed
