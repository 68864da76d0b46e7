"""Encrypted model fields and blind indexes.

``EncryptedTextField`` stores AES-256-GCM ciphertext (``encryption.aead``) bound to the row's
tenant, table, field and primary key; reading the attribute decrypts (inside the tenant's
``tenant_context``), assigning stores plaintext in memory only, and every save encrypts with the
tenant's active key. ``BlindIndexField`` keeps an HMAC of another field's value for exact-match
lookups and uniqueness without decrypting.

The model needs a ``tenant`` and a primary key assigned before saving (``TenantModel`` has both).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

from tenants.context import TenantMismatch, require_current_tenant

if TYPE_CHECKING:
    from encryption.aead import FieldContext

# The crypto core (aead, blind_index, keyring) is imported where it is used: it needs
# ``encryption.models``, which itself has models with encrypted fields.


class StoredCiphertext(bytes):
    """A value as it came from the database: still encrypted."""


def _tenant_of(instance: models.Model) -> Any:
    """The active tenant, which must own the row (no query: the row's tenant is not fetched)."""
    tenant = require_current_tenant()
    if tenant.pk != instance.tenant_id:  # type: ignore[attr-defined]
        raise TenantMismatch("An encrypted field was used outside its tenant's context.")
    return tenant


def _context(instance: models.Model, field_name: str) -> FieldContext:
    from encryption.aead import FieldContext

    return FieldContext(instance._meta.db_table, field_name, str(instance.pk))


class _EncryptedAttribute:
    def __init__(self, field: EncryptedTextField) -> None:
        self.field = field

    def __get__(self, instance: models.Model | None, owner: type) -> Any:
        if instance is None:
            return self
        value = instance.__dict__.get(self.field.attname)
        if isinstance(value, StoredCiphertext):
            from encryption.aead import decrypt_text

            value = decrypt_text(_tenant_of(instance), _context(instance, self.field.name), bytes(value))  # type: ignore[attr-defined]
            instance.__dict__[self.field.attname] = value
        return value

    def __set__(self, instance: models.Model, value: Any) -> None:
        if value is not None and not isinstance(value, StoredCiphertext | str):
            value = str(value)
        instance.__dict__[self.field.attname] = value


class EncryptedTextField(models.BinaryField):
    """Text encrypted in the application; the database only ever sees ciphertext."""

    # For django-stubs: the attribute reads and takes text, whatever the column holds.
    _pyi_private_set_type: str
    _pyi_private_get_type: str  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("editable", True)
        super().__init__(*args, **kwargs)

    def contribute_to_class(self, cls: type[models.Model], name: str, private_only: bool = False) -> None:
        super().contribute_to_class(cls, name, private_only)
        setattr(cls, self.attname, _EncryptedAttribute(self))

    def _check_str_default_value(self) -> list[Any]:
        # The default is plaintext; it is encrypted like any other value on save.
        return []

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> StoredCiphertext | None:
        return None if value is None else StoredCiphertext(bytes(value))

    def pre_save(self, model_instance: models.Model, add: bool) -> bytes | None:
        value = model_instance.__dict__.get(self.attname)
        if value is None:
            return None
        if isinstance(value, StoredCiphertext):
            return bytes(value)
        from encryption.aead import encrypt_text

        return encrypt_text(_tenant_of(model_instance), _context(model_instance, self.name), value)  # type: ignore[attr-defined]

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        # Text here is plaintext that skipped pre_save (bulk_update, QuerySet.update, a filter
        # on the value): refuse it rather than store or send it as it is.
        if isinstance(value, str):
            raise TypeError(
                "Plaintext reached the database for an encrypted field; save() the instance, or "
                "encrypt first (encryption.aead.encrypt_text) and pass the ciphertext."
            )
        if isinstance(value, StoredCiphertext):
            value = bytes(value)
        return super().get_db_prep_value(value, connection, prepared)

    def to_python(self, value: Any) -> Any:
        return value

    def value_to_string(self, obj: models.Model) -> str:
        raise TypeError("Encrypted fields are not serialised.")


class BlindIndexField(models.CharField):
    """HMAC of ``source``'s normalised plaintext, under the tenant's index key."""

    def __init__(self, *args: Any, source: str, **kwargs: Any) -> None:
        self.source = source
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("db_index", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[Any, Any, Any, Any]:
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        return name, path, args, kwargs

    def index_name(self, model: type[models.Model]) -> str:
        return f"{model._meta.db_table}.{self.source}"

    def pre_save(self, model_instance: models.Model, add: bool) -> str:
        plaintext = model_instance.__dict__.get(self.source)
        if isinstance(plaintext, str):
            from encryption.blind_index import blind_index

            value = blind_index(_tenant_of(model_instance), self.index_name(type(model_instance)), plaintext)  # type: ignore[attr-defined]
            setattr(model_instance, self.attname, value)
            return value
        return str(getattr(model_instance, self.attname) or "")


def blind_index_for(model: type[models.Model], field_name: str, tenant: Any, value: str) -> str:
    """The index value to look up ``value`` in ``model.field_name`` (a BlindIndexField)."""
    field = model._meta.get_field(field_name)
    if not isinstance(field, BlindIndexField):
        raise TypeError(f"{model.__name__}.{field_name} is not a blind index.")
    from encryption.blind_index import blind_index

    return blind_index(tenant, field.index_name(model), value)


def stored_key_version(value: Any) -> int | None:
    """The data-key version a stored ciphertext was made with (without decrypting)."""
    if isinstance(value, StoredCiphertext):
        from encryption.aead import key_version_of

        return key_version_of(bytes(value))
    return None
