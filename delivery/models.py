"""Delivery data: the recipient-domain TLS posture cache and each organisation's list of domains.

``DomainTlsPosture`` is global on purpose: a domain's MX hosts, STARTTLS support, certificates,
MTA-STS policy and DANE records are public facts anyone can look up, not tenant data, and one
probe serves every organisation. It holds no PHI and no trace of who asked. Which organisation
checks or mails which domain is tenant data, so that lives in ``TenantRecipientDomain`` (row-level
security), and the Recipient domains page lists an organisation's own rows only.
"""

from __future__ import annotations

from django.db import models

from tenants.managers import TenantModel


class TlsState(models.TextChoices):
    VERIFIED = "verified", "Verified TLS"
    UNVERIFIED = "unverified", "TLS without verification"
    NONE = "none", "No TLS"


class DomainTlsPosture(models.Model):
    """The last probe of one recipient domain (``delivery.posture.TlsPosture`` in ``data``; the
    columns beside it are copies for queries and the refresh task)."""

    domain = models.CharField(max_length=253, unique=True)
    tls = models.CharField(max_length=12, choices=TlsState.choices)
    tls_version = models.CharField(max_length=3, blank=True)
    delivery_refused = models.BooleanField(default=False)
    data = models.JSONField()
    checked_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    # When the posture was last asked for: the refresh task keeps only domains in use warm.
    last_requested_at = models.DateTimeField()
    # Set by the refresh task when it takes the row, so two workers do not probe it twice.
    refresh_claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return f"{self.domain}: {self.tls}"


class TenantRecipientDomain(TenantModel):
    """A domain this organisation checked on the Recipient domains page or (later) sent to."""

    domain = models.CharField(max_length=253)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField()

    class Meta:
        ordering = ["-last_used_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "domain"], name="delivery_recipient_domain_per_tenant")
        ]
        indexes = [models.Index(fields=["tenant", "-last_used_at"], name="delivery_domain_recent")]

    def __str__(self) -> str:
        return self.domain
