"""Writing an import's new contacts and search-index rows in bulk, inside the import's
transaction and as its tenant.

- PostgreSQL: each batch is sent with ``COPY`` into temporary staging tables (PostgreSQL refuses
  ``COPY FROM`` on tables under row-level security) while the import prepares the next one; at
  the end ``flush`` moves everything with one ``INSERT ... SELECT`` per table, where the policies
  check every row as they would any insert. One statement for the whole import costs PostgreSQL
  about a third less than one per batch, and the staging tables live on disk, not in memory
  (they go with the transaction, committed or rolled back). COPY's text format is escaped here
  (``copy_text``), or by the caller for lines it formats itself (``segments.import_rows``).
- Other databases (SQLite, the embedded default): ``executemany`` with each field's own
  database preparation.

Values come in already prepared by the import: ciphertexts as bytes, blind indexes as text, JSON
as dicts, search terms as lists of ints.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from django.db import connections

from segments.models import Contact, ContactIndex
from segments.search_index import IndexRow
from tenants.models import Organisation

CONTACT_FIELDS = (
    "id",
    "tenant",
    "email",
    "email_index",
    "first_name",
    "last_name",
    "external_id",
    "external_id_index",
    "language",
    "time_zone",
    "tags",
    "attributes",
    "phi_attributes",
    "last_activity_at",
    "created_at",
    "updated_at",
)
# Contact columns an import never writes: new contacts get the column's default, existing ones
# keep theirs (a patient's own choice, such as opting out of tracking, is not the file's to set).
DEFAULTED_FIELDS = ("tracking_opt_out",)
INDEX_FIELDS = ("contact", "tenant", "terms", "attributes")
_TEMP_CONTACTS = "sealpost_import_contact"
_TEMP_INDEX = "sealpost_import_contact_index"


def copy_text(value: Any) -> str:
    """One field of a COPY text-format line."""
    if type(value) is str:
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        return value
    if value is None:
        return "\\N"
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    if isinstance(value, int | uuid.UUID) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        value = json.dumps(value, separators=(",", ":"))
    elif isinstance(value, list):  # search terms: a PostgreSQL array of integers
        value = "{" + ",".join(str(int(term)) for term in value) + "}"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _columns(model: type[Contact] | type[ContactIndex], names: tuple[str, ...]) -> list[Any]:
    return [model._meta.get_field(name) for name in names]


class BatchWriter:
    """Collects a batch's new contacts and index rows (new or replacing); ``start_flush`` sends
    them (to the staging tables, with COPY) and ``flush`` writes everything into the real tables:
    contacts first, since index rows refer to them."""

    def __init__(self, tenant: Organisation, *, use_copy: bool | None = None) -> None:
        self.tenant = tenant
        self.connection = connections[Contact.objects.db]
        self.use_copy = self.connection.vendor == "postgresql" if use_copy is None else use_copy
        self._tenant_id = tenant.pk
        # Rows for executemany, or lines for COPY (formatted as they come: less to keep).
        self.contacts: list[tuple[Any, ...]] = []
        self.index_rows: list[tuple[Any, ...]] = []
        self.contact_lines: list[str] = []
        self.index_lines: list[str] = []
        self._temporary_tables = False
        self._executor: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None
        self._staged = False
        self._replacing = False  # an index row of an existing contact was added

    def timestamp(self, moment: datetime) -> datetime | str:
        """``moment`` as the writer wants it: formatted once per batch for COPY."""
        return moment.isoformat() if self.use_copy else moment

    def add_contact(self, values: dict[str, Any]) -> None:
        self.contacts.append(tuple(values[name] for name in CONTACT_FIELDS))
        if self.use_copy:
            self.contact_lines.append("\t".join(map(copy_text, self.contacts.pop())) + "\n")

    def add_contact_line(self, line: str) -> None:
        """A contact already formatted as a COPY text line (fields in ``CONTACT_FIELDS`` order)."""
        self.contact_lines.append(line)

    def add_index_line(self, line: str) -> None:
        """An index row already formatted as a COPY text line (fields in ``INDEX_FIELDS`` order)."""
        self.index_lines.append(line)

    def add_index_row(self, row: IndexRow, *, replacing: bool = True) -> None:
        """A row for the search index, of an existing contact unless ``replacing`` is False."""
        self._replacing = self._replacing or replacing
        if self.use_copy:
            terms = ",".join(map(str, row.terms))
            self.index_lines.append(f"{row.contact_id}\t{self._tenant_id}\t{{{terms}}}\t{copy_text(row.attributes)}\n")
        else:
            self.index_rows.append((row.contact_id, self._tenant_id, row.terms, row.attributes))

    def flush(self) -> None:
        """Writes what was collected (and, with COPY, everything staged so far), and returns
        when it is written."""
        self.start_flush()
        self.wait()
        if self.use_copy:
            self._insert_staged()

    def start_flush(self) -> None:
        """Sends what was collected. With COPY it runs in a background thread on the same
        connection (the same transaction), so that the import prepares its next batch while
        PostgreSQL stages this one; ``wait`` before using the connection again."""
        self.wait()
        if not self.use_copy:
            self._flush_by_insert()
            self.contacts.clear()
            self.index_rows.clear()
            return
        if not (self.contact_lines or self.index_lines):
            return
        self._create_temporary_tables()
        contact_lines, index_lines = self.contact_lines, self.index_lines
        self.contact_lines, self.index_lines = [], []
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-writer")
        raw = self.connection.connection
        self._pending = self._executor.submit(self._copy, raw, contact_lines, index_lines)

    def wait(self) -> None:
        """Returns once the background write (if any) is done; raises what it raised."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self, *, quiet: bool = False) -> None:
        """Waits for the background write and stops its thread. Called however the import ends:
        the thread must be done with the connection before the transaction commits or rolls
        back. ``quiet``: an error is already being handled; do not replace it with this one."""
        try:
            self.wait()
        except Exception:
            if not quiet:
                raise
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    # --- PostgreSQL ---------------------------------------------------------------------------

    def _create_temporary_tables(self) -> None:
        if self._temporary_tables:
            return
        quote = self.connection.ops.quote_name
        with self.connection.cursor() as cursor:
            for temporary, table in ((_TEMP_CONTACTS, Contact), (_TEMP_INDEX, ContactIndex)):
                cursor.execute(
                    f"CREATE TEMPORARY TABLE IF NOT EXISTS {temporary} "
                    f"(LIKE {quote(table._meta.db_table)} INCLUDING DEFAULTS) ON COMMIT DROP"
                )
        self._temporary_tables = True

    def _copy(self, raw: Any, contact_lines: list[str], index_lines: list[str]) -> None:
        """Runs in the writer thread, on the import's own connection (psycopg serialises its use):
        the batch goes to the staging tables only; ``flush`` moves them all at once."""
        quote = self.connection.ops.quote_name
        contact_columns = ", ".join(quote(field.column) for field in _columns(Contact, CONTACT_FIELDS))
        index_columns = ", ".join(quote(field.column) for field in _columns(ContactIndex, INDEX_FIELDS))
        with raw.cursor() as cursor:
            for temporary, columns, lines in (
                (_TEMP_CONTACTS, contact_columns, contact_lines),
                (_TEMP_INDEX, index_columns, index_lines),
            ):
                if lines:
                    with cursor.copy(f"COPY {temporary} ({columns}) FROM STDIN") as copy:
                        copy.write("".join(lines))
        self._staged = True

    def _insert_staged(self) -> None:
        """One ``INSERT ... SELECT`` per table for the whole import (the policies check every row
        as they would any insert): far less work for PostgreSQL than one per batch. Index rows
        replace existing ones only if the import updated contacts (new contacts have none)."""
        if not self._staged:
            return
        quote = self.connection.ops.quote_name
        contact_columns = ", ".join(quote(field.column) for field in _columns(Contact, CONTACT_FIELDS))
        index_columns = ", ".join(quote(field.column) for field in _columns(ContactIndex, INDEX_FIELDS))
        replace = (
            " ON CONFLICT (contact_id) DO UPDATE SET terms = EXCLUDED.terms, attributes = EXCLUDED.attributes"
            if self._replacing
            else ""
        )
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {quote(Contact._meta.db_table)} ({contact_columns}) "  # noqa: S608
                f"SELECT {contact_columns} FROM {_TEMP_CONTACTS}"
            )
            cursor.execute(
                f"INSERT INTO {quote(ContactIndex._meta.db_table)} ({index_columns}) "  # noqa: S608
                f"SELECT {index_columns} FROM {_TEMP_INDEX}{replace}"
            )
            cursor.execute(f"TRUNCATE {_TEMP_CONTACTS}, {_TEMP_INDEX}")
        self._staged = self._replacing = False

    # --- Any database -------------------------------------------------------------------------

    def _flush_by_insert(self) -> None:
        quote = self.connection.ops.quote_name
        for model, names, rows, conflict in (
            (Contact, CONTACT_FIELDS, self.contacts, ""),
            (
                ContactIndex,
                INDEX_FIELDS,
                self.index_rows,
                " ON CONFLICT (contact_id) DO UPDATE SET terms = excluded.terms, attributes = excluded.attributes",
            ),
        ):
            if not rows:
                continue
            fields = _columns(model, names)
            columns = ", ".join(quote(field.column) for field in fields)
            placeholders = ", ".join(["%s"] * len(fields))
            params = [
                [field.get_db_prep_save(value, self.connection) for field, value in zip(fields, row, strict=True)]
                for row in rows
            ]
            with self.connection.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders}){conflict}",  # noqa: S608
                    params,
                )
