"""The escrow store: messages the protection policy keeps off the recipient's mail server, held
encrypted under the organisation's keys for pickup in the recipient portal (``encryption.portal``).

* ``escrow_store`` keeps a rendered message (subject, HTML, text; envelope-encrypted like every
  PHI field) with its expiry (the organisation's ``EscrowSettings``, 30 days by default) and
  returns the link token. The token is 24 random bytes after the organisation's id, base64url
  (no PHI, ≥ 128 random bits); only its SHA-256 is stored, so a database copy opens nothing. A
  campaign message is escrowed once: storing it again (its notice was deferred) keeps the
  content and issues a new token, so only the notice that finally went out works.
* ``escrow_notice`` is the notice: the organisation's name, the neutral subject it chose, the
  link and the expiry date. It never contains the message, the recipient's name or anything
  from the contact: the test scans it against the message's findings.
* ``escrow_retract`` (the sender takes it back) and ``escrow_expire_due`` (a beat task) delete
  the content; the row, its dates and the audit log remain.
* ``escrow_from_token`` finds the message a link names (``None`` for anything else), for the
  portal, without telling an unknown token from an expired one's hash.

Every step is audited with ids and dates only (actor: the sender, the system or the recipient).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from audit.services import Target, actor_for_user, record, system_actor
from authn.models import User
from encryption.models import MAX_ESCROW_DAYS, EscrowedMessage, EscrowReply, EscrowSettings, EscrowStatus
from sealpost import leb128
from tenants.context import require_tenant_is_current, tenant_context
from tenants.models import Organisation
from tenants.tasks import active_organisation

TOKEN_RANDOM_BYTES = 24  # 192 bits
ESCROW_ACTOR = system_actor("encryption.escrow")
PORTAL_PATH = "/secure/"


class EscrowUnavailable(LookupError):
    """The escrowed message was retracted or expired: nothing can be sent or read."""


# --- Settings -------------------------------------------------------------------------------------


def escrow_settings_for(*, tenant: Organisation) -> EscrowSettings:
    """The organisation's escrow settings, created with the defaults on first use."""
    require_tenant_is_current(tenant)
    found = EscrowSettings.objects.for_tenant(tenant).first()
    if found is not None:
        return found
    with transaction.atomic():
        found, _ = EscrowSettings.objects.for_tenant(tenant).get_or_create(tenant=tenant)
    return found


# --- Tokens ---------------------------------------------------------------------------------------


def new_token(tenant: Organisation) -> str:
    raw = leb128.encode(tenant.pk) + secrets.token_bytes(TOKEN_RANDOM_BYTES)
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def tenant_id_of_token(token: str) -> int | None:
    """The organisation a well-formed token names (not proof that it is valid)."""
    if not 20 <= len(token) <= 80 or not all(c.isalnum() or c in "-_" for c in token):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        return None
    read = leb128.decode(raw)
    if read is None or len(raw) - read[1] != TOKEN_RANDOM_BYTES:
        return None
    return read[0]


def portal_url(token: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{PORTAL_PATH}{token}/"


# --- Storing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    escrow: EscrowedMessage
    token: str


def escrow_store(
    *,
    tenant: Organisation,
    recipient_email: str,
    from_name: str,
    from_address: str,
    subject: str,
    html: str,
    text: str,
    level: str,
    contact: Any = None,
    campaign: Any = None,
    message_id: int | None = None,
    now: datetime | None = None,
) -> Stored:
    """Hold a rendered message for pickup (or, for a campaign message held before, issue a new
    link token for it). Raises EscrowUnavailable if that earlier copy was retracted or expired."""
    require_tenant_is_current(tenant)
    now = now or timezone.now()
    token = new_token(tenant)
    with transaction.atomic():
        existing = None
        if message_id is not None:
            existing = (
                EscrowedMessage.objects.for_tenant(tenant).select_for_update().filter(message_id=message_id).first()
            )
        if existing is not None:
            if existing.status != EscrowStatus.ACTIVE:
                raise EscrowUnavailable("This message was retracted or has expired.")
            existing.token_hash = token_hash(token)
            existing.save(update_fields=["token_hash"])
            return Stored(existing, token)
        days = escrow_settings_for(tenant=tenant).expiry_days
        escrow = EscrowedMessage.objects.create(
            tenant=tenant,
            contact=contact,
            campaign=campaign,
            message_id=message_id,
            recipient_email=recipient_email,
            from_name=from_name[:100],
            from_address=from_address,
            subject=subject,
            html=html,
            text=text,
            level=level,
            token_hash=token_hash(token),
            expires_at=now + timedelta(days=days),
        )
        record(
            tenant=tenant,
            action="escrow.stored",
            actor=ESCROW_ACTOR,
            target=Target.of(escrow),
            details={"expires_at": escrow.expires_at.isoformat(), **({"message": message_id} if message_id else {})},
        )
    return Stored(escrow, token)


def escrow_notice_sent(*, tenant: Organisation, escrow_ids: list[Any], now: datetime | None = None) -> int:
    """Record that the notices of these escrowed messages were handed to a mail server."""
    require_tenant_is_current(tenant)
    now = now or timezone.now()
    rows = list(EscrowedMessage.objects.for_tenant(tenant).filter(pk__in=escrow_ids, notice_sent_at__isnull=True))
    EscrowedMessage.objects.for_tenant(tenant).filter(pk__in=[r.pk for r in rows]).update(notice_sent_at=now)
    for escrow in rows:
        record(tenant=tenant, action="escrow.notice_sent", actor=ESCROW_ACTOR, target=Target.of(escrow))
    return len(rows)


# --- The notice -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    subject: str
    html: str
    text: str


def escrow_notice(*, tenant: Organisation, escrow: EscrowedMessage, token: str, unsubscribe_url: str = "") -> Notice:
    """The PHI-free notice: who sent it, the neutral subject, the link, until when it works and
    (for a campaign message) the recipient's unsubscribe link, as every campaign message has."""
    settings_row = escrow_settings_for(tenant=tenant)
    context = {
        "organisation": tenant.name,
        "sender": escrow.from_name or tenant.name,
        "url": portal_url(token),
        "expires_on": escrow.expires_at.strftime("%d %B %Y"),
        "brand_colour": settings_row.brand_colour,
        "unsubscribe_url": unsubscribe_url,
    }
    return Notice(
        subject=settings_row.notice_subject,
        html=render_to_string("encryption/escrow_notice.html", context),
        text=render_to_string("encryption/escrow_notice.txt", context),
    )


# --- Retraction and expiry ------------------------------------------------------------------------


def _delete_content(escrow: EscrowedMessage, status: str, now: datetime) -> None:
    escrow.subject = None  # type: ignore[assignment]
    escrow.html = None  # type: ignore[assignment]
    escrow.text = None  # type: ignore[assignment]
    escrow.status = status
    escrow.content_deleted_at = now


def escrow_retract(*, tenant: Organisation, user: User, escrow: EscrowedMessage) -> EscrowedMessage:
    """The sender takes the message back: its content is deleted now; the link shows that it
    was withdrawn."""
    require_tenant_is_current(tenant)
    now = timezone.now()
    with transaction.atomic():
        locked = EscrowedMessage.objects.for_tenant(tenant).select_for_update().get(pk=escrow.pk)
        if locked.status != EscrowStatus.ACTIVE:
            raise EscrowUnavailable("This message was already retracted or has expired.")
        _delete_content(locked, EscrowStatus.RETRACTED, now)
        locked.retracted_at, locked.retracted_by = now, user
        locked.save()
        record(tenant=tenant, action="escrow.retracted", actor=actor_for_user(user), target=Target.of(locked))
    return locked


def escrow_expire_due(*, tenant: Organisation, now: datetime | None = None, limit: int = 500) -> int:
    """Delete the content of this organisation's escrowed messages past their expiry."""
    require_tenant_is_current(tenant)
    now = now or timezone.now()
    expired = 0
    with transaction.atomic():
        due = list(
            EscrowedMessage.objects.for_tenant(tenant)
            .select_for_update(skip_locked=True)
            .filter(status=EscrowStatus.ACTIVE, expires_at__lte=now)
            .order_by("expires_at")[:limit]
        )
        for escrow in due:
            _delete_content(escrow, EscrowStatus.EXPIRED, now)
            escrow.save()
            record(tenant=tenant, action="escrow.expired", actor=ESCROW_ACTOR, target=Target.of(escrow))
            expired += 1
    return expired


def escrow_expire_all(*, now: datetime | None = None) -> int:
    """The beat task's body: every active organisation in turn."""
    total = 0
    for organisation in Organisation.objects.filter(is_active=True).order_by("pk"):
        with tenant_context(organisation):
            total += escrow_expire_due(tenant=organisation, now=now)
    return total


# --- Finding a link's message ---------------------------------------------------------------------


def escrow_from_token(token: str) -> tuple[Organisation, EscrowedMessage] | None:
    """The organisation and escrowed message a link token names, or None (malformed, unknown,
    the organisation gone). Expired and retracted messages are returned: the portal says so."""
    tenant_id = tenant_id_of_token(token)
    if tenant_id is None:
        return None
    tenant = active_organisation(tenant_id)
    if tenant is None:
        return None
    with tenant_context(tenant):
        escrow = EscrowedMessage.objects.for_tenant(tenant).filter(token_hash=token_hash(token)).first()
    return (tenant, escrow) if escrow is not None else None


# --- Staff pages: lists, replies, settings --------------------------------------------------------


def escrow_list(*, tenant: Organisation, status: str = "", limit: int = 200) -> list[EscrowedMessage]:
    """Escrowed messages, newest first (metadata only is shown: the content stays encrypted)."""
    require_tenant_is_current(tenant)
    rows = EscrowedMessage.objects.for_tenant(tenant).select_related("contact", "campaign")
    if status:
        rows = rows.filter(status=status)
    return list(rows.defer("subject", "html", "text")[:limit])


def escrow_get(*, tenant: Organisation, escrow_id: Any) -> EscrowedMessage:
    from django.http import Http404

    require_tenant_is_current(tenant)
    try:
        found = EscrowedMessage.objects.for_tenant(tenant).filter(pk=escrow_id).first()
    except (ValueError, TypeError):
        found = None
    if found is None:
        raise Http404("No such escrowed message.")
    return found


def contact_escrow_history(*, tenant: Organisation, contact: Any, limit: int = 50) -> list[EscrowedMessage]:
    """A contact's escrowed messages (newest first), for their page: dates and status only."""
    require_tenant_is_current(tenant)
    return list(
        EscrowedMessage.objects.for_tenant(tenant)
        .filter(contact=contact)
        .select_related("campaign")
        .defer("subject", "html", "text")[:limit]
    )


def reply_list(*, tenant: Organisation, unread_only: bool = False, limit: int = 200) -> list[EscrowReply]:
    require_tenant_is_current(tenant)
    rows = EscrowReply.objects.for_tenant(tenant).select_related("escrow", "contact", "read_by").defer("body")
    if unread_only:
        rows = rows.filter(read_at__isnull=True)
    return list(rows.order_by(F("read_at").asc(nulls_first=True), "-created_at")[:limit])


def contact_replies(*, tenant: Organisation, contact: Any, limit: int = 50) -> list[EscrowReply]:
    require_tenant_is_current(tenant)
    return list(EscrowReply.objects.for_tenant(tenant).filter(contact=contact).defer("body")[:limit])


def reply_get(*, tenant: Organisation, reply_id: Any) -> EscrowReply:
    from django.http import Http404

    require_tenant_is_current(tenant)
    try:
        found = EscrowReply.objects.for_tenant(tenant).select_related("escrow", "contact").filter(pk=reply_id).first()
    except (ValueError, TypeError):
        found = None
    if found is None:
        raise Http404("No such reply.")
    return found


def reply_read(*, tenant: Organisation, user: User, reply: EscrowReply) -> EscrowReply:
    """A member opens a reply (its text is PHI): audited every time, marked read the first."""
    require_tenant_is_current(tenant)
    with transaction.atomic():
        if reply.read_at is None:
            reply.read_at, reply.read_by = timezone.now(), user
            reply.save(update_fields=["read_at", "read_by"])
        record(tenant=tenant, action="escrow.reply_read", actor=actor_for_user(user), target=Target.of(reply))
    return reply


class EscrowSettingsInvalid(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


CHOOSE_A_FIELD = "Choose one of the contact fields or attributes."
PROMPT_NEEDED = "Tell the recipient what to enter, e.g. “Your date of birth (MM/DD/YYYY)”."
LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
LOGO_MAX_BYTES = 200_000


def logo_type_of(data: bytes) -> str | None:
    """PNG or JPEG by their magic bytes (an SVG could carry script: refused)."""
    for magic, content_type in LOGO_TYPES.items():
        if data.startswith(magic):
            return content_type
    return None


def escrow_settings_update(
    *,
    tenant: Organisation,
    user: User,
    expiry_days: int,
    notice_subject: str,
    shared_secret_field: str,
    shared_secret_prompt: str,
    allow_passkeys: bool,
    brand_colour: str,
    logo: bytes | None = None,
    remove_logo: bool = False,
) -> EscrowSettings:
    """Validate and save the organisation's escrow settings (EscrowSettingsInvalid names each
    bad field); audited with what changed, never values that could be PHI."""
    import re

    from encryption.dlp import classify
    from templates.fields import merge_fields

    require_tenant_is_current(tenant)
    errors: dict[str, str] = {}
    if not 1 <= expiry_days <= MAX_ESCROW_DAYS:
        errors["expiry_days"] = f"Between 1 and {MAX_ESCROW_DAYS} days."
    notice_subject = notice_subject.strip()
    if not notice_subject:
        errors["notice_subject"] = "The notice needs a subject."
    elif classify(notice_subject).findings:
        errors["notice_subject"] = (
            "Keep the subject neutral: it must not name a person, a date, a number or a health matter."
        )
    shared_secret_field = shared_secret_field.strip()
    if shared_secret_field:
        field = merge_fields(tenant=tenant).get(shared_secret_field)
        if field is None or not shared_secret_field.startswith(("contact.", "attributes.")):
            errors["shared_secret_field"] = CHOOSE_A_FIELD
        elif not shared_secret_prompt.strip():
            errors["shared_secret_prompt"] = PROMPT_NEEDED
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", brand_colour or ""):
        errors["brand_colour"] = "A colour such as #0b6e69."
    logo_type = None
    if logo is not None:
        logo_type = logo_type_of(logo)
        if logo_type is None:
            errors["logo"] = "Upload a PNG or JPEG image."
        elif len(logo) > LOGO_MAX_BYTES:
            errors["logo"] = f"The logo can be at most {LOGO_MAX_BYTES // 1000} KB."
    if errors:
        raise EscrowSettingsInvalid(errors)
    row = escrow_settings_for(tenant=tenant)
    before = _settings_snapshot(row)
    row.expiry_days = expiry_days
    row.notice_subject = notice_subject[:150]
    row.shared_secret_field = shared_secret_field
    row.shared_secret_prompt = shared_secret_prompt.strip()[:150] if shared_secret_field else ""
    row.allow_passkeys = allow_passkeys
    row.brand_colour = brand_colour.lower()
    if remove_logo:
        row.logo, row.logo_type = None, ""
    elif logo is not None and logo_type is not None:
        row.logo, row.logo_type = logo, logo_type
    row.updated_by = user
    with transaction.atomic():
        row.save()
        after = _settings_snapshot(row)
        changed = sorted(key for key in after if after[key] != before[key])
        record(
            tenant=tenant,
            action="escrow.settings_changed",
            actor=actor_for_user(user),
            target=Target.of(row),
            details={"changed": changed},
        )
    return row


def _settings_snapshot(row: EscrowSettings) -> dict[str, Any]:
    return {
        "expiry_days": row.expiry_days,
        "notice_subject": row.notice_subject,
        "shared_secret_field": row.shared_secret_field,
        "shared_secret_prompt": row.shared_secret_prompt,
        "allow_passkeys": row.allow_passkeys,
        "brand_colour": row.brand_colour,
        "logo": hashlib.sha256(bytes(row.logo or b"")).hexdigest(),
    }
