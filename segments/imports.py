"""Contact imports from CSV and contact exports.

An import moves UPLOADED -> (mapping chosen) VALIDATING -> IMPORTING -> DONE, or ends INVALID,
FAILED or CANCELLED with nothing imported:

1. ``import_create`` stores the upload encrypted (``segments.csv_io``) and suggests a mapping.
2. ``import_start`` fixes the mapping and the match key and enqueues the Celery task.
3. ``import_run`` (the task) validates EVERY row, streaming, before writing anything; any error
   ends the import INVALID with a per-row report (row, column, message; messages never quote the
   value). Then it applies all rows in ONE transaction, in batches, upserting through the blind
   indexes; a failure or a cancel at any row rolls back everything. On PostgreSQL new contacts
   are formatted straight into COPY lines (``segments.import_rows``), staged batch by batch and
   inserted with one statement at the end (``segments.import_writer``).

Progress: committed per batch while validating; while applying, the transaction is still open,
so progress goes to the cache (``import_progress`` reads both). The apply transaction never
updates the import's own row until it finishes, so a cancel request is never blocked by it and is
seen (READ COMMITTED) at the next batch. The last step, moving the staged rows, is one
statement: the progress shows every row processed while it runs, and a cancel then comes too late.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import uuid
import zoneinfo
from array import array
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import BinaryField, BooleanField, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.http import Http404
from django.utils import timezone

from audit.services import SYSTEM, Actor, Target, actor_for_user, record
from authn.models import User
from consent.imports import TARGET_PREFIX as CONSENT_PREFIX
from consent.imports import consent_cell, consent_import_batch
from consent.purposes import purpose_keys
from encryption.aead import FieldContext, encrypt_text, encrypt_texts
from encryption.blind_index import BlindIndexer, normalise
from sealpost.ids import uuid7
from segments.attributes import (
    AttributeValue,
    AttributeValueError,
    coerce_value,
    dictionary_for,
    normalise_tags,
)
from segments.contacts import (
    EXTERNAL_ID_MAX_LENGTH,
    LANGUAGE_MAX_LENGTH,
    MATCH_KEYS,
    NAME_MAX_LENGTH,
    ContactInputError,
    contact_filter,
    normalise_email,
)
from segments.csv_io import (
    CsvFormatError,
    UploadTooLarge,
    check_header,
    csv_rows,
    csv_text,
    header_of,
    max_upload_bytes,
    too_large_message,
    upload_chunks,
    upload_delete,
    upload_store,
)
from segments.import_locks import import_lock
from segments.import_rows import BatchSealer, Memo, index_tail, json_copy_text, sorted_json, uuid7_texts
from segments.import_writer import BatchWriter, copy_text
from segments.models import AttributeDefinition, Contact, ContactImport, ImportStatus
from segments.search_index import IndexRow, TermMaker, index_row, term_text
from segments.upload_handlers import StoredUpload
from tenants.context import require_tenant_is_current, tenant_context
from tenants.models import Organisation

logger = logging.getLogger(__name__)

CONTACT_FIELDS = ("email", "first_name", "last_name", "external_id", "language", "time_zone", "tags")
BATCH_SIZE = 2000
DEFAULT_LANGUAGE = str(Contact._meta.get_field("language").default)
DEFAULT_TIME_ZONE = str(Contact._meta.get_field("time_zone").default)
MAX_KEPT_ERRORS = 1000
EXPORT_BATCH_SIZE = 1000
ENDED = (ImportStatus.INVALID, ImportStatus.DONE, ImportStatus.FAILED, ImportStatus.CANCELLED)
RUNNING = (ImportStatus.VALIDATING, ImportStatus.IMPORTING)
_TIME_ZONES = frozenset(zoneinfo.available_timezones())
_ALIASES = {
    "email": "email",
    "e_mail": "email",
    "email_address": "email",
    "mail": "email",
    "first_name": "first_name",
    "firstname": "first_name",
    "given_name": "first_name",
    "forename": "first_name",
    "last_name": "last_name",
    "lastname": "last_name",
    "surname": "last_name",
    "family_name": "last_name",
    "external_id": "external_id",
    "externalid": "external_id",
    "patient_id": "external_id",
    "mrn": "external_id",
    "ehr_id": "external_id",
    "language": "language",
    "lang": "language",
    "locale": "language",
    "time_zone": "time_zone",
    "timezone": "time_zone",
    "tz": "time_zone",
    "tags": "tags",
    "tag": "tags",
}


class ImportInputError(ValueError):
    """A request the import cannot take (bad mapping, wrong state); the message is for people."""


class ImportApplyError(RuntimeError):
    """Applying failed (nothing was written); the message names rows and columns, never values."""


class _Cancelled(Exception):
    pass


# --- Upload and mapping -------------------------------------------------------------------------


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.casefold()).strip("_")


def suggest_mapping(columns: Iterable[str], dictionary: dict[str, AttributeDefinition]) -> dict[str, str]:
    """Column -> target by header name: a contact field (or a usual alias), an attribute's key
    or label; "" (ignored) otherwise. Each target is suggested once."""
    by_name = {_slug(definition.label): key for key, definition in dictionary.items()}
    by_name.update({_slug(key): key for key in dictionary})
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for column in columns:
        slug = _slug(column)
        target = _ALIASES.get(slug) or by_name.get(slug, "")
        if target in used:
            target = ""
        used.add(target)
        mapping[column] = target
    return mapping


def import_create(
    *,
    tenant: Organisation,
    actor: Actor,
    user: User,
    chunks: Iterable[bytes] | None = None,
    size: int | None = None,
    stored: StoredUpload | None = None,
) -> ContactImport:
    """Stores the upload encrypted (or takes one the encrypting upload handler already stored)
    and reads its header. ``CsvFormatError`` (nothing kept) for a file that is empty, too large
    (checked against ``size`` before reading any of it), not UTF-8 or without a usable header."""
    require_tenant_is_current(tenant)
    limit = max_upload_bytes()
    if stored is not None:
        contact_import = ContactImport(pk=stored.import_id, tenant=tenant, created_by=user)
        stored_bytes = int(stored.size or 0)
    else:
        if size is not None and size > limit:
            raise UploadTooLarge(too_large_message(limit))
        contact_import = ContactImport(tenant=tenant, created_by=user)
        stored_bytes = upload_store(tenant=tenant, import_id=contact_import.pk, chunks=chunks or [], limit=limit)
    try:
        columns = header_of(upload_chunks(tenant=tenant, import_id=contact_import.pk))
        contact_import.mapping = suggest_mapping(columns, dictionary_for(tenant=tenant))
        with transaction.atomic():
            contact_import.save(force_insert=True)
            record(
                tenant=tenant,
                action="contact.import_uploaded",
                actor=actor,
                target=Target.of(contact_import),
                details={"bytes": stored_bytes, "columns": len(columns)},
            )
    except BaseException:
        upload_delete(tenant=tenant, import_id=contact_import.pk)
        raise
    return contact_import


def import_columns(*, tenant: Organisation, contact_import: ContactImport) -> list[str]:
    require_tenant_is_current(tenant)
    return header_of(upload_chunks(tenant=tenant, import_id=contact_import.pk))


def check_mapping(
    *,
    mapping: dict[str, str],
    columns: list[str],
    match_on: str,
    dictionary: dict[str, AttributeDefinition],
    purposes: Collection[str] = (),
) -> dict[str, str]:
    """The mapping restricted to the file's columns, targets checked; ``ImportInputError``.
    ``purposes``: the consent purposes a column may set (target ``consent.<purpose>``)."""
    if match_on not in MATCH_KEYS:
        raise ImportInputError("Match contacts on external_id or email.")
    unknown_columns = set(mapping) - set(columns)
    if unknown_columns:
        raise ImportInputError(f"The mapping names {len(unknown_columns)} column(s) the file does not have.")
    cleaned: dict[str, str] = {}
    seen: set[str] = set()
    for column in columns:
        target = str(mapping.get(column) or "").strip()
        if not target:
            cleaned[column] = ""
            continue
        if target.startswith(CONSENT_PREFIX):
            if target.removeprefix(CONSENT_PREFIX) not in purposes:
                raise ImportInputError(f"Column {column!r}: {target!r} is not a consent purpose of the organisation.")
        elif target not in CONTACT_FIELDS and target not in dictionary:
            raise ImportInputError(f"Column {column!r}: {target!r} is neither a contact field nor an attribute.")
        if target in seen:
            raise ImportInputError(f"Two columns are mapped to {target}.")
        seen.add(target)
        cleaned[column] = target
    if match_on not in seen:
        raise ImportInputError(f"Map a column to {match_on}: contacts are matched on it.")
    if "email" not in seen:
        raise ImportInputError("Map a column to email: new contacts need an email address.")
    return cleaned


def import_start(
    *, tenant: Organisation, actor: Actor, contact_import: ContactImport, mapping: dict[str, str], match_on: str
) -> ContactImport:
    """Fixes the mapping and enqueues validation and import (after commit)."""
    require_tenant_is_current(tenant)
    dictionary = dictionary_for(tenant=tenant)
    columns = import_columns(tenant=tenant, contact_import=contact_import)
    cleaned = check_mapping(
        mapping=mapping,
        columns=columns,
        match_on=match_on,
        dictionary=dictionary,
        purposes=purpose_keys(tenant=tenant),
    )
    with transaction.atomic():
        started = (
            ContactImport.objects.for_tenant(tenant)
            .filter(pk=contact_import.pk, status=ImportStatus.UPLOADED)
            .update(status=ImportStatus.VALIDATING, mapping=cleaned, match_on=match_on)
        )
        if not started:
            raise ImportInputError("This import has already started or ended.")
        targets = [target for target in cleaned.values() if target]
        record(
            tenant=tenant,
            action="contact.import_started",
            actor=actor,
            target=Target.of(contact_import),
            details={
                "match_on": match_on,
                "fields": sorted(target for target in targets if target in CONTACT_FIELDS),
                "attributes": sorted(
                    target
                    for target in targets
                    if target not in CONTACT_FIELDS and not target.startswith(CONSENT_PREFIX)
                ),
                "consent": sorted(target for target in targets if target.startswith(CONSENT_PREFIX)),
            },
        )
        from segments.tasks import contact_import_task

        tenant_id, import_id = tenant.pk, str(contact_import.pk)
        transaction.on_commit(lambda: contact_import_task.delay(tenant_id, import_id))
    contact_import.refresh_from_db()
    return contact_import


def import_cancel(*, tenant: Organisation, actor: Actor, contact_import: ContactImport) -> bool:
    """An import not yet started ends now; a running one stops (rolled back) at its next batch.
    False when it had already ended."""
    require_tenant_is_current(tenant)
    imports = ContactImport.objects.for_tenant(tenant).filter(pk=contact_import.pk)
    with transaction.atomic():
        if imports.filter(status=ImportStatus.UPLOADED).update(
            status=ImportStatus.CANCELLED, cancel_requested=True, finished_at=timezone.now()
        ):
            transaction.on_commit(lambda: upload_delete(tenant=tenant, import_id=contact_import.pk))
        elif not imports.filter(status__in=RUNNING).update(cancel_requested=True):
            return False
        record(tenant=tenant, action="contact.import_cancelled", actor=actor, target=Target.of(contact_import))
    return True


def contact_import_get(*, tenant: Organisation, import_id: uuid.UUID | str) -> ContactImport:
    """404 both for an unknown import and for another organisation's."""
    contact_import = ContactImport.objects.for_tenant(tenant).filter(pk=import_id).first()
    if contact_import is None:
        raise Http404("No such import.")
    return contact_import


def _progress_key(import_id: Any) -> str:
    return f"segments:contact-import:{import_id}:processed"


def import_progress(contact_import: ContactImport) -> tuple[int, int]:
    """(processed, total) rows; while applying, the cache has the running figure."""
    processed = contact_import.processed_rows
    if contact_import.status == ImportStatus.IMPORTING:
        processed = max(processed, int(cache.get(_progress_key(contact_import.pk)) or 0))
    return processed, contact_import.total_rows


# --- Validation ---------------------------------------------------------------------------------


@dataclass
class _Plan:
    width: int
    match_on: str
    match_column: str
    email_column: str
    columns: list[tuple[int, str, str, AttributeDefinition | None]]
    dictionary: dict[str, AttributeDefinition]
    has_phi: bool = False
    has_attributes: bool = False
    fields: set[str] = field(default_factory=set)
    # Consent columns: (index, column, purpose); the changes made, counted by kind.
    consents: list[tuple[int, str, str]] = field(default_factory=list)
    consent_counts: Counter[str] = field(default_factory=Counter)
    recorded_by: Actor = SYSTEM
    import_id: Any = None
    # Per mapped column: (index, column, target, is an attribute, the cell's cleaner).
    cleaners: list[tuple[int, str, str, bool, Callable[[str], Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cleaners = [
            (index, column, target, definition is not None, _cleaner(target, definition))
            for index, column, target, definition in self.columns
        ]


_MISSING = object()
CLEAN_MEMO_LIMIT = 10_000  # remembered cell values per column


def _cleaner(target: str, definition: AttributeDefinition | None) -> Callable[[str], Any]:
    """The cleaning of one column's cells (``_clean_field`` or ``coerce_value``). Attribute
    values and tags repeat (a plan, a day, a tag list), so their verdicts are remembered per
    cell text (values only: a bad cell raises every time)."""
    if target == "email":
        return normalise_email
    if definition is None and target != "tags":
        return functools.partial(_clean_field, target)
    memo: dict[str, Any] = {}
    convert: Callable[[str], Any] = (
        normalise_tags if definition is None else functools.partial(coerce_value, definition)
    )

    def clean(raw: str) -> Any:
        value = memo.get(raw, _MISSING)
        if value is _MISSING:
            value = convert(raw.strip() if definition is None else raw)
            if len(memo) >= CLEAN_MEMO_LIMIT:
                memo.clear()
            memo[raw] = value
        return dict(value) if definition is None else value  # tags: a dict of the row's own

    return clean


def _plan(
    header: list[str],
    contact_import: ContactImport,
    dictionary: dict[str, AttributeDefinition],
    purposes: Collection[str],
    recorded_by: Actor,
) -> _Plan:
    mapping = contact_import.mapping or {}
    check_mapping(
        mapping=mapping, columns=header, match_on=contact_import.match_on, dictionary=dictionary, purposes=purposes
    )
    mapped = [(index, column, mapping[column]) for index, column in enumerate(header) if mapping.get(column)]
    consents = [
        (index, column, target.removeprefix(CONSENT_PREFIX))
        for index, column, target in mapped
        if target.startswith(CONSENT_PREFIX)
    ]
    columns = [
        (index, column, target, None if target in CONTACT_FIELDS else dictionary[target])
        for index, column, target in mapped
        if not target.startswith(CONSENT_PREFIX)
    ]
    by_target = {target: column for _index, column, target, _definition in columns}
    return _Plan(
        width=len(header),
        match_on=contact_import.match_on,
        match_column=by_target[contact_import.match_on],
        email_column=by_target["email"],
        columns=columns,
        dictionary=dictionary,
        has_phi=any(definition is not None and definition.is_phi for *_rest, definition in columns),
        has_attributes=any(definition is not None for *_rest, definition in columns),
        fields={target for _index, _column, target, definition in columns if definition is None},
        consents=consents,
        recorded_by=recorded_by,
        import_id=contact_import.pk,
    )


def _clean_field(target: str, raw: str) -> Any:
    if target == "email":
        return normalise_email(raw)
    value = raw.strip()
    if target in ("first_name", "last_name"):
        if len(value) > NAME_MAX_LENGTH:
            raise ContactInputError({target: f"At most {NAME_MAX_LENGTH} characters."})
        return value
    if target == "external_id":
        if len(value) > EXTERNAL_ID_MAX_LENGTH:
            raise ContactInputError({target: f"At most {EXTERNAL_ID_MAX_LENGTH} characters."})
        return value
    if target == "language":
        if not value or len(value) > LANGUAGE_MAX_LENGTH or not value.replace("-", "").replace("_", "").isalnum():
            raise ContactInputError({target: "Use a language tag such as en or pt-BR."})
        return value
    if target == "time_zone":
        if value not in _TIME_ZONES:
            raise ContactInputError({target: "Use an IANA time zone such as Europe/Lisbon."})
        return value
    return normalise_tags(value)  # tags


def _clean_row(
    plan: _Plan, number: int, cells: list[str]
) -> tuple[dict[str, Any], dict[str, AttributeValue], dict[str, str], list[dict[str, Any]]]:
    """The row's contact fields, attributes and consent statuses (by purpose), and its errors."""
    if len(cells) != plan.width:
        message = f"The row has {len(cells)} fields; the header has {plan.width}."
        return {}, {}, {}, [{"row": number, "column": "", "message": message}]
    values: dict[str, Any] = {}
    attributes: dict[str, AttributeValue] = {}
    consents: dict[str, str] = {}
    errors: list[dict[str, Any]] = []
    for index, column, purpose in plan.consents:
        try:
            status = consent_cell(cells[index])
        except ValueError as error:
            errors.append({"row": number, "column": column, "message": str(error)})
            continue
        if status is not None:
            consents[purpose] = status
    for index, column, target, is_attribute, clean in plan.cleaners:
        try:
            if is_attribute:
                attributes[target] = clean(cells[index])
            else:
                values[target] = clean(cells[index])
        except ContactInputError as error:
            errors.append({"row": number, "column": column, "message": next(iter(error.errors.values()))})
        except AttributeValueError as error:
            errors.append({"row": number, "column": column, "message": str(error).split(": ", 1)[-1]})
    if plan.match_on == "external_id" and "external_id" in values and not values["external_id"]:
        errors.append({"row": number, "column": plan.match_column, "message": "Empty: contacts are matched on it."})
    return values, attributes, consents, errors


@dataclass
class _Report:
    rows: int = 0
    error_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, errors: list[dict[str, Any]]) -> None:
        self.error_count += len(errors)
        room = MAX_KEPT_ERRORS - len(self.errors)
        if room > 0:
            self.errors.extend(errors[:room])


class DigestSet:
    """A set of 64-bit digests in one array (open addressing, linear probing, at most half
    full): 8 to 32 bytes per entry, where a Python set of ints takes about 60. The digests are
    keyed hashes, so their low bits spread evenly. 0 marks an empty slot (a digest of 0 is
    stored as 1)."""

    def __init__(self, capacity: int = 1024) -> None:
        self._slots = array("Q", bytes(8 * capacity))
        self._mask = capacity - 1
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, digest: int) -> bool:
        """Adds ``digest``; True if it was already there."""
        digest = digest or 1
        slots, mask = self._slots, self._mask
        index = digest & mask
        while (held := slots[index]) != 0:
            if held == digest:
                return True
            index = (index + 1) & mask
        slots[index] = digest
        self._count += 1
        if self._count * 2 > len(slots):
            self._grow()
        return False

    def _grow(self) -> None:
        old = self._slots
        self._slots = array("Q", bytes(16 * len(old)))
        self._mask = len(self._slots) - 1
        self._count = 0
        for digest in old:
            if digest:
                self.add(digest)


class _Digests:
    """Duplicate detection in bounded memory: a 64-bit keyed hash per value (never the value),
    under a key that lives only for this run, kept in a compact ``DigestSet`` (about 32 MB for
    the emails and match keys of a million rows)."""

    def __init__(self) -> None:
        self._key = os.urandom(32)
        self._seen: dict[str, tuple[Any, DigestSet]] = {}

    def seen_before(self, kind: str, value: str) -> bool:
        entry = self._seen.get(kind)
        if entry is None:
            # Keyed once per kind; each value hashes a copy (cheaper than keying again).
            keyed = hashlib.blake2b(digest_size=8, key=self._key, person=kind.encode()[:16])
            entry = self._seen[kind] = (keyed, DigestSet())
        keyed, seen = entry
        digest = keyed.copy()
        digest.update(normalise(value).encode())
        return seen.add(int.from_bytes(digest.digest()))


def _rows(tenant: Organisation, contact_import: ContactImport) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    rows = csv_rows(upload_chunks(tenant=tenant, import_id=contact_import.pk))
    first = next(rows, None)
    if first is None:
        raise CsvFormatError("The file has no header row.")
    return check_header(first[1]), rows


def _check_cancel(tenant: Organisation, import_id: Any) -> None:
    # A fresh read: under READ COMMITTED it sees a cancel committed since the task began.
    if ContactImport.objects.for_tenant(tenant).filter(pk=import_id, cancel_requested=True).exists():
        raise _Cancelled()


def _validate(tenant: Organisation, contact_import: ContactImport, plan_holder: list[_Plan]) -> _Report:
    report = _Report()
    with tenant_context(tenant):
        dictionary = dictionary_for(tenant=tenant)
        purposes = purpose_keys(tenant=tenant)
        recorded_by = actor_for_user(contact_import.created_by)
    header, rows = _rows(tenant, contact_import)
    plan = _plan(header, contact_import, dictionary, purposes, recorded_by)
    plan_holder.append(plan)
    digests = _Digests()
    for number, cells in rows:
        values, _attributes, _consents, errors = _clean_row(plan, number, cells)
        for target, column in ((plan.match_on, plan.match_column), ("email", plan.email_column)):
            value = values.get(target)
            if value and digests.seen_before(target, value):
                message = f"Duplicate: an earlier row has the same {target}."
                errors.append({"row": number, "column": column, "message": message})
            if target == plan.match_on == "email":
                break
        if errors:
            report.add(errors)
        report.rows += 1
        if report.rows % BATCH_SIZE == 0:
            with tenant_context(tenant):
                _check_cancel(tenant, contact_import.pk)
                ContactImport.objects.for_tenant(tenant).filter(pk=contact_import.pk).update(
                    processed_rows=report.rows, total_rows=report.rows
                )
    if report.rows == 0 and not report.error_count:
        report.add([{"row": 1, "column": "", "message": "The file has a header row but no contacts."}])
    return report


# --- Applying -----------------------------------------------------------------------------------


_EMAIL_INDEX = Contact._meta.get_field("email_index").index_name(Contact)  # type: ignore[attr-defined]
_EXTERNAL_ID_INDEX = Contact._meta.get_field("external_id_index").index_name(Contact)  # type: ignore[attr-defined]
_ENCRYPTED = ("email", "first_name", "last_name", "external_id")


class _NewRows:
    """What the COPY path keeps from batch to batch: the sealer and the memos (``import_rows``)."""

    def __init__(self, tenant: Organisation) -> None:
        self.sealer = BatchSealer(tenant, Contact._meta.db_table, (*_ENCRYPTED, "phi_attributes"))
        self.tags = Memo()
        self.attributes = Memo()
        self.secrets = Memo()
        self.index_tails = Memo()


class _Crypto:
    """Encryption, blind indexes and search terms for one batch, through the encryption module's
    own functions (the tenant's index key is cached by the keyring, terms are memoised)."""

    def __init__(self, tenant: Organisation, terms: TermMaker, rows: _NewRows | None = None) -> None:
        self.tenant = tenant
        self.terms = terms
        self.index = BlindIndexer(tenant)
        self.rows = rows or _NewRows(tenant)
        self._known: dict[tuple[str, str], str] = {}

    def remembered_index(self, name: str, value: str) -> str:
        """``index``, kept for the batch: the match key's index serves the lookup and the new row."""
        key = (name, value)
        digest = self._known.get(key)
        if digest is None:
            digest = self._known[key] = self.index(name, value)
        return digest

    def seal(self, contact: Contact, name: str, plaintext: str) -> bytes:
        return encrypt_text(self.tenant, FieldContext(Contact._meta.db_table, name, str(contact.pk)), plaintext)

    def index_row(self, contact: Contact, plain: dict[str, Any], secret: dict[str, Any]) -> IndexRow:
        return index_row(
            self.terms,
            contact_id=contact.pk,
            tags=(contact.tags or {}).keys(),
            language=contact.language,
            time_zone=contact.time_zone,
            attributes=plain,
            phi_attributes=secret,
        )


def _sealed(crypto: _Crypto, contact: Contact, name: str, plaintext: str) -> Value:
    """A ciphertext as an expression, for bulk_update (which would otherwise write the plaintext
    it reads from the attribute: it does not call the field's pre_save)."""
    return Value(crypto.seal(contact, name, plaintext), output_field=BinaryField())


def _merge(plan: _Plan, plain: dict[str, Any], secret: dict[str, Any], attributes: dict[str, AttributeValue]) -> None:
    for key, value in attributes.items():
        target = secret if plan.dictionary[key].is_phi else plain
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value


def _add_new_contacts(
    crypto: _Crypto,
    plan: _Plan,
    writer: BatchWriter,
    items: list[tuple[dict[str, Any], dict[str, AttributeValue]]],
    now: datetime,
) -> list[uuid.UUID] | list[str]:
    """Encrypts the new contacts' fields in one batch and hands rows to ``writer``; returns the
    new contacts' ids, in the order of ``items``."""
    if writer.use_copy:
        return _add_new_contact_lines(crypto, plan, writer, items, now)
    table = Contact._meta.db_table
    prepared = []
    sealing: list[tuple[FieldContext, str]] = []
    for values, attributes in items:
        contact_id = uuid7()
        plain: dict[str, Any] = {}
        secret: dict[str, Any] = {}
        _merge(plan, plain, secret, attributes)
        row = str(contact_id)
        sealing += [(FieldContext(table, name, row), values.get(name, "")) for name in _ENCRYPTED]
        if secret:
            text = json.dumps(secret, separators=(",", ":"), sort_keys=True)
            sealing.append((FieldContext(table, "phi_attributes", row), text))
        prepared.append((contact_id, values, plain, secret))
    sealed = iter(encrypt_texts(crypto.tenant, sealing))
    stamp = writer.timestamp(now)
    for contact_id, values, plain, secret in prepared:
        ciphertexts = {name: next(sealed) for name in _ENCRYPTED}
        tags = values.get("tags", {})
        language = values.get("language", DEFAULT_LANGUAGE)
        time_zone = values.get("time_zone", DEFAULT_TIME_ZONE)
        writer.add_contact(
            {
                "id": contact_id,
                "tenant": crypto.tenant.pk,
                **ciphertexts,
                "email_index": crypto.index(_EMAIL_INDEX, values["email"]),
                "external_id_index": crypto.index(_EXTERNAL_ID_INDEX, values.get("external_id", "")),
                "language": language,
                "time_zone": time_zone,
                "tags": tags,
                "attributes": plain,
                "phi_attributes": next(sealed) if secret else None,
                "last_activity_at": stamp,
                "created_at": stamp,
                "updated_at": stamp,
            }
        )
        writer.add_index_row(
            index_row(
                crypto.terms,
                contact_id=contact_id,
                tags=tags,
                language=language,
                time_zone=time_zone,
                attributes=plain,
                phi_attributes=secret,
            ),
            replacing=False,
        )
    return [contact_id for contact_id, *_rest in prepared]


def _add_new_contact_lines(
    crypto: _Crypto,
    plan: _Plan,
    writer: BatchWriter,
    items: list[tuple[dict[str, Any], dict[str, AttributeValue]]],
    now: datetime,
) -> list[str]:
    """``_add_new_contacts`` for COPY: the same rows, formatted straight into COPY text lines
    (``segments.import_rows``); ids as text."""
    if not items:
        return []
    rows = crypto.rows
    ids = uuid7_texts(len(items))
    rows.sealer.start(len(items) * (len(_ENCRYPTED) + (1 if plan.has_phi else 0)))
    seal = rows.sealer.seal_hex
    known = crypto.remembered_index
    stamp = now.isoformat()
    tenant_id = crypto.tenant.pk
    default_tags: dict[str, bool] = {}
    for contact_id, (values, attributes) in zip(ids, items, strict=True):
        plain: dict[str, Any] = {}
        secret: dict[str, Any] = {}
        if attributes:
            _merge(plan, plain, secret, attributes)
        email = values["email"]
        external_id = values.get("external_id", "")
        tags = values.get("tags", default_tags)
        language = values.get("language", DEFAULT_LANGUAGE)
        time_zone = values.get("time_zone", DEFAULT_TIME_ZONE)
        phi = "\\\\x" + seal("phi_attributes", contact_id, sorted_json(rows.secrets, secret)) if secret else "\\N"
        writer.add_contact_line(
            "\t".join(
                (  # CONTACT_FIELDS' order
                    contact_id,
                    str(tenant_id),
                    "\\\\x" + seal("email", contact_id, email),
                    known(_EMAIL_INDEX, email),
                    "\\\\x" + seal("first_name", contact_id, values.get("first_name", "")),
                    "\\\\x" + seal("last_name", contact_id, values.get("last_name", "")),
                    "\\\\x" + seal("external_id", contact_id, external_id),
                    known(_EXTERNAL_ID_INDEX, external_id),
                    copy_text(language),
                    copy_text(time_zone),
                    json_copy_text(rows.tags, tags),
                    json_copy_text(rows.attributes, plain),
                    phi,
                    stamp,
                    stamp,
                    stamp,
                )
            )
            + "\n"
        )
        tail = index_tail(
            rows.index_tails,
            crypto.terms,
            tenant_id,
            tags=tags,
            language=language,
            time_zone=time_zone,
            plain=plain,
            secret=secret,
        )
        writer.add_index_line(contact_id + tail)
    return ids


def _update_contact(
    crypto: _Crypto, plan: _Plan, contact: Contact, values: dict[str, Any], attributes: dict[str, AttributeValue]
) -> IndexRow:
    # The stored PHI attributes, decrypted: the search terms cover them all, not only the file's.
    text = contact.phi_attributes
    secret: dict[str, Any] = json.loads(text) if text else {}
    for name, value in values.items():
        if name in _ENCRYPTED:
            contact.__dict__[name] = _sealed(crypto, contact, name, value)
            if name == "email":
                contact.email_index = crypto.index(_EMAIL_INDEX, value)
            elif name == "external_id":
                contact.external_id_index = crypto.index(_EXTERNAL_ID_INDEX, value)
        else:
            setattr(contact, name, value)
    plain = dict(contact.attributes or {})
    if plan.has_attributes:
        _merge(plan, plain, secret, attributes)
        contact.attributes = plain
        if plan.has_phi:
            encoded = json.dumps(secret, separators=(",", ":"), sort_keys=True) if secret else None
            contact.__dict__["phi_attributes"] = (
                _sealed(crypto, contact, "phi_attributes", encoded) if encoded else None
            )
    return crypto.index_row(contact, plain, secret)


def _update_fields(plan: _Plan) -> list[str]:
    names = ["last_activity_at", "updated_at", *sorted(plan.fields)]
    if "email" in plan.fields:
        names.append("email_index")
    if "external_id" in plan.fields:
        names.append("external_id_index")
    if plan.has_attributes:
        names.append("attributes")
    if plan.has_phi:
        names.append("phi_attributes")
    return names


# A row to apply: its number, contact fields, attributes and consent statuses by purpose.
_Row = tuple[int, dict[str, Any], dict[str, AttributeValue], dict[str, str]]


def _matching(tenant: Organisation, index_field: str, keys: list[str], *, any_array: bool) -> QuerySet[Contact]:
    """The tenant's contacts whose ``index_field`` is one of ``keys``. On PostgreSQL as one array
    parameter (``= ANY``): two thousand ``IN`` placeholders cost more to build than the query."""
    contacts = Contact.objects.for_tenant(tenant)
    if not any_array:
        return contacts.filter(**{f"{index_field}__in": keys})
    column = Contact._meta.get_field(index_field).column  # type: ignore[union-attr]
    return contacts.filter(RawSQL(f"{column} = ANY(%s)", (keys,), output_field=BooleanField()))  # noqa: S611


def _write_batch(
    tenant: Organisation,
    plan: _Plan,
    batch: list[_Row],
    terms: TermMaker,
    writer: BatchWriter,
    rows: _NewRows | None = None,
) -> tuple[int, int]:
    """Upserts one batch; returns (created, updated)."""
    index_field, index_name = (
        ("email_index", _EMAIL_INDEX) if plan.match_on == "email" else ("external_id_index", _EXTERNAL_ID_INDEX)
    )
    crypto = _Crypto(tenant, terms, rows)
    keys = [
        crypto.remembered_index(index_name, values[plan.match_on]) for _number, values, _attributes, _consents in batch
    ]
    existing: dict[str, Contact] = {}
    for found in _matching(tenant, index_field, keys, any_array=writer.use_copy):
        key = getattr(found, index_field)
        if key in existing:
            raise ImportApplyError(f"More than one contact has the same {plan.match_on} as a row of the file.")
        existing[key] = found
    # The previous batch goes to the database (its staging tables, with COPY) while this one is
    # prepared (pure Python).
    writer.start_flush()
    now = timezone.now()
    creates: list[tuple[dict[str, Any], dict[str, AttributeValue]]] = []
    create_consents: list[dict[str, str]] = []
    consents: list[tuple[uuid.UUID, dict[str, str]]] = []
    updates: list[Contact] = []
    for key, (_number, values, attributes, statuses) in zip(keys, batch, strict=True):
        contact = existing.get(key)
        if contact is None:
            creates.append((values, attributes))
            create_consents.append(statuses)
            continue
        writer.add_index_row(_update_contact(crypto, plan, contact, values, attributes))
        contact.last_activity_at = now
        contact.updated_at = now
        updates.append(contact)
        consents.append((contact.pk, statuses))
    created_ids = _add_new_contacts(crypto, plan, writer, creates, now)
    if plan.consents:
        consents += zip((uuid.UUID(str(contact_id)) for contact_id in created_ids), create_consents, strict=True)
    writer.wait()
    if updates:
        Contact.objects.bulk_update(updates, _update_fields(plan), batch_size=500)
    if plan.consents:
        # New contacts may still be in the writer's buffer: consent's foreign key is checked at commit.
        plan.consent_counts.update(
            consent_import_batch(
                tenant=tenant, recorded_by=plan.recorded_by, import_id=plan.import_id, rows=consents, at=now
            )
        )
    return len(creates), len(updates)


def _apply(tenant: Organisation, contact_import: ContactImport, plan: _Plan) -> tuple[int, int]:
    created = updated = processed = 0
    _header, rows = _rows(tenant, contact_import)
    batch: list[_Row] = []
    terms = TermMaker(tenant)
    writer = BatchWriter(tenant)
    new_rows = _NewRows(tenant)

    def flush() -> None:
        nonlocal created, updated, processed
        made, changed = _write_batch(tenant, plan, batch, terms, writer, new_rows)
        created += made
        updated += changed
        processed += len(batch)
        batch.clear()
        cache.set(_progress_key(contact_import.pk), processed, timeout=24 * 3600)
        _check_cancel(tenant, contact_import.pk)

    try:
        for number, cells in rows:
            values, attributes, consents, errors = _clean_row(plan, number, cells)
            if errors:  # the stored file cannot change between the passes; refuse rather than guess
                raise ImportApplyError(f"Row {number} no longer validates.")
            batch.append((number, values, attributes, consents))
            if len(batch) >= BATCH_SIZE:
                flush()
        if batch:
            flush()
        writer.flush()  # the last batch's rows
    except BaseException:
        writer.close(quiet=True)  # the error in hand is the one to report
        raise
    writer.close()  # the writer thread is done with the connection before it commits
    return created, updated


# --- The task's body ----------------------------------------------------------------------------


def import_end(
    tenant: Organisation,
    import_id: Any,
    status: ImportStatus,
    *,
    report: _Report | None = None,
    message: str = "",
) -> None:
    """Ends an import that imported nothing (invalid, failed or cancelled), audited."""
    errors = report.errors if report is not None else [{"row": 0, "column": "", "message": message}]
    error_count = report.error_count if report is not None else 1
    with tenant_context(tenant):
        ContactImport.objects.for_tenant(tenant).filter(pk=import_id).update(
            status=status,
            errors=errors if status != ImportStatus.CANCELLED else [],
            error_count=error_count if status != ImportStatus.CANCELLED else 0,
            processed_rows=0 if status != ImportStatus.INVALID else (report.rows if report else 0),
            **({"total_rows": report.rows} if report is not None else {}),
            created_count=0,
            updated_count=0,
            finished_at=timezone.now(),
        )
        record(
            tenant=tenant,
            action="contact.import_failed",
            actor=SYSTEM,
            target=Target("contactimport", str(import_id)),
            details={"reason": str(status), "error_count": error_count if status != ImportStatus.CANCELLED else 0},
        )


def import_run(*, tenant: Organisation, import_id: uuid.UUID | str) -> None:
    """Validates, then applies all or nothing. Runs in its own transactions (not inside one),
    holding the import's lock (``segments.import_locks``) from before it claims the import until
    it ends, so that an import whose worker died can be told from one still running."""
    with import_lock(import_id) as mine:
        if not mine:
            return  # another delivery of the task is running it
        with tenant_context(tenant):
            claimed = (
                ContactImport.objects.for_tenant(tenant)
                .filter(pk=import_id, status=ImportStatus.VALIDATING, started_at__isnull=True)
                .update(started_at=timezone.now())
            )
            contact_import = ContactImport.objects.for_tenant(tenant).filter(pk=import_id).first()
        if not claimed or contact_import is None:
            return  # already claimed by another delivery, cancelled or unknown
        try:
            _run(tenant, contact_import)
        finally:
            upload_delete(tenant=tenant, import_id=contact_import.pk)
            cache.delete(_progress_key(contact_import.pk))


def _run(tenant: Organisation, contact_import: ContactImport) -> None:
    plans: list[_Plan] = []
    try:
        report = _validate(tenant, contact_import, plans)
    except _Cancelled:
        import_end(tenant, contact_import.pk, ImportStatus.CANCELLED, message="")
        return
    except (CsvFormatError, ImportInputError) as error:
        import_end(tenant, contact_import.pk, ImportStatus.INVALID, message=str(error))
        return
    if report.error_count:
        import_end(tenant, contact_import.pk, ImportStatus.INVALID, report=report)
        return
    with tenant_context(tenant):
        ContactImport.objects.for_tenant(tenant).filter(pk=contact_import.pk).update(
            status=ImportStatus.IMPORTING, total_rows=report.rows, processed_rows=0
        )
    try:
        with tenant_context(tenant):
            created, updated = _apply(tenant, contact_import, plans[0])
            ContactImport.objects.for_tenant(tenant).filter(pk=contact_import.pk).update(
                status=ImportStatus.DONE,
                processed_rows=report.rows,
                created_count=created,
                updated_count=updated,
                finished_at=timezone.now(),
            )
            record(
                tenant=tenant,
                action="contact.import_finished",
                actor=SYSTEM,
                target=Target.of(contact_import),
                details={"rows": report.rows, "created": created, "updated": updated},
            )
            if plans[0].consents:
                counts = plans[0].consent_counts
                record(
                    tenant=tenant,
                    action="consent.imported",
                    actor=SYSTEM,
                    target=Target.of(contact_import),
                    details={
                        "purposes": sorted({purpose for _index, _column, purpose in plans[0].consents}),
                        "granted": counts["granted"],
                        "revoked": counts["revoked"],
                        "kept_revoked": counts["kept_revoked"],
                    },
                )
    except _Cancelled:
        import_end(tenant, contact_import.pk, ImportStatus.CANCELLED, message="")
    except ImportApplyError as error:
        import_end(tenant, contact_import.pk, ImportStatus.FAILED, message=f"{error} Nothing was imported.")
    except Exception as error:
        # The type only: a database error's text can quote values.
        logger.error("Contact import %s failed: %s", contact_import.pk, type(error).__name__)
        message = "A contact conflicts with an existing one, or the database refused a row. Nothing was imported."
        import_end(tenant, contact_import.pk, ImportStatus.FAILED, message=message)


# --- Export -------------------------------------------------------------------------------------


def contact_export_count(*, tenant: Organisation, tag: str = "") -> int:
    require_tenant_is_current(tenant)
    return contact_filter(Contact.objects.for_tenant(tenant), tag=tag).count()


def contact_export_record(*, tenant: Organisation, actor: Actor, count: int, tag: str = "") -> None:
    require_tenant_is_current(tenant)
    record(
        tenant=tenant,
        action="contact.exported",
        actor=actor,
        details={"count": count, "filtered_by_tag": bool(tag.strip()), "format": "csv"},
    )


def contact_export_csv(*, tenant: Organisation, tag: str = "", batch_size: int | None = None) -> Iterator[str]:
    """CSV text of the tenant's contacts (PHI attributes included), in keyset batches. Each batch
    is read and decrypted in a short ``tenant_context`` of its own, so the iterator can be
    consumed after the request's transaction (a streaming response) and holds one batch at a time.
    """
    require_tenant_is_current(tenant)
    size = batch_size or EXPORT_BATCH_SIZE
    keys = list(dictionary_for(tenant=tenant))
    header = ["id", *CONTACT_FIELDS, *keys]

    def rows() -> Iterator[str]:
        yield csv_text([header])
        last: uuid.UUID | None = None
        while True:
            with tenant_context(tenant):
                contacts = contact_filter(Contact.objects.for_tenant(tenant), tag=tag).order_by("id")
                if last is not None:
                    contacts = contacts.filter(id__gt=last)
                batch = list(contacts[:size])
                text = csv_text(_export_row(contact, keys) for contact in batch)
            if not batch:
                return
            last = batch[-1].pk
            yield text

    return rows()


def _export_row(contact: Contact, keys: list[str]) -> list[Any]:
    phi = contact.phi_attributes
    values = {**(contact.attributes or {}), **(json.loads(phi) if phi else {})}
    return [
        contact.pk,
        contact.email,
        contact.first_name,
        contact.last_name,
        contact.external_id,
        contact.language,
        contact.time_zone,
        ",".join(sorted(contact.tags or {})),
        *(term_text(values[key]) if values.get(key) is not None else "" for key in keys),
    ]
