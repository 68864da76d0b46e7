"""Delivery data: the recipient-domain TLS posture cache and each organisation's list of domains.

``DomainTlsPosture`` is global on purpose: a domain's MX hosts, STARTTLS support, certificates,
MTA-STS policy and DANE records are public facts anyone can look up, not tenant data, and one
probe serves every organisation. It holds no PHI and no trace of who asked. Which organisation
checks or mails which domain is tenant data, so that lives in ``TenantRecipientDomain`` (row-level
security), and the Recipient domains page lists an organisation's own rows only.
"""

from __future__ import annotations

from django.db import models

from encryption.fields import EncryptedTextField
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


class SendingDomainStatus(models.TextChoices):
    PENDING = "pending", "Not checked yet"
    VERIFIED = "verified", "Verified"
    FAILING = "failing", "Not verified"


class SendingDomain(TenantModel):
    """A domain this organisation sends From, with the DKIM key Sealpost signs its mail with and
    the last check of its DNS records (``delivery.sending_domains``). Campaigns launch only from
    a verified domain. The private key is a secret, so it is envelope-encrypted with the
    organisation's keys like PHI; DNS records are public, so the records seen are stored as is."""

    domain = models.CharField(max_length=253)
    dkim_selector = models.CharField(max_length=63)
    dkim_private_key = EncryptedTextField()
    dkim_public_txt = models.TextField()  # the TXT value to publish at <selector>._domainkey.<domain>
    status = models.CharField(max_length=10, choices=SendingDomainStatus.choices, default=SendingDomainStatus.PENDING)
    # The last check, one result per record: passed or not, why in a sentence, and what DNS said.
    dkim_ok = models.BooleanField(default=False)
    dkim_explanation = models.TextField(blank=True)
    dkim_record_seen = models.TextField(blank=True)
    spf_ok = models.BooleanField(default=False)
    spf_explanation = models.TextField(blank=True)
    spf_record_seen = models.TextField(blank=True)
    dmarc_ok = models.BooleanField(default=False)
    dmarc_explanation = models.TextField(blank=True)
    dmarc_record_seen = models.TextField(blank=True)
    # Marked verified by seed_demo without DNS (the embedded default has none); never honoured
    # in production, and cleared by the first real check.
    verified_for_demo = models.BooleanField(default=False)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey("authn.User", on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain"]
        constraints = [models.UniqueConstraint(fields=["tenant", "domain"], name="delivery_sending_domain_per_tenant")]

    def __str__(self) -> str:
        return self.domain
