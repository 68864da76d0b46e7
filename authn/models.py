from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils import timezone

from sealpost.ids import uuid7
from tenants.managers import TenantModel
from tenants.roles import Role


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create(email, password, **extra)


class User(AbstractUser):
    """A person who signs in to Sealpost. Which organisations they act for, and in what role, is
    in ``tenants.Membership``; the user row itself belongs to no tenant."""

    username = None  # type: ignore[assignment]
    email = models.EmailField("email address", unique=True)
    full_name = models.CharField(max_length=200, blank=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []  # type: ignore[misc]

    objects = UserManager()  # type: ignore[assignment,misc]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def display_name(self) -> str:
        return self.full_name or self.email


def hash_api_token(secret: str) -> str:
    """Tokens are stored only as SHA-256 digests: they are random 256-bit secrets, so a fast hash
    is enough and lets the lookup be an index probe."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


class ApiApplication(TenantModel):
    """An integration an admin registered for one organisation, with the scopes they approved
    (codes from ``authn.scopes``). Its token acts with exactly these scopes, never with a role's
    permissions, and only an admin can change them (with a fresh step-up)."""

    name = models.CharField(max_length=100)
    description = models.TextField(max_length=500, blank=True)
    scopes = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey("authn.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    def has_scope(self, code: str) -> bool:
        return self.revoked_at is None and code in self.scopes


class ApiToken(TenantModel):
    """A bearer token of an API application: bound to its organisation, acting with the
    application's approved scopes. One is live at a time; rotation revokes the old one."""

    application = models.ForeignKey(ApiApplication, on_delete=models.PROTECT, related_name="tokens")
    prefix = models.CharField(max_length=16, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey("authn.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}…"

    def is_usable(self, now: Any = None) -> bool:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now

    def is_expired(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.expires_at is not None and self.expires_at <= now


class Factor(models.TextChoices):
    """How a session was authenticated, weakest first. A passkey with user verification is
    phishing-resistant and multi-factor on its own; TOTP and recovery codes follow a password."""

    PASSWORD = "password", "Password only"
    TOTP = "totp", "Password and authenticator code"
    RECOVERY = "recovery", "Password and recovery code"
    PASSKEY = "passkey", "Passkey"

    @property
    def strength(self) -> int:
        return {"password": 0, "totp": 1, "recovery": 1, "passkey": 2}[self.value]


class RequiredFactor(models.TextChoices):
    PASSWORD = "password", "Password"
    SECOND_FACTOR = "second_factor", "Password and a second factor (authenticator code or passkey)"
    PASSKEY = "passkey", "Passkey"

    @property
    def strength(self) -> int:
        return {"password": 0, "second_factor": 1, "passkey": 2}[self.value]


class Passkey(models.Model):
    """A WebAuthn credential (a passkey) registered by a user. Credentials belong to the person,
    not to an organisation: one passkey signs in to every organisation they belong to."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="passkeys")
    name = models.CharField(max_length=100)
    credential_id = models.BinaryField(unique=True)
    public_key = models.BinaryField()
    # The WebAuthn user handle given at registration: random, the same for all of a user's
    # passkeys, never the email or database id (authenticators may show or sync it).
    user_handle = models.BinaryField(max_length=64)
    sign_count = models.PositiveBigIntegerField(default=0)
    transports = models.JSONField(default=list, blank=True)
    aaguid = models.CharField(max_length=36, blank=True)
    backed_up = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # Set when an assertion arrived with a sign counter not above the stored one: a sign the
    # authenticator may have been cloned. The assertion is refused and admins are told.
    counter_regressed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.name


class RecoveryCode(models.Model):
    """A one-time recovery code. Stored as a SHA-256 digest: each code carries 80 random bits,
    so a fast hash cannot be reversed (django-otp's static tokens are stored in the clear)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Recovery code of user {self.user_id}"


class KnownDevice(models.Model):
    """A browser a user has signed in from, known by the digest of its device cookie."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="known_devices")
    device_hash = models.CharField(max_length=64)
    user_agent = models.CharField(max_length=200, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "device_hash"], name="authn_known_device_unique")]

    def __str__(self) -> str:
        return f"Device of user {self.user_id} first seen {self.first_seen_at:%Y-%m-%d}"


class UserSession(models.Model):
    """One signed-in browser session: where and how it started, and whether it has been ended.
    Django's session carries this row's id; every request checks the row is still open and that
    the device cookie and network match the ones that created it."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    session_key = models.CharField(max_length=64, blank=True)
    device_hash = models.CharField(max_length=64)
    network = models.CharField(max_length=64)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    country = models.CharField(max_length=2, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    factor = models.CharField(max_length=16, choices=Factor.choices)
    passkey = models.ForeignKey(Passkey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="authn_session_user_recent")]

    def __str__(self) -> str:
        return f"Session of user {self.user_id} from {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.ended_at is None


class RuleAction(models.TextChoices):
    ALLOW = "allow", "Allow"
    STEP_UP = "step_up", "Require a passkey"
    BLOCK = "block", "Block"


class AccessPolicy(TenantModel):
    """An organisation's conditional-access policy, evaluated at sign-in and on every request.
    Empty lists mean "no restriction". Admins and compliance officers always need a passkey,
    whatever ``marketer_factor`` says."""

    allowed_networks = models.JSONField(default=list, blank=True)  # CIDR strings
    allowed_countries = models.JSONField(default=list, blank=True)  # ISO 3166-1 alpha-2 codes
    marketer_factor = models.CharField(
        max_length=16, choices=RequiredFactor.choices, default=RequiredFactor.SECOND_FACTOR
    )
    allow_fallback_factors = models.BooleanField(
        default=True, help_text="Allow authenticator-app codes and recovery codes where a passkey is not required."
    )
    new_device_action = models.CharField(max_length=16, choices=RuleAction.choices, default=RuleAction.STEP_UP)
    new_country_action = models.CharField(max_length=16, choices=RuleAction.choices, default=RuleAction.STEP_UP)
    # Consecutive sign-ins further apart than this speed allows are impossible travel; null = off.
    max_travel_kmh = models.PositiveIntegerField(null=True, blank=True, default=1000)
    impossible_travel_action = models.CharField(max_length=16, choices=RuleAction.choices, default=RuleAction.BLOCK)
    # Sign-in hours, in ``timezone``; both null = any hour. start > end wraps past midnight.
    sign_in_hours_start = models.PositiveSmallIntegerField(null=True, blank=True)
    sign_in_hours_end = models.PositiveSmallIntegerField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="authn_access_policy_one_per_tenant")]

    def __str__(self) -> str:
        return f"Access policy of {self.tenant_id}"


class BreakGlassGrant(TenantModel):
    """Time-boxed emergency access: for its window the member acts with ``role`` and network,
    country and hour rules do not apply to them. Factor requirements still do."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=32, choices=Role.choices)
    reason = models.TextField()
    granted_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # When the expiry was written to the audit log (by the periodic sweep).
    expiry_recorded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Break-glass for user {self.user_id} until {self.expires_at:%Y-%m-%d %H:%M}"

    def is_active(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and self.created_at <= now < self.expires_at
