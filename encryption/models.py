from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from encryption.fields import EncryptedTextField
from encryption.protection import (
    DEFAULT_DENSE_THRESHOLD,
    MAX_DENSE_THRESHOLD,
    MIN_DENSE_THRESHOLD,
    PolicySettings,
    finding_counts,
    rules_from_json,
)
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


class HoldChoice(models.TextChoices):
    QUARANTINE = "quarantine", "Hold for compliance review (quarantine)"
    BLOCK = "block", "Block"
    ALLOW = "allow", "Apply the transport rules only"


class ProtectionPolicy(TenantModel):
    """How the organisation's messages are protected (``encryption.protection``). One row per
    tenant, saved on the first change; until then the defaults below apply."""

    honour_unencrypted_preference = models.BooleanField(
        default=True,
        help_text="Send PHI by ordinary email to a patient who recorded that they accept it, when the "
        "recipient's domain has no verified TLS (their right under HIPAA). Off: such messages go to escrow.",
    )
    escrow_all_phi = models.BooleanField(
        default=False, help_text="Every message with PHI goes through escrow (the secure portal), whatever the TLS."
    )
    require_tls13 = models.BooleanField(
        default=False, help_text="PHI goes over verified TLS only with TLS 1.3; otherwise escrow."
    )
    pii_requires_verified_tls = models.BooleanField(
        default=False,
        help_text="Messages that identify a person without health information are protected like PHI: verified "
        "TLS, or else escrow.",
    )
    dense_threshold = models.PositiveSmallIntegerField(
        default=DEFAULT_DENSE_THRESHOLD,
        validators=[MinValueValidator(MIN_DENSE_THRESHOLD), MaxValueValidator(MAX_DENSE_THRESHOLD)],
        help_text="A message naming this many kinds of identifier (name, date, address, phone, MRN, …) is a "
        "record about a person and goes to escrow.",
    )
    phi_in_marketing = models.CharField(
        max_length=16,
        choices=HoldChoice.choices,
        default=HoldChoice.QUARANTINE,
        help_text="PHI in a marketing message needs the patient's HIPAA authorisation.",
    )
    phi_outside_phi_purposes = models.CharField(
        max_length=16,
        choices=HoldChoice.choices,
        default=HoldChoice.QUARANTINE,
        help_text="PHI in a message whose purpose is not one that may carry PHI (other than marketing).",
    )
    # [{"kind": "finding" | "purpose", "value": "MRN" | "<purpose key>", "action": "escrow"}, ...],
    # validated by encryption.protection.rules_from_json.
    rules = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey("authn.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="encryption_one_protection_policy")]

    def __str__(self) -> str:
        return f"Protection policy of {self.tenant_id}"

    def settings(self) -> PolicySettings:
        return PolicySettings(
            honour_unencrypted_preference=self.honour_unencrypted_preference,
            escrow_all_phi=self.escrow_all_phi,
            require_tls13=self.require_tls13,
            pii_requires_verified_tls=self.pii_requires_verified_tls,
            dense_threshold=self.dense_threshold,
            phi_in_marketing=self.phi_in_marketing,
            phi_outside_phi_purposes=self.phi_outside_phi_purposes,
            rules=rules_from_json(self.rules),
        )


class QuarantineStatus(models.TextChoices):
    HELD = "held", "Held"
    RELEASED = "released", "Released (may be sent)"
    REJECTED = "rejected", "Rejected (not sent)"


class QuarantineSource(models.TextChoices):
    CAMPAIGN = "campaign", "Campaign"
    TRANSACTIONAL = "transactional", "Transactional send"


class QuarantinedMessage(TenantModel):
    """A message the protection policy held for a compliance officer. Subject and bodies are
    envelope-encrypted; the findings are offsets into ``text`` (never the text found), the
    reasons are the policy's PHI-free sentences. Kept if the contact is deleted."""

    contact = models.ForeignKey("segments.Contact", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    source = models.CharField(max_length=16, choices=QuarantineSource.choices, default=QuarantineSource.CAMPAIGN)
    # What sent it, by id (a campaign or message id): the delivery pipeline acts on released items.
    source_ref = models.CharField(max_length=64, blank=True)
    purpose = models.CharField(max_length=64, blank=True)
    subject = EncryptedTextField()
    text = EncryptedTextField()
    html = EncryptedTextField(null=True, blank=True, default=None)
    level = models.CharField(max_length=8)
    findings = models.JSONField(default=list)  # [{"type", "start", "end", "confidence"}]
    reasons = models.JSONField(default=list)  # [{"code", "action", "message"}]
    status = models.CharField(max_length=16, choices=QuarantineStatus.choices, default=QuarantineStatus.HELD)
    decided_by = models.ForeignKey("authn.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    # The officer's note (kept here, not in the audit log); the form asks for no PHI.
    decision_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "status", "created_at"], name="encryption_quarantine_status")]

    def __str__(self) -> str:
        return f"Quarantined message {self.pk} ({self.status})"

    @property
    def finding_types(self) -> list[tuple[str, int]]:
        return finding_counts(self.findings)
