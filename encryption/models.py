from __future__ import annotations

from django.db import models

from tenants.managers import TenantModel


class KeyPurpose(models.TextChoices):
    DATA = "data", "Data encryption"
    INDEX = "index", "Blind index"


class KeyStatus(models.TextChoices):
    ACTIVE = "active", "Active (encrypts new data)"
    RETIRED = "retired", "Retired (decrypts older data)"
    SUPERSEDED = "superseded", "Superseded (no data uses it; key material erased)"
    DESTROYED = "destroyed", "Destroyed (crypto-shredded)"


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


class RotationStatus(models.TextChoices):
    RUNNING = "running", "Running"
    DONE = "done", "Done"


class KeyRotation(TenantModel):
    """Re-encryption of a tenant's data under a new data-key version, in batches, with progress."""

    from_version = models.PositiveIntegerField()
    to_version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=RotationStatus.choices, default=RotationStatus.RUNNING)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    rows_reencrypted = models.PositiveIntegerField(default=0)
    # Keyset position per model: {"segments.contact": "<last primary key>"}
    cursor = models.JSONField(default=dict)
    started_by = models.ForeignKey("authn.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"rotation v{self.from_version}→v{self.to_version} ({self.status})"

    @property
    def percent(self) -> int:
        return 100 if not self.rows_total else min(100, self.rows_done * 100 // self.rows_total)
