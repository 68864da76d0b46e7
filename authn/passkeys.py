"""Passkeys (WebAuthn) with py_webauthn: registration, sign-in (also without a username) and
step-up assertions.

What is checked, beyond what py_webauthn checks itself:
- challenges are 32 random bytes, kept server-side in the session, single-use (taken out of the
  session before verifying, whatever the outcome) and expire after WEBAUTHN_CHALLENGE_SECONDS;
- the exact origin (WEBAUTHN_ORIGINS) and RP ID; user verification is always required;
- ceremonies performed in a cross-origin iframe (clientData.crossOrigin) are refused;
- the credential belongs to the expected user (and its user handle matches the one stored);
- credential ids are unique (database constraint, checked before saving for a clear error);
- the signature counter must grow: a validly signed assertion whose counter did not is refused
  and the passkey is flagged (a sign the authenticator was cloned).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url, parse_authentication_credential_json, parse_client_data_json
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidJSONStructure, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from audit.services import actor_for_user
from audit.signals import record_for_each_organisation
from authn.models import Passkey, User

CHALLENGE_KEY = "sealpost_webauthn_challenge"
CHALLENGE_BYTES = 32
MAX_CREDENTIAL_JSON = 64 * 1024


class PasskeyError(Exception):
    """A ceremony was refused. ``code`` is stable (for the audit log and tests); the message is
    safe to show the user."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class VerifiedAssertion:
    passkey: Passkey
    user: User


# --- Challenges --------------------------------------------------------------------------------


def _issue_challenge(request: HttpRequest, purpose: str, user_id: int | None) -> bytes:
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    request.session[CHALLENGE_KEY] = {
        "purpose": purpose,
        "challenge": bytes_to_base64url(challenge),
        "expires": time.time() + settings.WEBAUTHN_CHALLENGE_SECONDS,
        "user_id": user_id,
    }
    return challenge


def _take_challenge(request: HttpRequest, purpose: str, user_id: int | None) -> bytes:
    """The pending challenge for ``purpose``, removed from the session so it answers once."""
    from webauthn.helpers import base64url_to_bytes

    stored = request.session.pop(CHALLENGE_KEY, None)
    if not isinstance(stored, dict) or stored.get("purpose") != purpose:
        raise PasskeyError("no_challenge", "This passkey request has expired or was already used. Please try again.")
    if time.time() > float(stored.get("expires", 0)):
        raise PasskeyError("challenge_expired", "This passkey request has expired. Please try again.")
    if stored.get("user_id") != user_id:
        raise PasskeyError("wrong_user", "This passkey request was made for another account.")
    return base64url_to_bytes(str(stored["challenge"]))


def _parse_json(body: bytes | str) -> dict[str, Any]:
    if len(body) > MAX_CREDENTIAL_JSON:
        raise PasskeyError("malformed", "The passkey response is too large.")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise PasskeyError("malformed", "The passkey response could not be read.") from error
    if not isinstance(data, dict):
        raise PasskeyError("malformed", "The passkey response could not be read.")
    return data


def refuse_cross_origin(client_data_json: bytes) -> None:
    client_data = parse_client_data_json(client_data_json)
    if client_data.cross_origin:
        raise PasskeyError("cross_origin", "Passkeys cannot be used from a page embedded in another site.")


# --- Registration ------------------------------------------------------------------------------


def user_handle_for(user: User) -> bytes:
    existing = Passkey.objects.filter(user=user).values_list("user_handle", flat=True).first()
    return bytes(existing) if existing else secrets.token_bytes(32)


def registration_options(request: HttpRequest, user: User) -> str:
    challenge = _issue_challenge(request, "register", user.pk)
    request.session["sealpost_webauthn_user_handle"] = bytes_to_base64url(user_handle_for(user))
    from webauthn.helpers import base64url_to_bytes

    options = generate_registration_options(
        rp_id=settings.WEBAUTHN_RP_ID,
        rp_name=settings.WEBAUTHN_RP_NAME,
        user_name=user.email,
        user_id=base64url_to_bytes(request.session["sealpost_webauthn_user_handle"]),
        user_display_name=user.display_name,
        challenge=challenge,
        timeout=settings.WEBAUTHN_CHALLENGE_SECONDS * 1000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,  # discoverable: sign-in without a username
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=bytes(credential_id))
            for credential_id in Passkey.objects.filter(user=user).values_list("credential_id", flat=True)
        ],
    )
    return options_to_json(options)


def passkey_register(*, request: HttpRequest, user: User, name: str, credential_json: bytes | str) -> Passkey:
    from webauthn.helpers import base64url_to_bytes

    challenge = _take_challenge(request, "register", user.pk)
    handle = base64url_to_bytes(str(request.session.pop("sealpost_webauthn_user_handle", "")))
    data = _parse_json(credential_json)
    try:
        client_data_json = base64url_to_bytes(str(data["response"]["clientDataJSON"]))
        refuse_cross_origin(client_data_json)
        verified = verify_registration_response(
            credential=data,
            expected_challenge=challenge,
            expected_rp_id=settings.WEBAUTHN_RP_ID,
            expected_origin=list(settings.WEBAUTHN_ORIGINS),
            require_user_verification=True,
        )
    except PasskeyError:
        raise
    except (InvalidRegistrationResponse, InvalidJSONStructure, KeyError, TypeError, ValueError) as error:
        raise PasskeyError("invalid_registration", "The passkey could not be verified. Please try again.") from error
    if Passkey.objects.filter(credential_id=verified.credential_id).exists():
        raise PasskeyError("duplicate_credential", "This passkey is already registered.")
    transports = data.get("response", {}).get("transports") or []
    try:
        with transaction.atomic():
            passkey = Passkey.objects.create(
                user=user,
                name=(name.strip() or "Passkey")[:100],
                credential_id=verified.credential_id,
                public_key=verified.credential_public_key,
                user_handle=handle,
                sign_count=verified.sign_count,
                transports=[str(t) for t in transports if isinstance(t, str)][:8],
                aaguid=str(verified.aaguid)[:36],
                backed_up=verified.credential_backed_up,
            )
            record_for_each_organisation(user, "auth.passkey_added", actor_for_user(user), {"passkey_id": passkey.pk})
    except IntegrityError as error:
        raise PasskeyError("duplicate_credential", "This passkey is already registered.") from error
    return passkey


# --- Assertions (sign-in and step-up) ----------------------------------------------------------


def authentication_options(request: HttpRequest, *, purpose: str, user: User | None) -> str:
    """Options for ``navigator.credentials.get``. Without a user (username-less sign-in) no
    credentials are listed and the authenticator offers its discoverable passkeys."""
    challenge = _issue_challenge(request, purpose, user.pk if user else None)
    allow = (
        [
            PublicKeyCredentialDescriptor(id=bytes(credential_id))
            for credential_id in Passkey.objects.filter(user=user).values_list("credential_id", flat=True)
        ]
        if user is not None
        else []
    )
    options = generate_authentication_options(
        rp_id=settings.WEBAUTHN_RP_ID,
        challenge=challenge,
        timeout=settings.WEBAUTHN_CHALLENGE_SECONDS * 1000,
        allow_credentials=allow,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json(options)


def passkey_verify_assertion(
    *, request: HttpRequest, purpose: str, credential_json: bytes | str, expected_user: User | None
) -> VerifiedAssertion:
    """Verify an assertion for ``purpose`` ("sign_in" or "step_up"). With ``expected_user`` the
    credential must be theirs; without, the user is whoever the credential belongs to."""
    challenge = _take_challenge(request, purpose, expected_user.pk if expected_user else None)
    data = _parse_json(credential_json)
    try:
        parsed = parse_authentication_credential_json(data)
    except (InvalidJSONStructure, InvalidAuthenticationResponse, KeyError, TypeError, ValueError) as error:
        raise PasskeyError("malformed", "The passkey response could not be read.") from error
    passkey = Passkey.objects.select_related("user").filter(credential_id=parsed.raw_id).first()
    if passkey is None:
        raise PasskeyError("unknown_credential", "This passkey is not registered with Sealpost.")
    if expected_user is not None and passkey.user_id != expected_user.pk:
        _record_refusal(expected_user, "other_users_credential")
        raise PasskeyError("other_users_credential", "This passkey belongs to another account.")
    user = passkey.user
    if not user.is_active:
        raise PasskeyError("inactive", "This account is not active.")
    handle = parsed.response.user_handle
    if handle is not None and bytes(handle) != bytes(passkey.user_handle):
        _record_refusal(user, "user_handle_mismatch")
        raise PasskeyError("user_handle_mismatch", "This passkey does not match its account.")
    try:
        refuse_cross_origin(bytes(parsed.response.client_data_json))
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=settings.WEBAUTHN_RP_ID,
            expected_origin=list(settings.WEBAUTHN_ORIGINS),
            credential_public_key=bytes(passkey.public_key),
            # The counter is checked below, after the signature, so that only a validly signed
            # assertion can flag the passkey as cloned.
            credential_current_sign_count=0,
            require_user_verification=True,
        )
    except PasskeyError as error:
        _record_refusal(user, error.code)
        raise
    except (InvalidAuthenticationResponse, InvalidJSONStructure, TypeError, ValueError) as error:
        _record_refusal(user, _refusal_code(str(error)))
        raise PasskeyError("invalid_assertion", "The passkey could not be verified.") from error
    _check_and_store_counter(passkey, verified.new_sign_count)
    return VerifiedAssertion(passkey=passkey, user=user)


def _refusal_code(message: str) -> str:
    lowered = message.lower()
    for needle, code in (
        ("signature", "bad_signature"),
        ("user verification", "no_user_verification"),
        ("origin", "wrong_origin"),
        ("rp id", "wrong_rp_id"),
        ("challenge", "wrong_challenge"),
        ("not present", "no_user_presence"),
    ):
        if needle in lowered:
            return code
    return "invalid_assertion"


def _record_refusal(user: User, code: str) -> None:
    record_for_each_organisation(user, "auth.passkey_refused", actor_for_user(user), {"reason": code})


def _check_and_store_counter(passkey: Passkey, new_count: int) -> None:
    stored = passkey.sign_count
    if (new_count > 0 or stored > 0) and new_count <= stored:
        Passkey.objects.filter(pk=passkey.pk).update(counter_regressed_at=timezone.now())
        record_for_each_organisation(
            passkey.user,
            "auth.passkey_counter_regressed",
            actor_for_user(passkey.user),
            {"passkey_id": passkey.pk, "stored": stored, "presented": new_count},
        )
        raise PasskeyError(
            "counter_regressed",
            "This passkey's signature counter went backwards, so it may have been copied. "
            "It was refused; use another passkey and tell your admin.",
        )
    now = timezone.now()
    updated = Passkey.objects.filter(pk=passkey.pk, sign_count=stored).update(sign_count=new_count, last_used_at=now)
    if updated != 1:
        # Another assertion with this passkey won the race: treat this one as a replay.
        raise PasskeyError("counter_regressed", "This passkey was used twice at once. Please try again.")
    passkey.sign_count = new_count
    passkey.last_used_at = now


# --- Management --------------------------------------------------------------------------------


@transaction.atomic
def passkey_rename(*, user: User, passkey: Passkey, name: str) -> Passkey:
    new_name = name.strip()[:100] or passkey.name
    if new_name != passkey.name:
        passkey.name = new_name
        passkey.save(update_fields=["name"])
        record_for_each_organisation(user, "auth.passkey_renamed", actor_for_user(user), {"passkey_id": passkey.pk})
    return passkey


@transaction.atomic
def passkey_remove(*, user: User, passkey: Passkey) -> None:
    """Remove one of ``user``'s passkeys. Sessions opened with it end at their next request
    (``authn.binding``: the session's passkey is gone)."""
    if passkey.user_id != user.pk:
        raise PasskeyError("not_yours", "This passkey belongs to another account.")
    from authn.models import UserSession

    passkey_id = passkey.pk
    UserSession.objects.filter(passkey_id=passkey_id, ended_at=None).update(
        ended_at=timezone.now(), end_reason="passkey_removed"
    )
    passkey.delete()
    record_for_each_organisation(user, "auth.passkey_removed", actor_for_user(user), {"passkey_id": passkey_id})


def passkeys_of(user: User) -> list[Passkey]:
    return list(Passkey.objects.filter(user=user).order_by("created_at"))


def passkey_get(*, user: User, passkey_id: int) -> Passkey:
    from django.http import Http404

    passkey = Passkey.objects.filter(user=user, pk=passkey_id).first()
    if passkey is None:
        raise Http404("No such passkey.")
    return passkey


def user_has_passkey(user: User) -> bool:
    return Passkey.objects.filter(user=user).exists()
