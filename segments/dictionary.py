"""The data dictionary: services and selectors for an organisation's contact attributes.

- A key is a slug, unique per tenant; the names of a contact's own fields are reserved.
- Type and PHI flag are fixed once any contact has a value for the key: changing them would
  leave stored values of the wrong type, or PHI stored in plain JSON (or the reverse). Label,
  description and choices (adding, not removing) can change at any time.
- Deleting an attribute that has values needs ``confirm=True``. It happens in two steps, so that
  no request holds locks over every contact:

  1. **Hide** (``attribute_delete``, in the request): one short audited transaction marks the
     definition ``deleting_at`` (``attribute.delete_started``) and queues the task. From then on
     the attribute is gone for every user-facing purpose: ``dictionary_for`` leaves it out, so
     segments using it are invalid, imports and the API refuse it, contact pages, exports and
     merge fields do not show it; ``attribute_get``/``attribute_list`` leave it out unless asked
     (the dictionary page shows it with its progress); its key cannot be defined again until
     the row is gone.
  2. **Remove** (``attribute_delete_step``, the Celery task ``segments.attribute_delete`` once
     per batch, re-enqueuing itself): each batch is one transaction that locks the definition
     row (so two deliveries of the task never work at once), then the batch's contacts
     (``SELECT ... FOR UPDATE``, re-read under the lock so a concurrent edit is never
     overwritten), removes the value from the JSON or the encrypted PHI blob and the key's
     search terms, and moves the keyset cursor and the progress on the definition row. A worker
     that dies mid-batch rolls the batch back; the task delivered again continues from the last
     committed cursor, and removing a value twice is a no-op. When the walk is done a sweep
     takes every contact still carrying the key's presence term (a writer that read the
     dictionary before the hide), then the definition row is deleted, audited
     ``attribute.deleted`` with the count.

PHI values are found by decrypting every contact that holds any PHI, not through the presence
term: removing PHI must not depend on terms being current. The task yields (tries again later)
while a contact import is being applied, while a batch's contacts stay locked longer than
``DELETE_LOCK_TIMEOUT``, and before the end while an import checked against the old dictionary
is still running.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import psycopg.errors
from django.db import OperationalError, transaction
from django.db.models import BinaryField, QuerySet, Value
from django.http import Http404
from django.utils import timezone

from audit.services import Actor, Target, record, system_actor
from encryption.aead import FieldContext, encrypt_texts
from segments.attributes import contact_phi_attributes
from segments.models import AttributeDefinition, AttributeType, Contact, ContactImport, ContactSearch, ImportStatus
from segments.search_index import TermMaker, attribute_term, contact_index_write, index_row
from tenants.context import require_tenant_is_current, swap_locals, tenant_context
from tenants.models import Organisation

logger = logging.getLogger(__name__)

RESERVED_KEYS = frozenset({"email", "first_name", "last_name", "external_id", "language", "time_zone", "tags"})
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_CHOICES = 200
MAX_CHOICE_LENGTH = 100
DELETE_BATCH_SIZE = 1000  # contacts per batch (one transaction) of an attribute's deletion
DELETE_LOCK_TIMEOUT = "2s"  # a batch waiting longer for locked contacts rolls back and tries later
DELETE_RETRY_SECONDS = 30  # how soon a deletion that had to wait tries again
DELETE_STALLED_AFTER = timedelta(minutes=10)  # no batch for this long: the page offers to resume


class DictionaryError(ValueError):
    """A refused change; ``field`` names the input at fault (for forms and structured 400s)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# --- Selectors ----------------------------------------------------------------------------------


def attribute_list(*, tenant: Organisation, include_deleting: bool = False) -> list[AttributeDefinition]:
    """The dictionary; attributes being deleted only with ``include_deleting`` (the dictionary
    page shows their progress)."""
    definitions = AttributeDefinition.objects.for_tenant(tenant).order_by("key")
    if not include_deleting:
        definitions = definitions.filter(deleting_at__isnull=True)
    return list(definitions)


def attribute_get(
    *, tenant: Organisation, attribute_id: uuid.UUID | int | str, include_deleting: bool = False
) -> AttributeDefinition:
    """404 both when the attribute does not exist and when it belongs to another tenant, and
    (unless ``include_deleting``) when it is being deleted."""
    definitions = AttributeDefinition.objects.for_tenant(tenant).filter(pk=attribute_id)
    if not include_deleting:
        definitions = definitions.filter(deleting_at__isnull=True)
    definition = definitions.first()
    if definition is None:
        raise Http404("No such attribute.")
    return definition


def attribute_delete_stalled(definition: AttributeDefinition, *, now: datetime | None = None) -> bool:
    """Whether a deletion has made no progress for ``DELETE_STALLED_AFTER`` (its task was lost
    or keeps failing): deleting it again queues the task again."""
    if not definition.is_deleting:
        return False
    return definition.updated_at < (now or timezone.now()) - DELETE_STALLED_AFTER


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
        existing = AttributeDefinition.objects.for_tenant(tenant).filter(key=key).first()
        if existing is not None and existing.is_deleting:
            raise DictionaryError(
                "key",
                "An attribute with this name is being deleted: define it again once its values are removed "
                "(the data dictionary shows the progress).",
            )
        if existing is not None:
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
        if definition.is_deleting:
            raise DictionaryError("key", "This attribute is being deleted.")
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
) -> AttributeDefinition:
    """Hides the attribute at once and queues the removal of its values (see the module
    docstring). An attribute already being deleted only has its task queued again (resuming a
    deletion whose task was lost); nothing is audited twice. Returns the hidden definition."""
    require_tenant_is_current(tenant)
    with transaction.atomic():
        definition = AttributeDefinition.objects.for_tenant(tenant).select_for_update().get(pk=definition.pk)
        if not definition.is_deleting:
            if not confirm and attribute_value_count(tenant=tenant, definition=definition, limit=1):
                raise DictionaryError(
                    "confirm", "Contacts have values for this attribute: confirm to delete them along with it."
                )
            definition.deleting_at = timezone.now()
            definition.save(update_fields=["deleting_at", "updated_at"])
            record(
                tenant=tenant,
                action="attribute.delete_started",
                actor=actor,
                target=Target.of(definition),
                details={"key": definition.key, "is_phi": definition.is_phi},
            )
        from segments.tasks import attribute_delete_task

        tenant_id, definition_id = tenant.pk, str(definition.pk)
        transaction.on_commit(lambda: attribute_delete_task.delay(tenant_id, definition_id))
    return definition


class DeleteStep(StrEnum):
    MORE = "more"  # a batch was done: run the next one now
    WAIT = "wait"  # nothing done: try again in DELETE_RETRY_SECONDS
    DONE = "done"  # the definition is gone (now, or already)


def attribute_delete_step(*, tenant: Organisation, definition_id: uuid.UUID | str) -> DeleteStep:
    """One batch of an attribute's deletion, in a transaction of its own: the body of the task
    ``segments.attribute_delete``. Safe to run again after a crash or twice at once."""
    try:
        with tenant_context(tenant):
            return _delete_step(tenant, definition_id)
    except OperationalError as error:
        if isinstance(error.__cause__, psycopg.errors.LockNotAvailable | psycopg.errors.DeadlockDetected):
            # Contacts locked by another writer for longer than DELETE_LOCK_TIMEOUT: the batch
            # rolled back; the writer goes first. Still alive: not "stalled" on the page.
            logger.info("Deleting attribute %s waits for locked contacts.", definition_id)
            with tenant_context(tenant):
                AttributeDefinition.objects.for_tenant(tenant).filter(pk=definition_id).update(
                    updated_at=timezone.now()
                )
            return DeleteStep.WAIT
        raise


def _delete_step(tenant: Organisation, definition_id: uuid.UUID | str) -> DeleteStep:
    definition = (
        AttributeDefinition.objects.for_tenant(tenant)
        .select_for_update()
        .filter(pk=definition_id, deleting_at__isnull=False)
        .first()
    )
    if definition is None:
        return DeleteStep.DONE  # finished by an earlier delivery of the task
    if ContactImport.objects.for_tenant(tenant).filter(status=ImportStatus.IMPORTING).exists():
        # An import being applied holds its contacts' locks until it commits: let it finish.
        definition.save(update_fields=["updated_at"])
        return DeleteStep.WAIT
    previous = swap_locals({"lock_timeout": DELETE_LOCK_TIMEOUT})
    step = _delete_batch(tenant, definition)
    swap_locals(previous)  # not reached on an error: the rollback restores it
    return step


def _delete_batch(tenant: Organisation, definition: AttributeDefinition) -> DeleteStep:
    if definition.delete_total is None:
        definition.delete_total = _delete_candidates(tenant, definition).count()
    checked, removed, last = _delete_walk_batch(tenant, definition)
    if checked:
        definition.delete_cursor = last
        definition.delete_done += checked
        definition.delete_removed += removed
        definition.save(update_fields=["delete_total", "delete_cursor", "delete_done", "delete_removed", "updated_at"])
        return DeleteStep.MORE
    swept = _delete_sweep_batch(tenant, definition)
    if swept is not None:
        definition.delete_removed += swept
        definition.save(update_fields=["delete_total", "delete_removed", "updated_at"])
        return DeleteStep.MORE
    if _import_may_write(tenant, definition.key):
        definition.save(update_fields=["delete_total", "updated_at"])
        return DeleteStep.WAIT
    record(
        tenant=tenant,
        action="attribute.deleted",
        actor=system_actor("attribute_delete"),
        target=Target.of(definition),
        details={"key": definition.key, "is_phi": definition.is_phi, "values_removed": definition.delete_removed},
    )
    definition.delete()
    return DeleteStep.DONE


def _delete_candidates(tenant: Organisation, definition: AttributeDefinition) -> QuerySet[Contact]:
    """The contacts to check: those with the key in their JSON, or (PHI: which keys a contact
    has is only known after decrypting) every contact holding any PHI attribute."""
    contacts = Contact.objects.for_tenant(tenant)
    if definition.is_phi:
        return contacts.filter(phi_attributes__isnull=False)
    return contacts.filter(attributes__has_key=definition.key)


def _delete_walk_batch(tenant: Organisation, definition: AttributeDefinition) -> tuple[int, int, Any]:
    """The next ``DELETE_BATCH_SIZE`` candidates after the cursor: (checked, removed, last id)."""
    candidates = _delete_candidates(tenant, definition).order_by("pk")
    if definition.delete_cursor is not None:
        candidates = candidates.filter(pk__gt=definition.delete_cursor)
    if not definition.is_phi:
        # Locked as read; PostgreSQL re-checks the key on a row changed meanwhile.
        batch = list(candidates.select_for_update()[:DELETE_BATCH_SIZE])
        return len(batch), _strip(tenant, definition, batch), batch[-1].pk if batch else None
    seen = list(candidates[:DELETE_BATCH_SIZE])
    for contact in seen:
        contact.tenant = tenant  # decrypting needs it; no query per contact
    holders = [contact.pk for contact in seen if definition.key in contact_phi_attributes(contact)]
    return len(seen), _strip(tenant, definition, _locked(tenant, holders)), seen[-1].pk if seen else None


def _delete_sweep_batch(tenant: Organisation, definition: AttributeDefinition) -> int | None:
    """After the walk: contacts that still carry the key's presence term (or, non-PHI, the key),
    written by someone who read the dictionary before the hide. None when there are none."""
    present = attribute_term(TermMaker(tenant), definition.key, "set", "1")
    termed = ContactSearch.objects.for_tenant(tenant).filter(terms__has_all=[present]).order_by("pk")
    ids = set(termed.values_list("pk", flat=True)[:DELETE_BATCH_SIZE])
    if not definition.is_phi:
        keyed = _delete_candidates(tenant, definition).order_by("pk")
        ids |= set(keyed.values_list("pk", flat=True)[:DELETE_BATCH_SIZE])
    if not ids:
        return None
    return _strip(tenant, definition, _locked(tenant, ids), reindex_all=True)


def _locked(tenant: Organisation, ids: Collection[Any]) -> list[Contact]:
    """The contacts, read again under row locks taken in id order."""
    if not ids:
        return []
    return list(Contact.objects.for_tenant(tenant).filter(pk__in=list(ids)).order_by("pk").select_for_update())


def _strip(
    tenant: Organisation, definition: AttributeDefinition, contacts: list[Contact], *, reindex_all: bool = False
) -> int:
    """Removes the key from the (locked) contacts' attributes and PHI blob and rewrites their
    search-index rows; returns how many had a value. Writes only ``attributes``,
    ``phi_attributes`` and ``updated_at``, from rows read under the lock."""
    key = definition.key
    now = timezone.now()
    maker = TermMaker(tenant)
    plain_changed: list[Contact] = []
    secret_changed: list[tuple[Contact, dict[str, Any]]] = []
    rows = []
    for contact in contacts:
        contact.tenant = tenant
        plain = dict(contact.attributes or {})
        secret = contact_phi_attributes(contact)
        in_plain, in_secret = key in plain, key in secret
        plain.pop(key, None)
        secret.pop(key, None)
        if in_plain:
            contact.attributes = plain
            plain_changed.append(contact)
        if in_secret:
            secret_changed.append((contact, secret))
        if in_plain or in_secret or reindex_all:
            contact.updated_at = now
            rows.append(
                index_row(
                    maker,
                    contact_id=contact.pk,
                    tags=(contact.tags or {}).keys(),
                    language=contact.language,
                    time_zone=contact.time_zone,
                    attributes=plain,
                    phi_attributes=secret,
                )
            )
    if plain_changed:
        Contact.objects.for_tenant(tenant).bulk_update(plain_changed, ["attributes", "updated_at"])
    if secret_changed:
        # Encrypted here in one batch, as imports do: bulk_update skips the field's pre_save.
        table = Contact._meta.db_table
        texts = [
            (
                FieldContext(table, "phi_attributes", str(contact.pk)),
                json.dumps(secret, separators=(",", ":"), sort_keys=True),
            )
            for contact, secret in secret_changed
            if secret
        ]
        sealed = iter(encrypt_texts(tenant, texts))
        for contact, secret in secret_changed:
            contact.__dict__["phi_attributes"] = Value(next(sealed), output_field=BinaryField()) if secret else None
        Contact.objects.for_tenant(tenant).bulk_update([c for c, _ in secret_changed], ["phi_attributes", "updated_at"])
    contact_index_write(tenant=tenant, rows=rows)
    return len({contact.pk for contact in plain_changed} | {contact.pk for contact, _ in secret_changed})


def _import_may_write(tenant: Organisation, key: str) -> bool:
    """Whether an import checked or checking against the dictionary from before the hide may
    still write the key: the deletion ends only after it."""
    running = ContactImport.objects.for_tenant(tenant).filter(
        status__in=(ImportStatus.VALIDATING, ImportStatus.IMPORTING)
    )
    return any(key in (mapping or {}).values() for mapping in running.values_list("mapping", flat=True))
