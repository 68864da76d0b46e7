"""Consent: what each contact agreed to receive, the proof, and who must get nothing.

- ``ContactConsent`` is a contact's current status for one purpose; ``ConsentEvent`` is the
  append-only history behind it (the application role may not UPDATE or DELETE it).
- Purposes are the four built in (``consent.purposes``) plus the tenant's own ``Purpose`` rows;
  consent refers to a purpose by its key.
- Marketing purposes also need a ``MarketingAuthorisation`` (45 CFR 164.508) made on a complete,
  versioned ``AuthorisationText``.
- ``Suppression`` is keyed by the email's blind index, so it also stops an address that is
  re-imported as a new contact.
- Double opt-in: ``OptInForm`` (hosted, embeddable) and ``OptInRequest`` (one confirmation
  link: single use, expiring, only its hash stored).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from encryption.fields import EncryptedTextField
from tenants.managers import TenantModel


class ConsentStatus(models.TextChoices):
    GRANTED = "granted", "Granted"
    REVOKED = "revoked", "Revoked"
    PENDING = "pending", "Pending confirmation"
    NEVER_ASKED = "never_asked", "Never asked"


class ConsentSource(models.TextChoices):
    FORM = "form", "Opt-in form"
    IMPORT = "import", "Import"
    API = "api", "API"
    STAFF = "staff", "Staff"
    RECIPIENT = "recipient", "Recipient (email link)"
    DELIVERY = "delivery", "Delivery system (bounce or complaint)"


class EventKind(models.TextChoices):
    CONSENT = "consent", "Consent"
    UNENCRYPTED_EMAIL = "unencrypted_email", "Unencrypted email preference"
    AUTHORISATION = "authorisation", "Marketing authorisation"


class Purpose(TenantModel):
    """A purpose the organisation added beside the built-in ones (``consent.purposes``)."""

    key = models.SlugField(max_length=64)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    is_marketing = models.BooleanField(
        default=False, help_text="Marketing under HIPAA: sending needs a signed authorisation as well as consent."
    )
    allows_phi = models.BooleanField(
        default=False,
        help_text="Messages for this purpose may carry PHI (minimum necessary: reminders and care, not newsletters).",
    )
    is_archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="consent_purpose_key_per_tenant")]

    def __str__(self) -> str:
        return self.name


class Topic(TenantModel):
    """A finer choice inside a purpose that recipients may opt out of in the preference centre
    (e.g. "Flu clinics" under marketing)."""

    key = models.SlugField(max_length=64)
    name = models.CharField(max_length=100)
    purpose = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="consent_topic_key_per_tenant")]

    def __str__(self) -> str:
        return self.name


class ContactConsent(TenantModel):
    """A contact's current consent for one purpose (no row: never asked)."""

    contact = models.ForeignKey("segments.Contact", on_delete=models.CASCADE, related_name="consents")
    purpose = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=ConsentStatus.choices)
    source = models.CharField(max_length=16, choices=ConsentSource.choices)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "purpose"], name="consent_one_status_per_purpose"),
        ]
        indexes = [models.Index(fields=["tenant", "purpose", "status"], name="consent_tenant_purpose_status")]

    def __str__(self) -> str:
        return f"{self.purpose}: {self.status}"


class ConsentEvent(TenantModel):
    """One change of consent, unencrypted-email preference or authorisation, with its evidence.
    Append-only; kept when the contact is removed (no foreign-key constraint), because proof of
    consent outlives the contact record. The IP address and user agent are encrypted."""

    contact = models.ForeignKey("segments.Contact", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    kind = models.CharField(max_length=24, choices=EventKind.choices, default=EventKind.CONSENT)
    purpose = models.CharField(max_length=64, blank=True)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    source = models.CharField(max_length=16, choices=ConsentSource.choices)
    occurred_at = models.DateTimeField(default=timezone.now)
    ip_address = EncryptedTextField(null=True, blank=True, default=None)
    user_agent = EncryptedTextField(null=True, blank=True, default=None)
    form_version = models.CharField(max_length=64, blank=True)
    # Who recorded it: a user, an API application, the recipient through a link, or the system.
    recorded_by_type = models.CharField(max_length=16)
    recorded_by_id = models.CharField(max_length=64, blank=True)
    recorded_by_label = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [
            models.Index(fields=["tenant", "contact", "occurred_at"], name="consent_event_contact"),
            models.Index(fields=["tenant", "occurred_at"], name="consent_event_time"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.purpose} {self.from_status}->{self.to_status}"


class ContactPreferences(TenantModel):
    """What a recipient chose in the preference centre besides consent: topics they left,
    how often they want marketing, and whether they accept PHI by ordinary (unencrypted) email
    after the warning (HIPAA Omnibus preamble)."""

    class Frequency(models.TextChoices):
        AS_SENT = "as_sent", "Every message"
        WEEKLY = "weekly", "At most one a week"
        MONTHLY = "monthly", "At most one a month"

    contact = models.OneToOneField("segments.Contact", on_delete=models.CASCADE, related_name="preferences")
    frequency = models.CharField(max_length=16, choices=Frequency.choices, default=Frequency.AS_SENT)
    topics_declined = models.JSONField(default=list, blank=True)
    accepts_unencrypted_phi = models.BooleanField(default=False)
    unencrypted_phi_changed_at = models.DateTimeField(null=True, blank=True)
    unencrypted_warning_version = models.CharField(max_length=32, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Preferences of {self.contact_id}"


class AuthorisationText(TenantModel):
    """One version of the wording of a HIPAA marketing authorisation. Each required element of
    45 CFR 164.508(c) (and (a)(3) for third-party remuneration) is its own field, so a missing
    one is refused by name. Versions are never edited: a change makes the next version."""

    name = models.CharField(max_length=100)
    version = models.PositiveIntegerField(default=1)
    information_description = models.TextField()
    disclosing_party = models.TextField()
    recipient_party = models.TextField()
    purpose_description = models.TextField()
    expiry_statement = models.TextField()
    revocation_statement = models.TextField()
    conditioning_statement = models.TextField()
    redisclosure_statement = models.TextField()
    involves_remuneration = models.BooleanField(default=False)
    remuneration_statement = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by_label = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name", "version"], name="consent_authorisation_text_version")
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class MarketingAuthorisation(TenantModel):
    """A contact's signed authorisation for one marketing purpose, on one text version."""

    class SignatureMethod(models.TextChoices):
        ELECTRONIC = "electronic", "Electronic signature"
        PAPER = "paper", "Signed on paper (scanned and kept by the organisation)"

    contact = models.ForeignKey("segments.Contact", on_delete=models.CASCADE, related_name="authorisations")
    text = models.ForeignKey(AuthorisationText, on_delete=models.PROTECT, related_name="authorisations")
    purpose = models.CharField(max_length=64)
    signature_name = EncryptedTextField()
    signature_method = models.CharField(max_length=16, choices=SignatureMethod.choices)
    signed_on = models.DateField()
    expires_on = models.DateField(null=True, blank=True)
    expiry_event = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=16, choices=ConsentSource.choices)
    recorded_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation_source = models.CharField(max_length=16, choices=ConsentSource.choices, blank=True)

    class Meta:
        ordering = ["-recorded_at"]
        indexes = [models.Index(fields=["tenant", "purpose", "expires_on"], name="consent_authorisation_expiry")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_on__isnull=False) | ~models.Q(expiry_event=""),
                name="consent_authorisation_has_expiry",
            )
        ]

    def __str__(self) -> str:
        return f"Authorisation {self.pk} ({self.purpose})"

    def is_valid_on(self, day: object) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_on is None or self.expires_on >= day  # type: ignore[operator]


class SuppressionReason(models.TextChoices):
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed from everything"
    HARD_BOUNCE = "hard_bounce", "Hard bounce"
    COMPLAINT = "complaint", "Spam complaint"
    MANUAL = "manual", "Added by staff"


class Suppression(TenantModel):
    """An address that gets nothing at all from the organisation. Matched by the email's blind
    index (the same value as ``Contact.email_index``); the address itself is kept encrypted."""

    email = EncryptedTextField()
    email_index = models.CharField(max_length=64)
    reason = models.CharField(max_length=16, choices=SuppressionReason.choices)
    source = models.CharField(max_length=16, choices=ConsentSource.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by_label = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "email_index", "reason"], name="consent_suppression_unique")
        ]

    def __str__(self) -> str:
        return f"Suppression {self.pk} ({self.reason})"


class OptInForm(TenantModel):
    """A hosted, embeddable double opt-in form for one or more purposes. ``public_id`` is the
    form's part of its URL; ``version`` goes up whenever the wording or purposes change and is
    recorded as consent evidence."""

    public_id = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    heading = models.CharField(max_length=200)
    introduction = models.TextField(blank=True)
    purposes = models.JSONField(default=list)
    version = models.PositiveIntegerField(default=1)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def form_version(self) -> str:
        return f"{self.public_id}:v{self.version}"


class OptInRequest(TenantModel):
    """One submission of an opt-in form, waiting for its confirmation link to be followed."""

    form = models.ForeignKey(OptInForm, on_delete=models.CASCADE, related_name="requests")
    contact = models.ForeignKey("segments.Contact", on_delete=models.CASCADE, related_name="+")
    purposes = models.JSONField(default=list)
    form_version = models.CharField(max_length=64)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Opt-in request {self.pk}"
