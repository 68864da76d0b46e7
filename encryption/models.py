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


# --- Escrow: messages held encrypted for pickup in the recipient portal (encryption.escrow) ---------

DEFAULT_ESCROW_DAYS = 30
MAX_ESCROW_DAYS = 365
DEFAULT_NOTICE_SUBJECT = "You have a secure message"
DEFAULT_BRAND_COLOUR = "#0b6e69"


class EscrowSettings(TenantModel):
    """The organisation's escrow settings (one row, created on first use with the defaults):
    how long messages stay, the notice's neutral subject, whether recipients confirm a shared
    secret (a contact field or attribute they know, such as a date of birth) after the code,
    whether returning recipients may use passkeys, and the portal's branding."""

    expiry_days = models.PositiveSmallIntegerField(
        default=DEFAULT_ESCROW_DAYS, validators=[MinValueValidator(1), MaxValueValidator(MAX_ESCROW_DAYS)]
    )
    notice_subject = models.CharField(max_length=150, default=DEFAULT_NOTICE_SUBJECT)
    # "" (no shared secret) or a merge-field-style name: "contact.birth_date", "attributes.<key>".
    shared_secret_field = models.CharField(max_length=80, blank=True)
    shared_secret_prompt = models.CharField(max_length=150, blank=True)
    allow_passkeys = models.BooleanField(default=True)
    brand_colour = models.CharField(max_length=7, default=DEFAULT_BRAND_COLOUR)
    logo = models.BinaryField(null=True, blank=True, editable=True)  # PNG or JPEG, small; served by the portal
    logo_type = models.CharField(max_length=20, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey("authn.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="encryption_escrow_settings_per_tenant")]

    def __str__(self) -> str:
        return f"Escrow settings of {self.tenant_id}"


class EscrowStatus(models.TextChoices):
    ACTIVE = "active", "Waiting for pickup"
    EXPIRED = "expired", "Expired (content deleted)"
    RETRACTED = "retracted", "Retracted by the sender (content deleted)"


class EscrowedMessage(TenantModel):
    """A message held encrypted for its recipient instead of being mailed. The recipient gets a
    notice without PHI carrying a link token (only its SHA-256 is stored) and reads the message
    in the portal after proving they hold the address. At expiry or retraction the content is
    deleted; the row (who, when, what happened) and the audit log remain."""

    contact = models.ForeignKey("segments.Contact", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    message = models.ForeignKey("campaigns.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    recipient_email = EncryptedTextField()  # where one-time codes go
    from_name = models.CharField(max_length=100)
    from_address = models.EmailField(max_length=254)  # a verified sending domain's: notices and codes come from it
    subject = EncryptedTextField(null=True, blank=True, default=None)  # None once the content is deleted
    html = EncryptedTextField(null=True, blank=True, default=None)
    text = EncryptedTextField(null=True, blank=True, default=None)
    level = models.CharField(max_length=8, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=10, choices=EscrowStatus.choices, default=EscrowStatus.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    notice_sent_at = models.DateTimeField(null=True, blank=True)
    first_opened_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    retracted_at = models.DateTimeField(null=True, blank=True)
    retracted_by = models.ForeignKey("authn.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    content_deleted_at = models.DateTimeField(null=True, blank=True)
    # Wrong codes and wrong shared-secret answers in a row; at the limit the message locks.
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    locked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["tenant", "status", "expires_at"], name="encryption_escrow_due"),
            models.Index(fields=["tenant", "contact", "-created_at"], name="encryption_escrow_contact"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["message"], condition=models.Q(message__isnull=False), name="encryption_escrow_once_per_message"
            )
        ]

    def __str__(self) -> str:
        return f"Escrowed message {self.pk} ({self.status})"


class EscrowCode(TenantModel):
    """A one-time code sent to the escrowed message's address (only its keyed hash is kept)."""

    escrow = models.ForeignKey(EscrowedMessage, on_delete=models.CASCADE, related_name="+")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "escrow", "-created_at"], name="encryption_escrow_code_recent")]


class EscrowAccessMethod(models.TextChoices):
    CODE = "code", "One-time code"
    PASSKEY = "passkey", "Passkey"


class EscrowAccess(TenantModel):
    """Proof that one browser may read one escrowed message: the browser's portal cookie (only
    its hash is kept) and how it proved it. Another browser has to prove it again."""

    escrow = models.ForeignKey(EscrowedMessage, on_delete=models.CASCADE, related_name="+")
    browser_hash = models.CharField(max_length=64)
    method = models.CharField(max_length=10, choices=EscrowAccessMethod.choices)
    # A code proves the address; with a shared secret configured the browser must answer it too.
    secret_confirmed = models.BooleanField(default=False)
    granted_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["tenant", "escrow", "browser_hash"], name="encryption_escrow_access")]


class EscrowReply(TenantModel):
    """A recipient's secure reply from the portal, encrypted; the organisation is told (without
    PHI) and reads it in Sealpost; it shows in the contact's history."""

    escrow = models.ForeignKey(EscrowedMessage, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey("segments.Contact", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    body = EncryptedTextField()
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    read_by = models.ForeignKey("authn.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "read_at", "-created_at"], name="encryption_escrow_reply_unread")]


class RecipientPasskey(TenantModel):
    """A passkey a returning recipient registered in the portal, bound to their address (by its
    blind index, never the address) within this organisation."""

    recipient_index = models.CharField(max_length=64)
    credential_id = models.CharField(max_length=400)  # base64url
    public_key = models.BinaryField()
    sign_count = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "credential_id"], name="encryption_recipient_passkey_unique")
        ]
        indexes = [models.Index(fields=["tenant", "recipient_index"], name="encryption_recipient_passkeys")]
