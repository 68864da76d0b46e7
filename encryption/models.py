from __future__ import annotations

from django.db import models

from tenants.managers import TenantModel


class KeyPurpose(models.TextChoices):
    DATA = "data", "Data encryption"
    INDEX = "index", "Blind index"


class KeyStatus(models.TextChoices):
    ACTIVE = "active", "Active (encrypts new data)"
    RETIRED = "retired", "Retired (decrypts old data only)"
    DESTROYED = "destroyed", "Destroyed"


class TenantKey(TenantModel):
    """One version of a tenant's data-encryption or blind-index key, stored only wrapped by the
    key provider. At most one active version per (tenant, purpose)."""

    purpose = models.CharField(max_length=8, choices=KeyPurpose.choices)
    version = models.PositiveIntegerField()
    wrapped_key = models.BinaryField()
    provider = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=KeyStatus.choices, default=KeyStatus.ACTIVE)
    # Encryptions reserved under this version, in blocks; a new version is made well before
    # AES-GCM's 2^32 random-nonce limit is approached.
    uses_reserved = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "purpose", "version"], name="tenant_key_unique_version"),
            models.UniqueConstraint(
                fields=["tenant", "purpose"],
                condition=models.Q(status="active"),
                name="tenant_key_one_active_per_purpose",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} key v{self.version} ({self.status})"
