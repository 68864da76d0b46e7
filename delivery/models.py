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
    # A member asked for a check now; the probe runs in a task and clears these.
    check_requested_at = models.DateTimeField(null=True, blank=True)
    check_requested_by = models.ForeignKey(
        "authn.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

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


class InboundReportKind(models.TextChoices):
    DSN = "dsn", "Delivery status notification (RFC 3464)"
    ARF = "arf", "Complaint (ARF, RFC 5965)"
    UNKNOWN = "unknown", "Not recognised"


class InboundReportOutcome(models.TextChoices):
    PENDING = "pending", "Received, not processed yet"
    APPLIED = "applied", "Applied to its message (bounce or complaint recorded)"
    STORED_ONLY = "stored_only", "Matched its message; nothing to change (delayed, delivered, other feedback)"
    RECIPIENT_MISMATCH = "recipient_mismatch", "Refused: the recipient it names is not the message's"
    MESSAGE_NOT_FOUND = "message_not_found", "Refused: the message it names is not this organisation's"
    UNRECOGNISED = "unrecognised", "Not a delivery report or complaint we can read"


class InboundReport(TenantModel):
    """One inbound DSN or ARF complaint about a campaign message (``delivery.inbound_services``).
    The raw message is kept as evidence and is PHI (it returns the original message), so it is
    encrypted under the organisation's key; the columns beside it hold codes only. The raw
    bytes are stored as Latin-1 text so that every byte round-trips (``raw_bytes``)."""

    kind = models.CharField(max_length=8, choices=InboundReportKind.choices)
    outcome = models.CharField(
        max_length=20, choices=InboundReportOutcome.choices, default=InboundReportOutcome.PENDING
    )
    problem = models.CharField(max_length=32, blank=True)  # a parser problem code (kind unknown)
    # The matched recipient's (or, unmatched, the first recipient's) DSN Action and Status.
    action = models.CharField(max_length=16, blank=True)
    status_code = models.CharField(max_length=16, blank=True)
    feedback_type = models.CharField(max_length=32, blank=True)  # ARF Feedback-Type
    recipient_count = models.PositiveSmallIntegerField(default=0)
    # Set only once the report was checked against the message (its recipient is the contact).
    message = models.ForeignKey("campaigns.Message", on_delete=models.SET_NULL, related_name="+", null=True, blank=True)
    message_bounced = models.BooleanField(default=False)
    suppression_reason = models.CharField(max_length=16, blank=True)  # consent.SuppressionReason
    raw = EncryptedTextField()
    size_bytes = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["tenant", "-received_at"], name="delivery_inbound_recent")]

    def __str__(self) -> str:
        return f"Inbound report {self.pk} ({self.kind}, {self.outcome})"

    @property
    def raw_bytes(self) -> bytes:
        return self.raw.encode("latin-1")

    @staticmethod
    def raw_text(raw: bytes) -> str:
        return raw.decode("latin-1")
