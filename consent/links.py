"""Signed links a recipient follows from an email: the preference centre, one-click unsubscribe
(RFC 8058), and the List-Unsubscribe mailto address (RFC 2369). See docs/consent-recipients.md.

Every token carries ids only: the organisation's pk, the contact's uuid and a purpose key (or
none, meaning "everything"). Never an email address, a name or anything else about the person,
so a link that ends up in a log, a proxy or a browser history gives nothing away.

- Web links are ``django.core.signing`` tokens (HMAC-SHA256 over the payload and a timestamp,
  one salt per kind, so a preference-centre token is no unsubscribe token and vice versa). They
  keep working for ``CONSENT_LINK_MAX_AGE_DAYS``: mail is read late, and RFC 8058 expects the
  unsubscribe link of a message to work for as long as that message may be read.
- The mailto local part must fit RFC 5321's 64 octets, which a signing token does not, so it is
  a compact binary token in lower-case base32 (see ``mailto_local_part``).

The delivery pipeline calls ``message_links(tenant=..., contact=..., purpose=...)`` for each
message: the preference-centre URL for the footer, and the List-Unsubscribe headers.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from sealpost import leb128
from segments.models import Contact
from tenants.models import Organisation

PREFERENCES_SALT = "sealpost.consent.preferences"
UNSUBSCRIBE_SALT = "sealpost.consent.unsubscribe"
MAILTO_SALT = "sealpost.consent.unsubscribe-mailto"

# The mailto token: "u-" + base32(version | tenant pk (LEB128) | contact uuid | [purpose tag] | MAC).
MAILTO_PREFIX = "u-"
MAILTO_VERSION_PURPOSE = 1  # followed by a 4-byte tag of the purpose key
MAILTO_VERSION_ALL = 2  # no purpose: unsubscribe from everything
PURPOSE_TAG_BYTES = 4
MAC_BYTES = 8
LOCAL_PART_MAX = 64  # RFC 5321, section 4.5.3.1.1

ONE_CLICK_BODY = "List-Unsubscribe=One-Click"


class InvalidLink(ValueError):
    """A token that is malformed, altered, signed with another salt or key, or too old."""


@dataclass(frozen=True)
class LinkTarget:
    """Whom a link is about. ``purpose`` is a purpose key, or "" for every purpose. A mailto
    token carries only a tag of the purpose: ``purpose_tag`` is set and ``purpose`` is empty
    until it is resolved against the organisation's purposes."""

    tenant_id: int
    contact_id: uuid.UUID
    purpose: str = ""
    purpose_tag: bytes = b""


def _absolute(path: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def _max_age() -> int:
    return settings.CONSENT_LINK_MAX_AGE_DAYS * 24 * 3600


def _sign(salt: str, payload: list[object]) -> str:
    return signing.TimestampSigner(salt=salt).sign_object(payload)


def _unsign(salt: str, token: str) -> list[object]:
    try:
        payload = signing.TimestampSigner(salt=salt).unsign_object(token, max_age=_max_age())
    except (signing.BadSignature, ValueError) as error:
        # SignatureExpired is a BadSignature; the message never quotes the token.
        raise InvalidLink("The link is not valid or has expired.") from error
    if not isinstance(payload, list) or len(payload) != 3:
        raise InvalidLink("The link is not valid.")
    return payload


def _target(payload: list[object]) -> LinkTarget:
    tenant_id, contact_hex, purpose = payload
    if not isinstance(tenant_id, int) or not isinstance(contact_hex, str) or not isinstance(purpose, str):
        raise InvalidLink("The link is not valid.")
    try:
        contact_id = uuid.UUID(hex=contact_hex)
    except ValueError as error:
        raise InvalidLink("The link is not valid.") from error
    return LinkTarget(tenant_id, contact_id, purpose)


# --- Web links ----------------------------------------------------------------------------------


def preference_token(*, tenant: Organisation, contact: Contact) -> str:
    return _sign(PREFERENCES_SALT, [tenant.pk, contact.pk.hex, ""])


def unsubscribe_token(*, tenant: Organisation, contact: Contact, purpose: str | None) -> str:
    return _sign(UNSUBSCRIBE_SALT, [tenant.pk, contact.pk.hex, purpose or ""])


def read_preference_token(token: str) -> LinkTarget:
    return _target(_unsign(PREFERENCES_SALT, token))


def read_unsubscribe_token(token: str) -> LinkTarget:
    return _target(_unsign(UNSUBSCRIBE_SALT, token))


def preference_centre_url(*, tenant: Organisation, contact: Contact) -> str:
    token = preference_token(tenant=tenant, contact=contact)
    return _absolute(reverse("consent_public:preferences", args=[token]))


def unsubscribe_url(*, tenant: Organisation, contact: Contact, purpose: str | None) -> str:
    """The one-click unsubscribe URL; with no purpose it unsubscribes from everything."""
    token = unsubscribe_token(tenant=tenant, contact=contact, purpose=purpose)
    return _absolute(reverse("consent_public:unsubscribe", args=[token]))


# --- The mailto address -------------------------------------------------------------------------


def _read_leb128(data: bytes, offset: int) -> tuple[int, int]:
    read = leb128.decode(data, offset)
    if read is None:
        raise InvalidLink("The address is not valid.")
    return read


def purpose_tag(purpose: str) -> bytes:
    """Four bytes naming a purpose key in a mailto token (resolved against the organisation's
    purposes when the mail arrives)."""
    return hashlib.sha256(purpose.encode()).digest()[:PURPOSE_TAG_BYTES]


def _mac(body: bytes, secret: str) -> bytes:
    return salted_hmac(MAILTO_SALT, body, secret=secret, algorithm="sha256").digest()[:MAC_BYTES]


def mailto_local_part(*, tenant: Organisation, contact: Contact, purpose: str | None) -> str:
    """``u-`` and the lower-case, unpadded base32 of:

    ====== ========================= =================================================
    bytes  field                     note
    ====== ========================= =================================================
    1      version                   1: one purpose follows; 2: every purpose
    1-5    organisation pk           unsigned LEB128
    16     contact uuid              raw bytes
    4      purpose tag               version 1 only: SHA-256(purpose key)[:4]
    8      MAC                       HMAC-SHA256(SECRET_KEY, salt, all of the above)[:8]
    ====== ========================= =================================================

    At most 34 bytes, so 55 base32 characters and 57 with the prefix: within the 64 octets of
    RFC 5321. Base32 because mail systems may change the case of a local part; 64 bits of MAC
    because each guess costs an email sent to us.
    """
    body = bytearray([MAILTO_VERSION_PURPOSE if purpose else MAILTO_VERSION_ALL])
    body += leb128.encode(tenant.pk)
    body += contact.pk.bytes
    if purpose:
        body += purpose_tag(purpose)
    token = bytes(body) + _mac(bytes(body), settings.SECRET_KEY)
    local = MAILTO_PREFIX + base64.b32encode(token).decode("ascii").rstrip("=").lower()
    if len(local) > LOCAL_PART_MAX:  # only an organisation pk beyond 2**35 could do this
        raise ValueError("The mailto token does not fit in a local part.")
    return local


def mailto_address(*, tenant: Organisation, contact: Contact, purpose: str | None) -> str:
    local = mailto_local_part(tenant=tenant, contact=contact, purpose=purpose)
    return f"{local}@{settings.CONSENT_UNSUBSCRIBE_MAIL_DOMAIN}"


def read_mailto_address(address: str) -> LinkTarget:
    """The target of a mailto unsubscribe address, checked against ``SECRET_KEY`` (and its
    fallbacks, so a key rotation does not break messages already sent)."""
    local, at, domain = address.strip().strip("<>").rpartition("@")
    if not at or domain.lower().rstrip(".") != settings.CONSENT_UNSUBSCRIBE_MAIL_DOMAIN.lower():
        raise InvalidLink("The address is not an unsubscribe address.")
    local = local.lower()
    if not local.startswith(MAILTO_PREFIX) or len(local) > LOCAL_PART_MAX:
        raise InvalidLink("The address is not an unsubscribe address.")
    encoded = local[len(MAILTO_PREFIX) :].upper()
    try:
        token = base64.b32decode(encoded + "=" * (-len(encoded) % 8))
    except ValueError as error:
        raise InvalidLink("The address is not valid.") from error
    if len(token) <= MAC_BYTES:
        raise InvalidLink("The address is not valid.")
    body, mac = token[:-MAC_BYTES], token[-MAC_BYTES:]
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    if not any(constant_time_compare(mac, _mac(body, secret)) for secret in secrets):
        raise InvalidLink("The address is not valid.")
    version = body[0]
    tenant_id, offset = _read_leb128(body, 1)
    contact_bytes = body[offset : offset + 16]
    rest = body[offset + 16 :]
    if len(contact_bytes) != 16:
        raise InvalidLink("The address is not valid.")
    if version == MAILTO_VERSION_ALL and not rest:
        tag = b""
    elif version == MAILTO_VERSION_PURPOSE and len(rest) == PURPOSE_TAG_BYTES:
        tag = rest
    else:
        raise InvalidLink("The address is not valid.")
    return LinkTarget(tenant_id, uuid.UUID(bytes=contact_bytes), "", tag)


# --- What the delivery pipeline adds to each message ---------------------------------------------


def list_unsubscribe_headers(*, tenant: Organisation, contact: Contact, purpose: str | None) -> dict[str, str]:
    """RFC 2369 ``List-Unsubscribe`` (HTTPS first, then mailto) and RFC 8058
    ``List-Unsubscribe-Post``. The message must be DKIM-signed over both headers for mailbox
    providers to offer one-click unsubscribe."""
    url = unsubscribe_url(tenant=tenant, contact=contact, purpose=purpose)
    mailto = mailto_address(tenant=tenant, contact=contact, purpose=purpose)
    return {
        "List-Unsubscribe": f"<{url}>, <mailto:{mailto}?subject=unsubscribe>",
        "List-Unsubscribe-Post": ONE_CLICK_BODY,
    }


@dataclass(frozen=True)
class MessageLinks:
    preference_centre_url: str
    unsubscribe_url: str
    headers: dict[str, str]


def message_links(*, tenant: Organisation, contact: Contact, purpose: str | None) -> MessageLinks:
    """Everything a message for ``purpose`` to ``contact`` needs: the footer's links and the
    unsubscribe headers."""
    return MessageLinks(
        preference_centre_url=preference_centre_url(tenant=tenant, contact=contact),
        unsubscribe_url=unsubscribe_url(tenant=tenant, contact=contact, purpose=purpose),
        headers=list_unsubscribe_headers(tenant=tenant, contact=contact, purpose=purpose),
    )
