"""Business associate agreements: the text Sealpost offers (global, versioned, immutable), each
organisation's agreements with their e-signatures and dates, and its sub-processor register."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import models
from django.db.models import Q

from sealpost.ids import uuid7
from tenants.managers import TenantModel


def text_sha256(text: str) -> str:
    """The SHA-256 of a document's exact text (UTF-8), as lower-case hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ImmutableDocument(RuntimeError):
    """A published BAA version was about to be changed or deleted."""


class BaaDocumentVersion(models.Model):
    """One published version of the agreement text Sealpost offers every organisation. Not
    tenant-owned: all organisations sign the same text. Published by data migrations (run as the
    schema owner); the application role may only read the table (``baa.apps``), and ``save``
    and ``delete`` refuse to change a published row."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    version = models.PositiveIntegerField(unique=True)
    title = models.CharField(max_length=200)
    text = models.TextField()
    sha256 = models.CharField(max_length=64, unique=True)
    published_at = models.DateTimeField()

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"{self.title} v{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableDocument("A published BAA version never changes; publish a new version instead.")
        if self.sha256 != text_sha256(self.text):
            raise ImmutableDocument("The stored hash must be the SHA-256 of the exact text.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ImmutableDocument("A published BAA version is never deleted.")


class AgreementStatus(models.TextChoices):
    DRAFT = "draft", "Draft: awaiting signature"
    SIGNED = "signed", "Signed: awaiting Sealpost's countersignature"
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    TERMINATED = "terminated", "Terminated"


class Agreement(TenantModel):
    """One organisation's agreement on one document version, from draft to its end.

    In force on a date ``d`` when ``status`` is active and ``effective_date <= d < expiry_date``:
    the expiry date is the first day the agreement no longer covers.
    """

    document = models.ForeignKey(BaaDocumentVersion, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=AgreementStatus.choices, default=AgreementStatus.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey("authn.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The covered entity's signature (an admin, after a fresh passkey step-up).
    signed_by = models.ForeignKey("authn.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    signer_name = models.CharField(max_length=200, blank=True)
    signer_title = models.CharField(max_length=200, blank=True)
    signer_organisation = models.CharField(max_length=200, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    signer_ip = models.GenericIPAddressField(null=True, blank=True)
    # The hash of the exact text the signer was shown and signed (equal to the document's).
    signed_sha256 = models.CharField(max_length=64, blank=True)
    # Sealpost's countersignature (settings.BAA_COUNTERSIGNER_NAME / _TITLE).
    countersigner_name = models.CharField(max_length=200, blank=True)
    countersigner_title = models.CharField(max_length=200, blank=True)
    countersigned_at = models.DateTimeField(null=True, blank=True)
    effective_date = models.DateField(null=True, blank=True)
    expiry_date = models.DateField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    terminated_at = models.DateTimeField(null=True, blank=True)
    termination_date = models.DateField(null=True, blank=True)
    termination_reason = models.TextField(blank=True)
    terminated_by = models.ForeignKey("authn.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"], condition=Q(status="active"), name="baa_one_active_agreement_per_tenant"
            ),
            models.UniqueConstraint(
                fields=["tenant"],
                condition=Q(status__in=["draft", "signed"]),
                name="baa_one_pending_agreement_per_tenant",
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(signed_at__isnull=False, signed_sha256__regex=r"^[0-9a-f]{64}$"),
                name="baa_signed_agreements_have_a_signature",
            ),
            models.CheckConstraint(
                condition=~Q(status="active")
                | Q(countersigned_at__isnull=False, effective_date__isnull=False, expiry_date__isnull=False),
                name="baa_active_agreements_are_countersigned_and_dated",
            ),
        ]

    def __str__(self) -> str:
        return f"BAA {self.pk} ({self.status})"

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None


class BaaStatus(models.TextChoices):
    SIGNED = "signed", "Signed"
    PENDING = "pending", "Pending"
    NOT_REQUIRED = "not_required", "Not required"
    NONE = "none", "None"


class SubProcessor(TenantModel):
    """A third party the organisation's data passes through (hosting, the SES account, ...)."""

    name = models.CharField(max_length=200)
    purpose = models.CharField(max_length=300, help_text="The service it provides, e.g. email delivery.")
    handles_phi = models.BooleanField(default=True)
    baa_status = models.CharField(max_length=16, choices=BaaStatus.choices, default=BaaStatus.NONE)
    baa_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="baa_subprocessor_name_per_tenant")]

    def __str__(self) -> str:
        return self.name
