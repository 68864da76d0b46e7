"""Report export files, encrypted at rest.

The same scheme as stored contact imports (``segments.csv_io``): AES-256-GCM under the
organisation's data key, in chunks, each bound (associated data) to the tenant, the export's
id, its position and whether it is the last chunk, so chunks cannot be reordered, swapped
between exports or cut off without decryption failing. Files live under
``SEALPOST_VAR_DIR/exports/<tenant id>/<export id>.enc``; a half-written file is a ``.part``
that is never served.
"""

from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings

from encryption.aead import DecryptionFailed, FieldContext, decrypt_bytes, encrypt_bytes
from encryption.providers import KeyUnavailable
from tenants.context import tenant_context
from tenants.models import Organisation

CHUNK_BYTES = 256 * 1024
_LENGTH = struct.Struct(">I")
_TABLE = "reporting_reportexport"


class ExportFileError(RuntimeError):
    """The stored file is missing, incomplete, altered or undecryptable (no content quoted)."""


def export_path(tenant: Organisation, export_id: uuid.UUID | str) -> Path:
    return Path(settings.VAR_DIR) / "exports" / str(tenant.pk) / f"{uuid.UUID(str(export_id))}.enc"


def _context(export_id: uuid.UUID | str, index: int, last: bool) -> FieldContext:
    return FieldContext(_TABLE, "file", f"{export_id}:{index}:{'last' if last else 'more'}")


class ExportWriter:
    """Encrypts text as it is written, ``CHUNK_BYTES`` at a time. ``finish`` moves the file
    into place and returns its plaintext size; ``abort`` keeps nothing. Encryption needs the
    tenant's keys: call ``write``/``finish`` inside the tenant's context."""

    def __init__(self, *, tenant: Organisation, export_id: uuid.UUID | str) -> None:
        self.tenant = tenant
        self.export_id = export_id
        self.path = export_path(tenant, export_id)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = self.path.with_suffix(".part")
        self._out: Any = open(self._partial, "wb")  # noqa: SIM115 - closed by finish or abort
        self._buffer = bytearray()
        self._pending: bytes | None = None
        self._index = 0
        self.total = 0

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        self.total += len(data)
        self._buffer += data
        while len(self._buffer) >= CHUNK_BYTES:
            self._push(bytes(self._buffer[:CHUNK_BYTES]))
            del self._buffer[:CHUNK_BYTES]

    def _push(self, chunk: bytes) -> None:
        if self._pending is not None:
            self._seal(self._pending, last=False)
            self._index += 1
        self._pending = chunk

    def _seal(self, data: bytes, *, last: bool) -> None:
        sealed = encrypt_bytes(self.tenant, _context(self.export_id, self._index, last), data)
        self._out.write(_LENGTH.pack(len(sealed)))
        self._out.write(sealed)

    def finish(self) -> int:
        try:
            if self._buffer or self._pending is None:
                self._push(bytes(self._buffer))  # an empty report is still one (empty) chunk
                self._buffer.clear()
            self._seal(self._pending or b"", last=True)
            self._out.close()
            os.replace(self._partial, self.path)
        except BaseException:
            self.abort()
            raise
        return self.total

    def abort(self) -> None:
        self._buffer.clear()
        self._out.close()
        self._partial.unlink(missing_ok=True)


def export_chunks(*, tenant: Organisation, export_id: uuid.UUID | str) -> Iterator[bytes]:
    """The decrypted file, chunk by chunk (each decrypted in a short tenant context of its own,
    so a streamed download needs no open transaction). ``ExportFileError`` for a missing,
    altered or truncated file."""
    path = export_path(tenant, export_id)
    if not path.exists():
        raise ExportFileError("The export's file is no longer stored.")
    with open(path, "rb") as source:
        index = 0
        while True:
            header = source.read(_LENGTH.size)
            if len(header) < _LENGTH.size:
                raise ExportFileError("The export's file is incomplete.")
            (length,) = _LENGTH.unpack(header)
            sealed = source.read(length)
            last = not source.peek(1)
            try:
                with tenant_context(tenant):
                    data = decrypt_bytes(tenant, _context(export_id, index, last), sealed)
            except (DecryptionFailed, KeyUnavailable) as error:
                raise ExportFileError("The export's file could not be decrypted.") from error
            yield data
            if last:
                return
            index += 1


def export_delete(*, tenant: Organisation, export_id: uuid.UUID | str) -> None:
    path = export_path(tenant, export_id)
    path.unlink(missing_ok=True)
    path.with_suffix(".part").unlink(missing_ok=True)
