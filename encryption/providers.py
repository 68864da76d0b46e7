"""Key providers: where tenant data keys are wrapped and unwrapped.

Data-encryption keys (DEKs) are stored only wrapped by a provider. ``LocalKeyProvider`` wraps
with a 32-byte master key from a file (AES-256-GCM, the tenant bound in the associated data);
``KmsKeyProvider`` asks AWS KMS (``GenerateDataKey``/``Decrypt``/``ReEncrypt``), with the tenant
in the encryption context, so a wrapped key copied to another tenant does not unwrap. Which one
is used is ``ENCRYPTION_KEY_PROVIDER`` (``local`` or ``kms``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from encryption.keyfile import read_key_file

DATA_KEY_BYTES = 32
_LOCAL_FORMAT = b"L1"  # version byte pair of the local wrapping format
_NONCE_BYTES = 12


class KeyUnavailable(RuntimeError):
    """A key could not be wrapped or unwrapped (wrong tenant, altered, destroyed or provider down).
    The message never contains key material."""


@dataclass(frozen=True)
class GeneratedKey:
    plaintext: bytes
    wrapped: bytes


class KeyProvider(Protocol):
    name: str

    def generate_data_key(self, tenant_id: int) -> GeneratedKey: ...

    def unwrap(self, tenant_id: int, wrapped: bytes) -> bytes: ...

    def rewrap(self, tenant_id: int, wrapped: bytes) -> bytes: ...


def _tenant_context_bytes(tenant_id: int) -> bytes:
    return f"sealpost-data-key|tenant|{tenant_id}".encode()


class LocalKeyProvider:
    name = "local"

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != DATA_KEY_BYTES:
            raise KeyUnavailable("The master key must be 32 bytes.")
        self._aead = AESGCM(master_key)

    def generate_data_key(self, tenant_id: int) -> GeneratedKey:
        plaintext = os.urandom(DATA_KEY_BYTES)
        return GeneratedKey(plaintext, self._wrap(tenant_id, plaintext))

    def _wrap(self, tenant_id: int, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _LOCAL_FORMAT + nonce + self._aead.encrypt(nonce, plaintext, _tenant_context_bytes(tenant_id))

    def unwrap(self, tenant_id: int, wrapped: bytes) -> bytes:
        if not wrapped.startswith(_LOCAL_FORMAT):
            raise KeyUnavailable("This key was not wrapped by the local provider.")
        nonce = wrapped[len(_LOCAL_FORMAT) : len(_LOCAL_FORMAT) + _NONCE_BYTES]
        body = wrapped[len(_LOCAL_FORMAT) + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, _tenant_context_bytes(tenant_id))
        except InvalidTag:
            raise KeyUnavailable("The wrapped key does not belong to this tenant or was altered.") from None

    def rewrap(self, tenant_id: int, wrapped: bytes) -> bytes:
        """Wrap again under a fresh nonce (after the master key file is replaced, the caller
        unwraps with the old provider and wraps with the new one)."""
        return self._wrap(tenant_id, self.unwrap(tenant_id, wrapped))


class KmsKeyProvider:
    name = "kms"

    def __init__(self, key_id: str, client: Any) -> None:
        self.key_id = key_id
        self._client = client

    @staticmethod
    def _context(tenant_id: int) -> dict[str, str]:
        return {"sealpost_tenant": str(tenant_id)}

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response: dict[str, Any] = getattr(self._client, operation)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            raise KeyUnavailable(f"KMS refused {operation}: {code}.") from None
        except BotoCoreError as exc:
            raise KeyUnavailable(f"KMS could not be reached for {operation}: {type(exc).__name__}.") from None
        return response

    def generate_data_key(self, tenant_id: int) -> GeneratedKey:
        response = self._call(
            "generate_data_key", KeyId=self.key_id, KeySpec="AES_256", EncryptionContext=self._context(tenant_id)
        )
        return GeneratedKey(response["Plaintext"], response["CiphertextBlob"])

    def unwrap(self, tenant_id: int, wrapped: bytes) -> bytes:
        response = self._call(
            "decrypt", CiphertextBlob=wrapped, KeyId=self.key_id, EncryptionContext=self._context(tenant_id)
        )
        return bytes(response["Plaintext"])

    def rewrap(self, tenant_id: int, wrapped: bytes) -> bytes:
        context = self._context(tenant_id)
        response = self._call(
            "re_encrypt",
            CiphertextBlob=wrapped,
            SourceEncryptionContext=context,
            DestinationKeyId=self.key_id,
            DestinationEncryptionContext=context,
        )
        return bytes(response["CiphertextBlob"])


@lru_cache(maxsize=1)
def get_key_provider() -> KeyProvider:
    """The configured provider (one per process)."""
    if settings.ENCRYPTION_KEY_PROVIDER == "kms":
        import boto3

        client = boto3.client("kms", region_name=settings.AWS_REGION)
        return KmsKeyProvider(settings.KMS_KEY_ID, client)
    return LocalKeyProvider(read_key_file(settings.MASTER_KEY_FILE))
