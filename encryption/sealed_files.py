"""Files encrypted at rest in chunks: stored contact-import uploads (``segments.csv_io``) and
report exports (``reporting.export_files``).

A file is a sequence of records ``length (4 bytes, big-endian) | sealed chunk``. Each chunk is
``encryption.aead.encrypt_bytes`` under the organisation's data key, bound (associated data) to
the tenant, the file's id, its position and whether it is the last chunk
(``<table>.<field>`` of row ``<id>:<index>:last|more``), so chunks cannot be reordered, swapped
between files or cut off without decryption failing. Plaintext is only ever held in memory, a
chunk at a time. A file being written is a ``.part`` beside its final name, moved into place
when complete, so a half-written file is never read.

What differs between users is a ``SealedFileKind`` (the folder, the context's table and field,
the chunk size) and an ``Unreadable`` (the error a reader raises, and its messages). Changing a
kind's ``table`` or ``field`` makes every file already stored under it unreadable.
"""

from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from django.conf import settings

from encryption.aead import DecryptionFailed, FieldContext, decrypt_bytes, encrypt_bytes
from encryption.providers import KeyUnavailable
from tenants.context import tenant_context
from tenants.models import Organisation

_LENGTH = struct.Struct(">I")


@dataclass(frozen=True)
class SealedFileKind:
    folder: str  # under SEALPOST_VAR_DIR; files are <folder>/<tenant id>/<file id>.enc
    table: str  # associated data: fixed for the life of the stored files
    field: str
    chunk_bytes: int

    def path(self, tenant: Organisation, file_id: uuid.UUID | str) -> Path:
        return Path(settings.VAR_DIR) / self.folder / str(tenant.pk) / f"{uuid.UUID(str(file_id))}.enc"

    def context(self, file_id: uuid.UUID | str, index: int, last: bool) -> FieldContext:
        return FieldContext(self.table, self.field, f"{file_id}:{index}:{'last' if last else 'more'}")


class Unreadable(NamedTuple):
    """The error ``sealed_chunks`` raises for a file it cannot read, and its messages (the
    caller's own; they never quote the content)."""

    error: type[Exception]
    missing: str
    incomplete: str
    undecryptable: str


class SealedFileWriter:
    """Encrypts bytes to a file as they arrive, ``kind.chunk_bytes`` at a time (the last chunk
    marked as such; an empty file is one empty chunk). ``finish`` moves the file into place and
    returns its plaintext size; ``abort`` (or any error) keeps nothing. Encryption needs the
    tenant's keys: write and finish inside the tenant's context."""

    def __init__(self, *, kind: SealedFileKind, tenant: Organisation, file_id: uuid.UUID | str) -> None:
        self.kind = kind
        self.tenant = tenant
        self.file_id = file_id
        self.path = kind.path(tenant, file_id)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = self.path.with_suffix(".part")
        self._out: Any = open(self._partial, "wb")  # noqa: SIM115 - closed by finish or abort
        self._buffer = bytearray()
        self._pending: bytes | None = None
        self._index = 0
        self.total = 0

    def write(self, data: bytes) -> None:
        try:
            self.total += len(data)
            self._buffer += data
            size = self.kind.chunk_bytes
            while len(self._buffer) >= size:
                self._push(bytes(self._buffer[:size]))
                del self._buffer[:size]
        except BaseException:
            self.abort()
            raise

    def _push(self, chunk: bytes) -> None:
        # A chunk is sealed once the next one exists: only then is it known not to be the last.
        if self._pending is not None:
            self._seal(self._pending, last=False)
            self._index += 1
        self._pending = chunk

    def _seal(self, data: bytes, *, last: bool) -> None:
        sealed = encrypt_bytes(self.tenant, self.kind.context(self.file_id, self._index, last), data)
        self._out.write(_LENGTH.pack(len(sealed)))
        self._out.write(sealed)

    def finish(self) -> int:
        try:
            if self._buffer or self._pending is None:
                self._push(bytes(self._buffer))
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


def sealed_chunks(
    *, kind: SealedFileKind, tenant: Organisation, file_id: uuid.UUID | str, unreadable: Unreadable
) -> Iterator[bytes]:
    """The decrypted file, chunk by chunk, each decrypted in a short tenant context of its own
    (a task or a streamed download reads it outside any transaction). ``unreadable.error`` for
    a missing, altered or truncated file."""
    path = kind.path(tenant, file_id)
    if not path.exists():
        raise unreadable.error(unreadable.missing)
    with open(path, "rb") as source:
        index = 0
        while True:
            header = source.read(_LENGTH.size)
            if len(header) < _LENGTH.size:
                raise unreadable.error(unreadable.incomplete)
            (length,) = _LENGTH.unpack(header)
            sealed = source.read(length)
            last = not source.peek(1)
            try:
                with tenant_context(tenant):
                    data = decrypt_bytes(tenant, kind.context(file_id, index, last), sealed)
            except (DecryptionFailed, KeyUnavailable) as error:
                raise unreadable.error(unreadable.undecryptable) from error
            yield data
            if last:
                return
            index += 1


def sealed_delete(*, kind: SealedFileKind, tenant: Organisation, file_id: uuid.UUID | str) -> None:
    path = kind.path(tenant, file_id)
    path.unlink(missing_ok=True)
    path.with_suffix(".part").unlink(missing_ok=True)
