from __future__ import annotations

from django.conf import settings
from django.db import models

from tenants.managers import TenantModel
from tenants.roles import Role


class Organisation(models.Model):
    """A tenant: one healthcare organisation. The registry of tenants is itself not
    tenant-owned (it holds no PHI); everything that belongs to an organisation points here."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(TenantModel):
    """A user's role in one organisation. A user may belong to several organisations."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_user_per_tenant")]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.tenant_id} as {self.role}"
