from __future__ import annotations

from django.db import models

from tenants.managers import TenantModel


class Contact(TenantModel):
    """A recipient (usually a patient). This is the foundation's shape; attributes, the data
    dictionary, encrypted PHI fields and imports come with the audience work."""

    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    external_id = models.CharField(max_length=100, blank=True)
    language = models.CharField(max_length=16, default="en")
    time_zone = models.CharField(max_length=64, default="UTC")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "email"], name="contact_unique_email_per_tenant")]
        indexes = [models.Index(fields=["tenant", "last_name", "first_name"], name="contact_tenant_name_idx")]

    def __str__(self) -> str:
        return f"Contact {self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()
