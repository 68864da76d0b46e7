"""An upload handler that encrypts a contact-import file as it arrives.

Django's default handlers keep a small upload in memory and write a larger one to a temporary
file on disk, in plaintext: a patient list would sit unencrypted in /tmp for as long as the
request lasts, or longer if the process died. The import views install this handler instead
(``use_encrypting_upload``): each chunk of the ``file`` field goes straight into the import's
encrypted file (``segments.csv_io.UploadWriter``). Other file fields are refused.
"""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest

from sealpost.ids import uuid7
from segments.csv_io import CsvFormatError, UploadWriter, upload_delete
from tenants.context import require_current_tenant
from tenants.models import Organisation

FILE_FIELD = "file"


class StoredUpload(UploadedFile):
    """The upload, already encrypted to the import's file: only its id, name and size."""

    def __init__(self, *, import_id: Any, name: str, size: int) -> None:
        super().__init__(file=None, name=name, content_type="text/csv", size=size, charset=None)
        self.import_id = import_id

    def chunks(self, chunk_size: int | None = None) -> Any:
        raise TypeError("The upload is stored encrypted; read it with segments.csv_io.upload_chunks.")


class EncryptingUploadHandler(FileUploadHandler):
    chunk_size = 64 * 1024

    def __init__(self, request: HttpRequest) -> None:
        super().__init__(request)
        self.tenant: Organisation | None = None
        self.writer: UploadWriter | None = None
        self.error: CsvFormatError | None = None

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        if field_name != FILE_FIELD or self.writer is not None:
            raise StopUpload(connection_reset=False)
        # The organisation the request runs as: known by now for a session and, for an API
        # token, once authentication has run (the API parses the body after it).
        self.tenant = require_current_tenant()
        self.writer = UploadWriter(tenant=self.tenant, import_id=uuid7())

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        assert self.writer is not None  # noqa: S101 - new_file always comes first
        try:
            self.writer.write(raw_data)
        except CsvFormatError as error:  # too large: nothing is kept
            self.error = error
            raise StopUpload(connection_reset=False) from error
        return None

    def file_complete(self, file_size: int) -> StoredUpload | None:
        assert self.writer is not None  # noqa: S101
        try:
            size = self.writer.finish()
        except CsvFormatError as error:  # empty
            self.error = error
            return None
        return StoredUpload(import_id=self.writer.import_id, name=self.file_name or "upload.csv", size=size)

    def upload_interrupted(self) -> None:
        if self.writer is not None:
            self.writer.abort()


def use_encrypting_upload(request: HttpRequest) -> EncryptingUploadHandler:
    """Installs the handler (before anything reads the body) and returns it."""
    handler = EncryptingUploadHandler(request)
    request.upload_handlers = [handler]
    return handler


def discard_stored_upload(request: HttpRequest) -> None:
    """Deletes an upload the handler stored for a request that then failed (nothing else will:
    no import refers to it). Does nothing before the body was parsed."""
    files = getattr(request, "_files", None)
    upload = files.get(FILE_FIELD) if files is not None else None
    handler = next((h for h in request.upload_handlers if isinstance(h, EncryptingUploadHandler)), None)
    if isinstance(upload, StoredUpload) and handler is not None and handler.tenant is not None:
        upload_delete(tenant=handler.tenant, import_id=upload.import_id)
