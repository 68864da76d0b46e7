from __future__ import annotations

from django.db import models

from encryption.fields import BlindIndexField, EncryptedTextField
from tenants.managers import TenantModel


class Contact(TenantModel):
    """A recipient (usually a patient). Who is a patient of an organisation is itself PHI, so the
    identifying fields are encrypted in the application; email and external id also have blind
    indexes for exact-match lookups and de-duplication. Attributes, the data dictionary and
    imports come with the audience work."""

    email = EncryptedTextField()
    email_index = BlindIndexField(source="email")
    first_name = EncryptedTextField(blank=True, default="")
    last_name = EncryptedTextField(blank=True, default="")
    external_id = EncryptedTextField(blank=True, default="")
    external_id_index = BlindIndexField(source="external_id", blank=True)
    language = models.CharField(max_length=16, default="en")
    time_zone = models.CharField(max_length=64, default="UTC")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "email_index"], name="contact_unique_email_per_tenant")
        ]
        indexes = [models.Index(fields=["tenant", "external_id_index"], name="contact_tenant_external_id_idx")]

    def __str__(self) -> str:
        return f"Contact {self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def masked_name(self) -> str:
        """Initials only, for lists shown without a step-up ("J. S.")."""
        initials = [part[0].upper() + "." for part in (self.first_name, self.last_name) if part]
        return " ".join(initials)

    @property
    def masked_email(self) -> str:
        """The first character and the domain ("j•••@example.com")."""
        local, _, domain = self.email.partition("@")
        return f"{local[:1]}•••@{domain}" if domain else "•••"

    @property
    def masked_external_id(self) -> str:
        """The last three characters: an EHR's patient id is PHI too."""
        return f"•••{self.external_id[-3:]}" if self.external_id else ""

    @property
    def readable(self) -> bool:
        """False when the key that encrypted this contact was destroyed (crypto-shredding)."""
        from encryption.providers import KeyUnavailable

        try:
            _ = self.email
        except KeyUnavailable:
            return False
        return True
