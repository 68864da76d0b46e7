"""Fallback factors: an authenticator app (TOTP, through django-otp) and one-time recovery codes.

They follow a password and are accepted only where every organisation the user belongs to
allows them (``AccessPolicy.allow_fallback_factors``); admins and compliance officers need a
passkey whatever this module says (``authn.enforcement``).

- TOTP devices are django-otp's ``TOTPDevice``. A device starts unconfirmed and is confirmed by a
  right code; verification goes through ``verify_token`` under a row lock, so django-otp's
  throttling (exponential back-off after failures) and replay protection (a code, or any code of
  an earlier time step, is accepted once) hold even for concurrent requests. The code that
  confirmed a device is spent too.
- Recovery codes carry 80 random bits each and are stored only as SHA-256 digests. A code is
  claimed with a compare-and-set on ``used_at``, so it works once even when presented twice at
  the same moment.

The TOTP secret and its otpauth URI are secrets: they are shown to the user once, during setup,
and never logged or audited.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import quote, urlencode

from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.services import actor_for_user
from audit.signals import record_for_each_organisation
from authn.models import AccessPolicy, RecoveryCode, User
from tenants.context import principal_context, tenant_context
from tenants.resolution import user_memberships

TOTP_ISSUER = "Sealpost"
TOTP_DEVICE_NAME = "Authenticator app"
RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_BYTES = 10  # 80 bits: 16 base32 characters
RECOVERY_CODE_GROUP = 4
_RECOVERY_CODE = re.compile(r"^[A-Z2-7]{16}$")
_SEPARATORS = re.compile(r"[\s\-]+")


class FactorNotAllowed(Exception):
    """An organisation the user belongs to does not allow authenticator apps or recovery codes."""

    message = "One of your organisations does not allow authenticator apps or recovery codes. Use a passkey instead."


# --- Policy ------------------------------------------------------------------------------------


def fallback_factors_allowed(user: User) -> bool:
    """False when any active organisation the user belongs to forbids fallback factors; an
    organisation without a policy row allows them. One account signs in to all its organisations,
    so the strictest one decides."""
    with principal_context(user_id=user.pk):
        memberships = user_memberships(user.pk)
    for membership in memberships:
        with tenant_context(membership.tenant, switch_from_active=True):
            forbidden = AccessPolicy.objects.for_tenant(membership.tenant).filter(allow_fallback_factors=False).exists()
        if forbidden:
            return False
    return True


def _require_fallback_allowed(user: User) -> None:
    if not fallback_factors_allowed(user):
        raise FactorNotAllowed(FactorNotAllowed.message)


# --- Re-authentication before changing factors --------------------------------------------------


class ReauthenticationFailed(Exception):
    """The password given to confirm a change was wrong, or sign-in is locked. The message is
    safe to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def password_reauthenticate(*, user: User, password: str, ip: str) -> None:
    """A user without a passkey confirms a change of factors with their current password. Wrong
    passwords count towards the same lockout as sign-in, so a stolen session cannot be used to
    guess the password; each one is audited."""
    from authn import throttle

    lock = throttle.current_lock(user.email, ip)
    if lock is not None:
        raise ReauthenticationFailed(f"Too many attempts. Try again in {lock.minutes_left} minutes.")
    if password and user.check_password(password):
        throttle.record_success(user.email)
        return
    record_for_each_organisation(user, "auth.reauthentication_failed", actor_for_user(user))
    if throttle.record_failure(user.email, ip):
        from audit.signals import record_lockout

        record_lockout(user.email)
    raise ReauthenticationFailed("That password is not right.")


# --- Authenticator app (TOTP) ------------------------------------------------------------------


def user_has_totp(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def totp_device_of(user: User) -> TOTPDevice | None:
    """The user's confirmed authenticator app, if any."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-pk").first()


def totp_pending_device(*, user: User, device_id: int) -> TOTPDevice | None:
    """An unconfirmed device of this user (setup in progress); None for anyone else's."""
    return TOTPDevice.objects.filter(user=user, pk=device_id, confirmed=False).first()


def totp_secret_text(device: TOTPDevice) -> str:
    """The secret in base32, in groups of four, for typing into an app by hand."""
    encoded = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def totp_provisioning_uri(device: TOTPDevice, *, account: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    label = quote(f"{TOTP_ISSUER}:{account}")
    params = {
        "secret": base64.b32encode(device.bin_key).decode("ascii").rstrip("="),
        "issuer": TOTP_ISSUER,
        "algorithm": "SHA1",
        "digits": device.digits,
        "period": device.step,
    }
    return f"otpauth://totp/{label}?{urlencode(params, quote_via=quote)}"


@transaction.atomic
def totp_device_begin(*, user: User) -> TOTPDevice:
    """A new, unconfirmed device with a fresh secret. An earlier unconfirmed one is discarded; a
    confirmed one keeps working until the new one is confirmed."""
    _require_fallback_allowed(user)
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)


def _clean_totp_code(code: str, digits: int) -> str | None:
    cleaned = "".join(str(code).split())
    return cleaned if len(cleaned) == digits and cleaned.isascii() and cleaned.isdigit() else None


@transaction.atomic
def totp_device_confirm(*, user: User, device: TOTPDevice, code: str) -> bool:
    """Confirm the device with a code from the app. On success it becomes the user's
    authenticator app (replacing any earlier one) and the event is audited."""
    _require_fallback_allowed(user)
    locked = TOTPDevice.objects.select_for_update().filter(pk=device.pk, user=user, confirmed=False).first()
    if locked is None:
        return False
    cleaned = _clean_totp_code(code, locked.digits)
    if cleaned is None or not locked.verify_token(cleaned):
        return False
    locked.confirmed = True
    locked.save(update_fields=["confirmed"])
    replaced = TOTPDevice.objects.filter(user=user).exclude(pk=locked.pk).delete()[0]
    device.confirmed = True
    record_for_each_organisation(
        user, "auth.totp_enrolled", actor_for_user(user), {"device_id": locked.pk, "replaced": bool(replaced)}
    )
    return True


@transaction.atomic
def totp_verify(*, user: User, code: str) -> bool:
    """Check a code against the user's confirmed device. The row lock serialises concurrent
    attempts, so django-otp's replay protection and throttling cannot be raced. Refused where
    the policy forbids fallback factors (the sign-in flow checks too; this is the second wall)."""
    if not fallback_factors_allowed(user):
        return False
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("-pk").first()
    if device is None:
        return False
    cleaned = _clean_totp_code(code, device.digits)
    if cleaned is None:
        # Still a failed attempt: it counts towards the device's back-off.
        device.throttle_increment(commit=True)
        return False
    return bool(device.verify_token(cleaned))


@transaction.atomic
def totp_device_remove(*, user: User) -> None:
    removed = list(TOTPDevice.objects.filter(user=user, confirmed=True).values_list("pk", flat=True))
    TOTPDevice.objects.filter(user=user).delete()
    if removed:
        record_for_each_organisation(user, "auth.totp_removed", actor_for_user(user), {"device_id": removed[0]})


# --- Recovery codes -----------------------------------------------------------------------------


def normalise_recovery_code(code: str) -> str:
    return _SEPARATORS.sub("", str(code)).upper()


def _recovery_code_hash(normalised: str) -> str:
    return hashlib.sha256(normalised.encode("ascii")).hexdigest()


def _new_recovery_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(RECOVERY_CODE_BYTES)).decode("ascii")
    return "-".join(raw[i : i + RECOVERY_CODE_GROUP] for i in range(0, len(raw), RECOVERY_CODE_GROUP))


@transaction.atomic
def recovery_codes_generate(*, user: User) -> list[str]:
    """A new set of codes, returned once in the clear; every earlier code stops working."""
    _require_fallback_allowed(user)
    RecoveryCode.objects.filter(user=user).delete()
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user=user, code_hash=_recovery_code_hash(normalise_recovery_code(code))) for code in codes
    )
    record_for_each_organisation(user, "auth.recovery_codes_generated", actor_for_user(user), {"count": len(codes)})
    return codes


@transaction.atomic
def recovery_code_use(*, user: User, code: str) -> bool:
    """Spend one code. Case, spaces and dashes do not matter. The claim is a compare-and-set on
    ``used_at``: of two requests presenting the same code at once, one wins."""
    normalised = normalise_recovery_code(code)
    if not _RECOVERY_CODE.match(normalised) or not fallback_factors_allowed(user):
        return False
    claimed = RecoveryCode.objects.filter(
        user=user, code_hash=_recovery_code_hash(normalised), used_at__isnull=True
    ).update(used_at=timezone.now())
    if claimed != 1:
        return False
    record_for_each_organisation(
        user, "auth.recovery_code_used", actor_for_user(user), {"codes_left": recovery_codes_left(user)}
    )
    return True


def recovery_codes_left(user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()
