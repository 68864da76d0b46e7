"""Report export files, encrypted at rest.

The same format as stored contact imports (``encryption.sealed_files``): AES-256-GCM under the
organisation's data key, in chunks, each bound (associated data) to the tenant, the export's
id, its position and whether it is the last chunk, so chunks cannot be reordered, swapped
between exports or cut off without decryption failing. Files live under
``SEALPOST_VAR_DIR/exports/<tenant id>/<export id>.enc``; a half-written file is a ``.part``
that is never served.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

from encryption.sealed_files import SealedFileKind, SealedFileWriter, Unreadable, sealed_chunks, sealed_delete
from tenants.models import Organisation

CHUNK_BYTES = 256 * 1024


class ExportFileError(RuntimeError):
    """The stored file is missing, incomplete, altered or undecryptable (no content quoted)."""


_EXPORTS = SealedFileKind(folder="exports", table="reporting_reportexport", field="file", chunk_bytes=CHUNK_BYTES)


def export_path(tenant: Organisation, export_id: uuid.UUID | str) -> Path:
    return _EXPORTS.path(tenant, export_id)


class ExportWriter:
    """Encrypts text as it is written, ``CHUNK_BYTES`` at a time. ``finish`` moves the file
    into place and returns its plaintext size (an empty report is one empty chunk); ``abort``
    keeps nothing. Encryption needs the tenant's keys: call ``write``/``finish`` inside the
    tenant's context."""

    def __init__(self, *, tenant: Organisation, export_id: uuid.UUID | str) -> None:
        self.tenant = tenant
        self.export_id = export_id
        self._file = SealedFileWriter(kind=_EXPORTS, tenant=tenant, file_id=export_id)
        self.path = self._file.path

    @property
    def total(self) -> int:
        return self._file.total

    def write(self, text: str) -> None:
        self._file.write(text.encode("utf-8"))

    def finish(self) -> int:
        return self._file.finish()

    def abort(self) -> None:
        self._file.abort()


_UNREADABLE = Unreadable(
    ExportFileError,
    missing="The export's file is no longer stored.",
    incomplete="The export's file is incomplete.",
    undecryptable="The export's file could not be decrypted.",
)


def export_chunks(*, tenant: Organisation, export_id: uuid.UUID | str) -> Iterator[bytes]:
    """The decrypted file, chunk by chunk (each decrypted in a short tenant context of its own,
    so a streamed download needs no open transaction). ``ExportFileError`` for a missing,
    altered or truncated file."""
    return sealed_chunks(kind=_EXPORTS, tenant=tenant, file_id=export_id, unreadable=_UNREADABLE)


def export_delete(*, tenant: Organisation, export_id: uuid.UUID | str) -> None:
    sealed_delete(kind=_EXPORTS, tenant=tenant, file_id=export_id)
