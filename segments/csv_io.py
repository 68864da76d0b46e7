"""Streaming CSV for contact imports and exports.

- Uploaded files hold PHI, so they are stored only encrypted (``encryption.sealed_files``):
  AES-256-GCM under the tenant's data key, in chunks of ``CHUNK_BYTES``, each bound (associated
  data) to the tenant, the import id, its position and whether it is the last chunk, so chunks
  cannot be reordered, swapped between imports or cut off without decryption failing. The file
  lives under ``SEALPOST_VAR_DIR/imports`` and is deleted when the import ends.
- Reading decodes UTF-8 (a byte-order mark is dropped) incrementally and yields rows one at a
  time: memory stays bounded whatever the file's size.
- Writing escapes cells a spreadsheet would run as formulas (audit's ``spreadsheet_safe``).

Error messages describe the problem and never quote the file's content (it is PHI).
"""

from __future__ import annotations

import codecs
import csv
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

from audit.exports import spreadsheet_safe
from encryption.sealed_files import SealedFileKind, SealedFileWriter, Unreadable, sealed_chunks, sealed_delete
from tenants.models import Organisation

CHUNK_BYTES = 1024 * 1024
MAX_FIELD_CHARS = 10_000
MAX_COLUMNS = 200


class CsvFormatError(ValueError):
    """The file cannot be read as a CSV of contacts; the message says why (never quoting it)."""


class UploadTooLarge(CsvFormatError):
    pass


def max_upload_bytes() -> int:
    return int(getattr(settings, "CONTACT_IMPORT_MAX_BYTES", 200 * 1024 * 1024))


def too_large_message(limit: int) -> str:
    return f"The file is larger than the {limit // (1024 * 1024)} MB limit for an import; split it into smaller files."


# --- Encrypted storage of an uploaded file --------------------------------------------------------


_UPLOADS = SealedFileKind(folder="imports", table="segments_contactimport", field="upload", chunk_bytes=CHUNK_BYTES)


def upload_path(tenant: Organisation, import_id: uuid.UUID | str) -> Path:
    return _UPLOADS.path(tenant, import_id)


class UploadWriter(SealedFileWriter):
    """Encrypts an upload to the import's file as its bytes arrive (``encryption.sealed_files``).
    ``finish`` moves it into place; ``abort`` (or any error, such as passing ``limit``) keeps
    nothing."""

    def __init__(self, *, tenant: Organisation, import_id: uuid.UUID | str, limit: int | None = None) -> None:
        super().__init__(kind=_UPLOADS, tenant=tenant, file_id=import_id)
        self.import_id = import_id
        self.limit = max_upload_bytes() if limit is None else limit

    def write(self, data: bytes) -> None:
        if self.total + len(data) > self.limit:
            self.abort()
            raise UploadTooLarge(too_large_message(self.limit))
        super().write(data)

    def finish(self) -> int:
        """Returns the plaintext size."""
        if self.total == 0:
            self.abort()
            raise CsvFormatError("The file is empty (0 bytes).")
        return super().finish()


def upload_store(
    *, tenant: Organisation, import_id: uuid.UUID | str, chunks: Iterable[bytes], limit: int | None = None
) -> int:
    """Encrypts ``chunks`` to the import's file; returns the plaintext size. Raises
    ``UploadTooLarge`` (and keeps nothing) past ``limit`` bytes, ``CsvFormatError`` for 0 bytes."""
    writer = UploadWriter(tenant=tenant, import_id=import_id, limit=limit)
    try:
        for chunk in chunks:
            writer.write(chunk)
    except BaseException:
        writer.abort()
        raise
    return writer.finish()


_UNREADABLE = Unreadable(
    CsvFormatError,
    missing="The uploaded file is no longer stored; upload it again.",
    incomplete="The stored file is incomplete; upload it again.",
    undecryptable="The stored file could not be decrypted; upload it again.",
)


def upload_chunks(*, tenant: Organisation, import_id: uuid.UUID | str) -> Iterator[bytes]:
    """The decrypted file, chunk by chunk. A missing, altered or truncated file raises
    ``CsvFormatError``."""
    return sealed_chunks(kind=_UPLOADS, tenant=tenant, file_id=import_id, unreadable=_UNREADABLE)


def upload_delete(*, tenant: Organisation, import_id: uuid.UUID | str) -> None:
    sealed_delete(kind=_UPLOADS, tenant=tenant, file_id=import_id)


# --- Reading ------------------------------------------------------------------------------------


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    pending = ""
    first = True
    try:
        for chunk in chunks:
            text = decoder.decode(chunk)
            if first and text:
                text = text.removeprefix("\ufeff")
                first = False
            if "\x00" in text:
                raise CsvFormatError("The file contains NUL bytes; it is not a text CSV.")
            pending += text
            lines = pending.splitlines(keepends=True)
            # The last piece may be an incomplete line (or a CR whose LF is in the next chunk).
            pending = lines.pop() if lines else ""
            yield from lines
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        raise CsvFormatError(
            "The file is not UTF-8 text. Save it as \u201cCSV UTF-8\u201d in your spreadsheet and upload it again."
        ) from error
    if pending:
        yield pending


def csv_rows(chunks: Iterable[bytes]) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) for every record, the header being row 1. ``CsvFormatError`` for a
    file that is not UTF-8, has a NUL byte, or a field over ``MAX_FIELD_CHARS`` characters."""
    previous = csv.field_size_limit()
    csv.field_size_limit(MAX_FIELD_CHARS)
    reader = csv.reader(_lines(chunks), strict=False)
    number = 0
    try:
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                text = str(error)
                if "field larger" in text:
                    message = f"Row {number + 1}: a field is longer than {MAX_FIELD_CHARS} characters."
                elif "NUL" in text:
                    message = f"Row {number + 1}: the file contains NUL bytes; it is not a text CSV."
                else:
                    message = f"Row {number + 1}: the CSV is malformed."
                raise CsvFormatError(message) from None
            number += 1
            if not row:
                continue  # blank lines carry no contact
            yield number, row
    finally:
        csv.field_size_limit(previous)


def header_of(chunks: Iterable[bytes]) -> list[str]:
    """The header row, checked: present, at most ``MAX_COLUMNS`` columns, names unique and
    not blank."""
    for _number, row in csv_rows(chunks):
        return check_header(row)
    raise CsvFormatError("The file has no header row.")


def check_header(row: Sequence[str]) -> list[str]:
    names = [name.strip() for name in row]
    if len(names) > MAX_COLUMNS:
        raise CsvFormatError(f"The file has more than {MAX_COLUMNS} columns.")
    if any(not name for name in names):
        raise CsvFormatError("The header row (row 1) has a column without a name.")
    if len({name.casefold() for name in names}) != len(names):
        raise CsvFormatError("The header row (row 1) names a column twice.")
    if any(len(name) > 100 for name in names):
        raise CsvFormatError("A column name in the header row is longer than 100 characters.")
    return names


# --- Writing ------------------------------------------------------------------------------------


class _Line:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)


def csv_text(rows: Iterable[Sequence[Any]]) -> str:
    """Rows as CSV text, every cell escaped against formula injection."""
    line = _Line()
    writer = csv.writer(line)
    writer.writerows([spreadsheet_safe(cell) for cell in row] for row in rows)
    return line.text


# --- Refusing an oversized upload before reading it ---------------------------------------------


class UploadLimitHandler(FileUploadHandler):
    """First of ``FILE_UPLOAD_HANDLERS``: a request body declared larger than
    ``CONTACT_IMPORT_MAX_BYTES`` (plus room for the form's other fields) stops the multipart
    parser at its first file, before the file is read or spooled to disk. The CSRF token field
    precedes the file in our forms, so the view still runs and says why (``body_too_large``)."""

    def handle_raw_input(
        self, input_data: Any, META: dict[str, Any], content_length: int, boundary: Any, encoding: Any = None
    ) -> None:
        self.too_large = content_length > max_upload_bytes() + FORM_ROOM_BYTES

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        if getattr(self, "too_large", False):
            raise StopUpload(connection_reset=True)
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


FORM_ROOM_BYTES = 64 * 1024


def body_too_large(meta: dict[str, Any]) -> bool:
    try:
        length = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return length > max_upload_bytes() + FORM_ROOM_BYTES
