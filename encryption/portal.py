"""The recipient portal's services: what a recipient may do with an escrowed message once its
link (``encryption.escrow``) has named the organisation and the message.

* **State**: a message is readable only while active, unexpired and unlocked; expired, retracted
  and locked messages show a page saying so and nothing else.
* **One-time codes** prove the recipient holds the address the message was for. A code is made
  in a Celery task (ids only), mailed through the delivery pipeline's single-message path and
  stored as a keyed hash (HMAC under a key derived from ``SECRET_KEY``, bound to the message):
  6 digits, 10 minutes, single use, at most ``CODES_PER_HOUR`` per message.
* **Attempts**: wrong codes and wrong shared-secret answers count together; at
  ``MAX_FAILED_ATTEMPTS`` in a row the message locks (the organisation can tell the recipient
  what to do). Every refusal looks the same, whatever was wrong.
* **Browser binding**: proof is kept for one browser only, by a random httponly portal cookie of
  which only the SHA-256 is stored (``EscrowAccess``); another browser has to prove it again.
  Access lasts ``ACCESS_MINUTES``.
* **Shared secret** (optional, per organisation): after the code, a value of the contact the
  recipient knows (a date of birth, a member number), compared case- and space-insensitively,
  dates in any common format.
* **Reporting**: the first opening of the link (the portal's start page shown) is
  ``escrow_opened``, the first reading (content shown after verification) ``escrow_read``, and
  each reply ``reply_received`` (``reporting.sources``), in the same transaction as their audit.
* **Replies** are stored encrypted and the organisation's admins and compliance officers are told
  by email, without PHI, to read them in Sealpost.
* **Passkeys** for returning recipients (if the organisation allows them): registered after a
  full verification, bound to the recipient's address by its blind index; an assertion with one
  of that recipient's passkeys replaces the code (and the shared secret, which was answered when
  the passkey was registered).

Audit events carry the recipient as actor (the contact id, never the address) and ids only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, parse_authentication_credential_json
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidJSONStructure, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from audit.models import ActorType
from audit.services import Actor, Target, record
from authn.passkeys import CHALLENGE_BYTES, PasskeyError, refuse_cross_origin
from delivery.single_send import SingleMessage
from encryption.blind_index import blind_index
from encryption.dlp.findings import LEVEL_NONE, Classification
from encryption.escrow import escrow_settings_for
from encryption.models import (
    DEFAULT_BRAND_COLOUR,
    EscrowAccess,
    EscrowAccessMethod,
    EscrowCode,
    EscrowedMessage,
    EscrowReply,
    EscrowSettings,
    EscrowStatus,
    RecipientPasskey,
)
from encryption.portal_tasks import reply_notice_task, send_portal_code_task
from reporting.models import EventKind
from reporting.sources import message_event_record
from segments.models import Contact
from templates.context import contact_values
from tenants.context import require_tenant_is_current
from tenants.models import Membership, Organisation
from tenants.roles import Role

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
CODES_PER_HOUR = 5
MAX_FAILED_ATTEMPTS = 5
ACCESS_MINUTES = 30
PORTAL_COOKIE = "sealpost_portal"
PORTAL_COOKIE_BYTES = 32
REPLY_MAX_CHARS = 5000
# The consent purpose of a code email when the message came from no campaign: codes belong to
# care the organisation already gives (they carry no PHI and no marketing).
CODE_PURPOSE_FALLBACK = "care"
RECIPIENT_INDEX_FIELD = "escrow.recipient"
_CODE_SALT = "sealpost.encryption.portal.code"
_BRAND_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")

ACTIVE = "active"
EXPIRED = "expired"
RETRACTED = "retracted"
LOCKED = "locked"

# Refusals the recipient sees. One message for every wrong code or answer (no enumeration).
WRONG_CODE = "That code is not right, or it has expired. Check the latest email and try again, or ask for a new code."
WRONG_ANSWER = "That answer does not match our records. Check it and try again."
TOO_MANY_CODES = "You have asked for several codes in the last hour. Please use the latest one, or try again later."
NOW_LOCKED = "This message is now locked after too many attempts. Please contact the organisation that sent it."


class PortalRefused(Exception):
    """The recipient's request was refused; ``message`` is safe to show."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- State, actor, display ------------------------------------------------------------------------


def portal_state(escrow: EscrowedMessage, now: datetime | None = None) -> str:
    """``active`` or why the message cannot be read (an active row past its expiry counts as
    expired before the beat task deletes its content)."""
    now = now or timezone.now()
    if escrow.status == EscrowStatus.RETRACTED:
        return RETRACTED
    if escrow.status == EscrowStatus.EXPIRED or escrow.expires_at <= now:
        return EXPIRED
    if escrow.locked_at is not None:
        return LOCKED
    return ACTIVE


def recipient_actor(escrow: EscrowedMessage) -> Actor:
    return Actor(ActorType.RECIPIENT, str(escrow.contact_id or ""), "recipient")


def masked_address(address: str) -> str:
    """q•••@p•••.example: enough to recognise one's own address, not to learn someone's."""
    local, _, domain = address.partition("@")
    first, _, rest = domain.partition(".")
    masked_domain = f"{first[:1]}•••" + (f".{rest}" if rest else "")
    return f"{local[:1]}•••@{masked_domain}" if domain else "•••"


def brand_colour(settings_row: EscrowSettings) -> str:
    colour = settings_row.brand_colour or ""
    return colour if _BRAND_COLOUR.match(colour) else DEFAULT_BRAND_COLOUR


def brand_ink(colour: str) -> str:
    """Text colour on the brand colour with enough contrast (WCAG relative luminance)."""

    def channel(hex_pair: str) -> float:
        value = int(hex_pair, 16) / 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    # White reaches 4.5:1 only on colours darker than about 0.18.
    return "#ffffff" if luminance < 0.18 else "#12201f"


def _report(tenant: Organisation, escrow: EscrowedMessage, kind: str, now: datetime) -> None:
    """The portal's events in reporting: the campaign message the escrow holds, or (a message
    from no campaign) the contact only."""
    message_event_record(
        tenant=tenant,
        kind=kind,
        message_id=escrow.message_id,
        campaign_id=escrow.campaign_id,
        contact_id=escrow.contact_id,
        at=now,
    )


def _locked_row(tenant: Organisation, escrow: EscrowedMessage) -> EscrowedMessage:
    return EscrowedMessage.objects.for_tenant(tenant).select_for_update().get(pk=escrow.pk)


def portal_opened(*, tenant: Organisation, escrow: EscrowedMessage, now: datetime | None = None) -> bool:
    """Record the first opening of the link (True if this was it)."""
    require_tenant_is_current(tenant)
    now = now or timezone.now()
    with transaction.atomic():
        first = (
            EscrowedMessage.objects.for_tenant(tenant)
            .filter(pk=escrow.pk, first_opened_at__isnull=True)
            .update(first_opened_at=now)
        )
        if first:
            escrow.first_opened_at = now
            record(
                tenant=tenant, action="escrow.portal_opened", actor=recipient_actor(escrow), target=Target.of(escrow)
            )
            _report(tenant, escrow, EventKind.ESCROW_OPENED, now)
    return bool(first)


# --- The browser ----------------------------------------------------------------------------------


def new_browser_token() -> str:
    return secrets.token_urlsafe(PORTAL_COOKIE_BYTES)


def browser_hash(browser_token: str) -> str:
    return hashlib.sha256(browser_token.encode("ascii", "replace")).hexdigest()


def _grant(escrow: EscrowedMessage, browser_token: str, method: str, secret_confirmed: bool, now: datetime) -> Any:
    return EscrowAccess.objects.create(
        tenant_id=escrow.tenant_id,
        escrow=escrow,
        browser_hash=browser_hash(browser_token),
        method=method,
        secret_confirmed=secret_confirmed,
        expires_at=now + timedelta(minutes=ACCESS_MINUTES),
    )


def browser_access(
    *, tenant: Organisation, escrow: EscrowedMessage, browser_token: str | None, now: datetime | None = None
) -> EscrowAccess | None:
    """This browser's current proof for the message, if any (complete or waiting for the
    shared secret)."""
    require_tenant_is_current(tenant)
    if not browser_token:
        return None
    return (
        EscrowAccess.objects.for_tenant(tenant)
        .filter(escrow_id=escrow.pk, browser_hash=browser_hash(browser_token), expires_at__gt=now or timezone.now())
        .order_by("-granted_at")
        .first()
    )


def access_complete(access: EscrowAccess | None, settings_row: EscrowSettings) -> bool:
    return access is not None and (access.secret_confirmed or not settings_row.shared_secret_field)


# --- Failed attempts ------------------------------------------------------------------------------


def _count_failure(tenant: Organisation, escrow: EscrowedMessage, kind: str, now: datetime) -> bool:
    """One more wrong code or answer (``escrow`` is the locked row); True if it locked."""
    escrow.failed_attempts += 1
    locked = escrow.failed_attempts >= MAX_FAILED_ATTEMPTS
    if locked:
        escrow.locked_at = now
    escrow.save(update_fields=["failed_attempts", "locked_at"])
    actor = recipient_actor(escrow)
    details = {"kind": kind, "attempt": escrow.failed_attempts}
    record(tenant=tenant, action="escrow.code_failed", actor=actor, target=Target.of(escrow), details=details)
    if locked:
        record(
            tenant=tenant,
            action="escrow.locked",
            actor=actor,
            target=Target.of(escrow),
            details={"attempts": escrow.failed_attempts},
        )
    return locked


def _verified(tenant: Organisation, escrow: EscrowedMessage, method: str) -> None:
    """Full proof: the attempts in a row start again from zero."""
    if escrow.failed_attempts:
        escrow.failed_attempts = 0
        escrow.save(update_fields=["failed_attempts"])
    record(
        tenant=tenant,
        action="escrow.verified",
        actor=recipient_actor(escrow),
        target=Target.of(escrow),
        details={"method": method},
    )


def _require_active(escrow: EscrowedMessage, now: datetime) -> None:
    state = portal_state(escrow, now)
    if state != ACTIVE:
        raise PortalRefused(state, "This message can no longer be opened.")


# --- One-time codes -------------------------------------------------------------------------------


def code_hash(escrow: EscrowedMessage, code: str) -> str:
    """Keyed hash of a code, bound to its message: a database copy does not give the codes, and
    a code of one message never opens another."""
    return salted_hmac(_CODE_SALT, f"{escrow.tenant_id}|{escrow.pk}|{code}", algorithm="sha256").hexdigest()


def normalise_code(value: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", value or "") if ch.isdigit())[: CODE_DIGITS + 2]


def code_request(*, tenant: Organisation, escrow: EscrowedMessage, now: datetime | None = None) -> EscrowCode:
    """Ask for a code: a slot is recorded now (for the hourly limit) and filled and mailed by a
    task once this commits. Raises PortalRefused if the message is unavailable or the limit is
    reached."""
    require_tenant_is_current(tenant)
    now = now or timezone.now()
    with transaction.atomic():
        locked = _locked_row(tenant, escrow)
        _require_active(locked, now)
        recent = EscrowCode.objects.for_tenant(tenant).filter(escrow=locked, created_at__gt=now - timedelta(hours=1))
        if recent.count() >= CODES_PER_HOUR:
            raise PortalRefused("too_many_codes", TOO_MANY_CODES)
        slot = EscrowCode.objects.create(tenant=tenant, escrow=locked, code_hash="", expires_at=now + CODE_TTL)
        transaction.on_commit(partial(send_portal_code_task.delay, tenant.pk, str(locked.pk), str(slot.pk)))
    return slot


def code_issue(
    *, tenant: Organisation, escrow_id: Any, code_id: Any, now: datetime | None = None
) -> tuple[Any, str] | None:
    """In the task: a fresh code for the slot (a retry replaces the previous attempt's code), or
    None if the slot was used, expired or the message can no longer be opened."""
    require_tenant_is_current(tenant)
    now = now or timezone.now()
    with transaction.atomic():
        escrow = EscrowedMessage.objects.for_tenant(tenant).filter(pk=escrow_id).first()
        if escrow is None or portal_state(escrow, now) != ACTIVE:
            return None
        slot = (
            EscrowCode.objects.for_tenant(tenant)
            .select_for_update()
            .filter(pk=code_id, escrow=escrow, used_at__isnull=True, expires_at__gt=now)
            .first()
        )
        if slot is None:
            return None
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        slot.code_hash = code_hash(escrow, code)
        slot.save(update_fields=["code_hash"])
    return escrow, code


def code_message(*, tenant: Organisation, escrow: EscrowedMessage, code: str, code_id: Any) -> Any:
    """The code email for the single-message path: no PHI (only the organisation's name and
    the code), classified ``none``."""
    purpose = CODE_PURPOSE_FALLBACK
    if escrow.campaign_id is not None and escrow.campaign is not None:
        purpose = escrow.campaign.purpose or CODE_PURPOSE_FALLBACK
    context = {"organisation": tenant.name, "code": code, "minutes": int(CODE_TTL.total_seconds() // 60)}
    domain = escrow.from_address.rpartition("@")[2]
    return SingleMessage(
        from_name=escrow.from_name or tenant.name,
        from_address=escrow.from_address,
        to_address=escrow.recipient_email,
        subject=f"Your code to open your secure message from {tenant.name}",
        html=render_to_string("encryption/portal/code_email.html", context),
        text=render_to_string("encryption/portal/code_email.txt", context),
        message_id=f"<escrow-code.{code_id.hex if hasattr(code_id, 'hex') else code_id}@{domain}>",
        purpose=purpose,
        classification=Classification(level=LEVEL_NONE, findings=()),
    )


def code_sent(*, tenant: Organisation, escrow_id: Any, code_id: Any) -> None:
    """The code was handed to the recipient's mail server."""
    require_tenant_is_current(tenant)
    escrow = EscrowedMessage.objects.for_tenant(tenant).filter(pk=escrow_id).first()
    if escrow is not None:
        record(
            tenant=tenant,
            action="escrow.code_sent",
            actor=recipient_actor(escrow),
            target=Target.of(escrow),
            details={"code": str(code_id)},
        )


@dataclass(frozen=True)
class Verification:
    ok: bool
    needs_secret: bool = False
    locked: bool = False
    message: str = ""


def code_verify(
    *,
    tenant: Organisation,
    escrow: EscrowedMessage,
    code: str,
    browser_token: str,
    now: datetime | None = None,
) -> Verification:
    """Check a code: right (unexpired, unused, this message's) grants this browser access;
    anything else counts as one failed attempt."""
    require_tenant_is_current(tenant)
    now = now or timezone.now()
    with transaction.atomic():
        locked = _locked_row(tenant, escrow)
        _require_active(locked, now)
        candidates = EscrowCode.objects.for_tenant(tenant).filter(
            escrow=locked, used_at__isnull=True, expires_at__gt=now
        )
        given = normalise_code(code)
        expected = code_hash(locked, given)
        match = len(given) == CODE_DIGITS and any(
            hmac.compare_digest(expected, row.code_hash) for row in candidates if row.code_hash
        )
        if not match:
            if _count_failure(tenant, locked, "code", now):
                return Verification(False, locked=True, message=NOW_LOCKED)
            return Verification(False, message=WRONG_CODE)
        # Single use: this code and every other code still out for the message.
        candidates.update(used_at=now)
        needs_secret = bool(escrow_settings_for(tenant=tenant).shared_secret_field)
        _grant(locked, browser_token, EscrowAccessMethod.CODE, not needs_secret, now)
        if not needs_secret:
            _verified(tenant, locked, EscrowAccessMethod.CODE)
    return Verification(True, needs_secret=needs_secret)


# --- The shared secret ----------------------------------------------------------------------------

_DATE_FORMATS = (
    "%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d",
    "%m/%d/%Y", "%d/%m/%Y", "%m-%d-%Y", "%d-%m-%Y", "%d.%m.%Y", "%m.%d.%Y",
    "%d %B %Y", "%d %b %Y", "%B %d %Y", "%b %d %Y", "%B %d, %Y", "%b %d, %Y",
)  # fmt: skip


def _as_dates(value: str) -> set[date]:
    text = " ".join(value.replace(",", ", ").split()).replace(" ,", ",")
    found = set()
    for pattern in _DATE_FORMATS:
        try:
            found.add(datetime.strptime(text, pattern).date())  # noqa: DTZ007 - a calendar date, no time
        except ValueError:
            continue
    return found


def _normalised_answer(value: str) -> str:
    return "".join(unicodedata.normalize("NFKC", value).casefold().split())


def answers_match(expected: str, given: str) -> bool:
    """Case- and space-insensitive; a date matches in any common format (an ambiguous day and
    month order such as 03/04/1980 is accepted either way)."""
    expected, given = str(expected).strip(), str(given).strip()
    if not expected or not given:
        return False
    if hmac.compare_digest(_normalised_answer(expected).encode(), _normalised_answer(given).encode()):
        return True
    expected_dates = _as_dates(expected)
    return bool(expected_dates) and bool(expected_dates & _as_dates(given))


def shared_secret_value(*, tenant: Organisation, escrow: EscrowedMessage, field: str) -> str:
    """The contact's value of the configured field ("contact.<name>", "attr.<key>" or
    "attributes.<key>"), or "" (no contact, no value: no answer can match)."""
    if escrow.contact_id is None:
        return ""
    contact = Contact.objects.for_tenant(tenant).filter(pk=escrow.contact_id).first()
    if contact is None:
        return ""
    name = field.strip()
    if name.startswith("attributes."):
        name = "attr." + name.removeprefix("attributes.")
    value = contact_values(contact, tenant).get(name)
    return "" if value is None or isinstance(value, bool) else str(value)


def secret_answer(
    *,
    tenant: Organisation,
    escrow: EscrowedMessage,
    browser_token: str,
    answer: str,
    now: datetime | None = None,
) -> Verification:
    """The shared-secret step after a right code, in the browser that entered it."""
    require_tenant_is_current(tenant)
    now = now or timezone.now()
    settings_row = escrow_settings_for(tenant=tenant)
    with transaction.atomic():
        locked = _locked_row(tenant, escrow)
        _require_active(locked, now)
        access = browser_access(tenant=tenant, escrow=locked, browser_token=browser_token, now=now)
        if access is None:
            raise PortalRefused("no_access", "Please enter a code first.")
        if access_complete(access, settings_row):
            return Verification(True)
        expected = shared_secret_value(tenant=tenant, escrow=locked, field=settings_row.shared_secret_field)
        if not answers_match(expected, answer):
            if _count_failure(tenant, locked, "secret", now):
                return Verification(False, locked=True, message=NOW_LOCKED)
            return Verification(False, needs_secret=True, message=WRONG_ANSWER)
        access.secret_confirmed = True
        access.save(update_fields=["secret_confirmed"])
        _verified(tenant, locked, EscrowAccessMethod.CODE)
    return Verification(True)


# --- Reading and replying -------------------------------------------------------------------------


def message_read(*, tenant: Organisation, escrow: EscrowedMessage, now: datetime | None = None) -> bool:
    """Record the first reading (True if this was it)."""
    require_tenant_is_current(tenant)
    now = now or timezone.now()
    with transaction.atomic():
        first = (
            EscrowedMessage.objects.for_tenant(tenant).filter(pk=escrow.pk, read_at__isnull=True).update(read_at=now)
        )
        if first:
            escrow.read_at = now
            record(tenant=tenant, action="escrow.read", actor=recipient_actor(escrow), target=Target.of(escrow))
            _report(tenant, escrow, EventKind.ESCROW_READ, now)
    return bool(first)


def reply_send(*, tenant: Organisation, escrow: EscrowedMessage, body: str, now: datetime | None = None) -> EscrowReply:
    """Store the recipient's reply (encrypted) and tell the organisation, without PHI, once it
    commits. The caller has checked the browser's access."""
    require_tenant_is_current(tenant)
    now = now or timezone.now()
    text = (body or "").strip()
    if not text:
        raise PortalRefused("empty_reply", "Write your reply before sending it.")
    if len(text) > REPLY_MAX_CHARS:
        raise PortalRefused("long_reply", f"Your reply is too long: keep it under {REPLY_MAX_CHARS} characters.")
    with transaction.atomic():
        locked = _locked_row(tenant, escrow)
        _require_active(locked, now)
        reply = EscrowReply.objects.create(tenant=tenant, escrow=locked, contact_id=locked.contact_id, body=text)
        record(
            tenant=tenant,
            action="escrow.reply_sent",
            actor=recipient_actor(locked),
            target=Target.of(locked),
            details={"reply": str(reply.pk)},
        )
        _report(tenant, locked, EventKind.REPLY_RECEIVED, now)
        transaction.on_commit(partial(reply_notice_task.delay, tenant.pk, str(reply.pk)))
    return reply


def reply_notice_recipients(*, tenant: Organisation) -> list[str]:
    """The active admins' and compliance officers' addresses (members of staff, not patients)."""
    require_tenant_is_current(tenant)
    rows = (
        Membership.objects.for_tenant(tenant)
        .filter(role__in=[Role.ADMIN, Role.COMPLIANCE_OFFICER], is_active=True, user__is_active=True)
        .select_related("user")
        .order_by("user_id")
    )
    return list(dict.fromkeys(row.user.email for row in rows))


def replies_url() -> str:
    try:
        path = reverse("encryption:escrow_replies")
    except NoReverseMatch:
        path = "/encryption/escrow/replies/"
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def reply_notice(*, tenant: Organisation, reply_id: Any) -> list[Any]:
    """One plain-text email per admin or compliance officer: that a reply came, and where to
    read it. Nothing from the message, the reply or the contact."""
    require_tenant_is_current(tenant)
    if not EscrowReply.objects.for_tenant(tenant).filter(pk=reply_id).exists():
        return []
    body = (
        f"A patient replied to a secure message from {tenant.name}.\n\n"
        "For their privacy the reply is not in this email. Read it in Sealpost:\n"
        f"{replies_url()}\n\n"
        "You receive this because you are an admin or compliance officer of this organisation.\n"
    )
    return [
        EmailMessage(
            subject=f"Sealpost: a secure reply is waiting in {tenant.name}",
            body=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[address],
        )
        for address in reply_notice_recipients(tenant=tenant)
    ]


# --- Passkeys for returning recipients ------------------------------------------------------------

PASSKEY_CHALLENGE_KEY = "sealpost_portal_webauthn"


def recipient_index(tenant: Organisation, escrow: EscrowedMessage) -> str:
    return blind_index(tenant, RECIPIENT_INDEX_FIELD, escrow.recipient_email)


def recipient_passkeys(*, tenant: Organisation, escrow: EscrowedMessage) -> list[RecipientPasskey]:
    require_tenant_is_current(tenant)
    return list(
        RecipientPasskey.objects.for_tenant(tenant)
        .filter(recipient_index=recipient_index(tenant, escrow))
        .order_by("created_at")
    )


def passkeys_offered(*, tenant: Organisation, escrow: EscrowedMessage) -> bool:
    """Whether the start page offers "Use your passkey"."""
    return escrow_settings_for(tenant=tenant).allow_passkeys and bool(recipient_passkeys(tenant=tenant, escrow=escrow))


def _issue_challenge(session: Any, purpose: str, escrow: EscrowedMessage) -> bytes:
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    session[PASSKEY_CHALLENGE_KEY] = {
        "purpose": purpose,
        "escrow": str(escrow.pk),
        "challenge": bytes_to_base64url(challenge),
        "expires": time.time() + settings.WEBAUTHN_CHALLENGE_SECONDS,
    }
    return challenge


def _take_challenge(session: Any, purpose: str, escrow: EscrowedMessage) -> bytes:
    """The pending challenge, taken out of the session so it answers once."""
    stored = session.pop(PASSKEY_CHALLENGE_KEY, None)
    if (
        not isinstance(stored, dict)
        or stored.get("purpose") != purpose
        or stored.get("escrow") != str(escrow.pk)
        or time.time() > float(stored.get("expires", 0))
    ):
        raise PasskeyError("no_challenge", "This passkey request has expired or was already used. Please try again.")
    return base64url_to_bytes(str(stored["challenge"]))


def passkey_registration_options(*, tenant: Organisation, escrow: EscrowedMessage, session: Any) -> str:
    """Options for ``navigator.credentials.create``. The authenticator shows the organisation
    and the masked address, never the full address."""

    options = generate_registration_options(
        rp_id=settings.WEBAUTHN_RP_ID,
        rp_name=settings.WEBAUTHN_RP_NAME,
        user_name=masked_address(escrow.recipient_email),
        user_id=secrets.token_bytes(32),
        user_display_name=f"Secure messages from {tenant.name}"[:64],
        challenge=_issue_challenge(session, "portal_register", escrow),
        timeout=settings.WEBAUTHN_CHALLENGE_SECONDS * 1000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
            for p in recipient_passkeys(tenant=tenant, escrow=escrow)
        ],
    )
    return options_to_json(options)


def passkey_register(
    *, tenant: Organisation, escrow: EscrowedMessage, session: Any, credential: dict[str, Any]
) -> RecipientPasskey:
    """Verify and keep a new passkey for this recipient. Raises authn's PasskeyError."""
    require_tenant_is_current(tenant)
    challenge = _take_challenge(session, "portal_register", escrow)
    try:
        refuse_cross_origin(base64url_to_bytes(str(credential["response"]["clientDataJSON"])))
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=settings.WEBAUTHN_RP_ID,
            expected_origin=list(settings.WEBAUTHN_ORIGINS),
            require_user_verification=True,
        )
    except PasskeyError:
        raise
    except (InvalidRegistrationResponse, InvalidJSONStructure, KeyError, TypeError, ValueError) as error:
        raise PasskeyError("invalid_registration", "The passkey could not be verified. Please try again.") from error
    try:
        with transaction.atomic():
            passkey = RecipientPasskey.objects.create(
                tenant=tenant,
                recipient_index=recipient_index(tenant, escrow),
                credential_id=bytes_to_base64url(verified.credential_id),
                public_key=verified.credential_public_key,
                sign_count=verified.sign_count,
            )
            record(
                tenant=tenant,
                action="escrow.passkey_registered",
                actor=recipient_actor(escrow),
                target=Target.of(escrow),
                details={"passkey": str(passkey.pk)},
            )
    except IntegrityError as error:
        raise PasskeyError("duplicate_credential", "This passkey is already registered.") from error
    return passkey


def passkey_assertion_options(*, tenant: Organisation, escrow: EscrowedMessage, session: Any) -> str:
    """Options for ``navigator.credentials.get`` listing only this recipient's passkeys."""
    options = generate_authentication_options(
        rp_id=settings.WEBAUTHN_RP_ID,
        challenge=_issue_challenge(session, "portal_assert", escrow),
        timeout=settings.WEBAUTHN_CHALLENGE_SECONDS * 1000,
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
            for p in recipient_passkeys(tenant=tenant, escrow=escrow)
        ],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json(options)


def passkey_verify(
    *,
    tenant: Organisation,
    escrow: EscrowedMessage,
    session: Any,
    credential: dict[str, Any],
    browser_token: str,
    now: datetime | None = None,
) -> EscrowAccess:
    """An assertion with one of this recipient's passkeys grants this browser access."""
    require_tenant_is_current(tenant)
    now = now or timezone.now()
    challenge = _take_challenge(session, "portal_assert", escrow)
    if not escrow_settings_for(tenant=tenant).allow_passkeys:
        raise PasskeyError("not_allowed", "This organisation does not accept passkeys here.")
    try:
        parsed = parse_authentication_credential_json(credential)
    except (InvalidJSONStructure, InvalidAuthenticationResponse, KeyError, TypeError, ValueError) as error:
        raise PasskeyError("malformed", "The passkey response could not be read.") from error
    passkey = (
        RecipientPasskey.objects.for_tenant(tenant)
        .filter(credential_id=bytes_to_base64url(parsed.raw_id), recipient_index=recipient_index(tenant, escrow))
        .first()
    )
    if passkey is None:
        raise PasskeyError("unknown_credential", "This passkey is not registered for this message's address.")
    try:
        refuse_cross_origin(bytes(parsed.response.client_data_json))
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=settings.WEBAUTHN_RP_ID,
            expected_origin=list(settings.WEBAUTHN_ORIGINS),
            credential_public_key=bytes(passkey.public_key),
            credential_current_sign_count=0,
            require_user_verification=True,
        )
    except PasskeyError:
        raise
    except (InvalidAuthenticationResponse, InvalidJSONStructure, TypeError, ValueError) as error:
        raise PasskeyError("invalid_assertion", "The passkey could not be verified.") from error
    with transaction.atomic():
        locked = _locked_row(tenant, escrow)
        _require_active(locked, now)
        stored, new_count = passkey.sign_count, verified.new_sign_count
        # A counter that did not grow (where the authenticator keeps one) is a copied passkey
        # or a replay; the compare-and-set refuses two uses at once.
        if (new_count > 0 or stored > 0) and new_count <= stored:
            raise PasskeyError("counter_regressed", "This passkey was refused. Please use a code instead.")
        updated = (
            RecipientPasskey.objects.for_tenant(tenant)
            .filter(pk=passkey.pk, sign_count=stored)
            .update(sign_count=new_count, last_used_at=now)
        )
        if updated != 1:
            raise PasskeyError("counter_regressed", "This passkey was used twice at once. Please try again.")
        access = _grant(locked, browser_token, EscrowAccessMethod.PASSKEY, True, now)
        _verified(tenant, locked, EscrowAccessMethod.PASSKEY)
    return access
