"""Links a recipient follows from an email: the preference centre, one-click unsubscribe
(RFC 8058), and the List-Unsubscribe mailto address (RFC 2369). See docs/consent-recipients.md.

A link is **opaque**: what it names (the contact, the purpose, the campaign message it came in)
is sealed, so a link that ends up in a log, a proxy, a browser history or a mailbox provider's
unsubscribe records shows no contact id, no address and nothing about the person. Only the
organisation's pk is readable, so the request is answered inside its tenant.

- **Web links** (``/r/unsubscribe/<token>/``, ``/r/preferences/<token>/``): the token is the
  unpadded base64url of::

      organisation pk (unsigned LEB128)
      | AES-SIV( issued at (u32 seconds) | message row id (u64, 0: none) | contact uuid (16)
                 | purpose key, NUL-padded to a multiple of 16 (at least 16; empty: everything),
                 associated data: label, kind, the LEB128 prefix )

  under a key derived from SECRET_KEY with a label of its own (as ``delivery.mime`` seals
  Message-IDs and ``reporting.tracking`` seals tracking tokens). SIV's 128-bit tag refuses any
  alteration, including of the organisation prefix; the kind (preferences or unsubscribe) is
  bound too, so one is never the other. SECRET_KEY_FALLBACKS still open links made before a
  key rotation. Links keep working for ``CONSENT_LINK_MAX_AGE_DAYS`` after they were issued:
  mail is read late, and RFC 8058 expects the unsubscribe link of a message to work for as long
  as that message may be read. The message row id lets an unsubscribe be counted for its
  campaign (``reporting``); links made outside a campaign message carry none.
- **Legacy web links** (``django.core.signing`` tokens ``payload:timestamp:signature`` whose
  payload is readable JSON naming the contact) are no longer issued but are still **accepted**
  (same salts, same expiry) so links already delivered keep working. Remove ``_read_legacy``
  once ``CONSENT_LINK_MAX_AGE_DAYS`` has passed since the release that stopped issuing them:
  with the default 400 days, not before **2028-01-31**.
- The mailto local part must fit RFC 5321's 64 octets, which neither token does, so it is a
  compact binary token in lower-case base32 with the contact uuid encrypted (see
  ``mailto_local_part``).

The delivery pipeline calls ``message_links(tenant=..., contact=..., purpose=..., message_id=...)``
for each message: the preference-centre URL for the footer, and the List-Unsubscribe headers.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import struct
import time
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from sealpost import derived_keys, leb128
from segments.models import Contact
from tenants.models import Organisation

PREFERENCES_SALT = "sealpost.consent.preferences"
UNSUBSCRIBE_SALT = "sealpost.consent.unsubscribe"
MAILTO_SALT = "sealpost.consent.unsubscribe-mailto"

# Web links: the kind, bound in the sealed token's associated data.
PREFERENCES = b"p"
UNSUBSCRIBE = b"u"
_LINK_LABEL = b"sealpost-consent-link/v1"
_LINK_HEAD = struct.Struct(">IQ16s")  # issued at, message row id, contact uuid
_PURPOSE_BLOCK = 16
_SIV_TAG_BYTES = 16
_WEB_TOKEN = re.compile(r"[A-Za-z0-9_-]{40,400}")

# The mailto token: "u-" + base32(version | tenant pk (LEB128) | contact uuid | [purpose tag] | MAC).
MAILTO_PREFIX = "u-"
MAILTO_VERSION_PURPOSE = 1  # legacy (readable uuid), followed by a 4-byte tag of the purpose key
MAILTO_VERSION_ALL = 2  # legacy (readable uuid), no purpose: unsubscribe from everything
MAILTO_VERSION_SEALED_PURPOSE = 3  # the contact uuid encrypted; a purpose tag follows
MAILTO_VERSION_SEALED_ALL = 4  # the contact uuid encrypted; every purpose
PURPOSE_TAG_BYTES = 4
MAC_BYTES = 8
LOCAL_PART_MAX = 64  # RFC 5321, section 4.5.3.1.1

ONE_CLICK_BODY = "List-Unsubscribe=One-Click"


class InvalidLink(ValueError):
    """A token that is malformed, altered, made for another kind or with another key, or too old."""


@dataclass(frozen=True)
class LinkTarget:
    """Whom a link is about. ``purpose`` is a purpose key, or "" for every purpose. A mailto
    token carries only a tag of the purpose: ``purpose_tag`` is set and ``purpose`` is empty
    until it is resolved against the organisation's purposes. ``message_id``: the campaign
    message the link was sent in, when it was (legacy links and mailto addresses carry none)."""

    tenant_id: int
    contact_id: uuid.UUID
    purpose: str = ""
    purpose_tag: bytes = b""
    message_id: int | None = None


def _absolute(path: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def _max_age() -> int:
    return settings.CONSENT_LINK_MAX_AGE_DAYS * 24 * 3600


def _secrets() -> list[str]:
    return derived_keys.secrets()


# --- Web links ----------------------------------------------------------------------------------


def _link_cipher(secret: str) -> AESSIV:
    return derived_keys.siv_cipher(b"sealpost-consent-link-seal", secret)


def _issued_now() -> int:
    return int(time.time())


def _padded_purpose(purpose: str) -> bytes:
    raw = purpose.encode("utf-8")
    size = max(_PURPOSE_BLOCK, -(-len(raw) // _PURPOSE_BLOCK) * _PURPOSE_BLOCK)
    return raw.ljust(size, b"\0")


def _seal(
    kind: bytes,
    *,
    tenant_id: int,
    contact_id: uuid.UUID,
    purpose: str,
    message_id: int | None,
    issued_at: int | None = None,
    secret: str | None = None,
) -> str:
    prefix = leb128.encode(int(tenant_id))
    issued = _issued_now() if issued_at is None else issued_at
    plain = _LINK_HEAD.pack(issued, int(message_id or 0), contact_id.bytes) + _padded_purpose(purpose)
    sealed = _link_cipher(_secrets()[0] if secret is None else secret).encrypt(plain, [_LINK_LABEL, kind, prefix])
    return base64.urlsafe_b64encode(prefix + sealed).decode("ascii").rstrip("=")


def _open(kind: bytes, token: str) -> LinkTarget:
    invalid = InvalidLink("The link is not valid or has expired.")  # never quotes the token
    if not _WEB_TOKEN.fullmatch(token):
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError as error:  # binascii.Error: a length no encoding has
        raise invalid from error
    if base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != token:
        raise invalid  # unused trailing bits changed: not a token we made
    read = leb128.decode(raw)
    if read is None:
        raise invalid
    tenant_id, offset = read
    prefix, sealed = raw[:offset], raw[offset:]
    if len(sealed) < _SIV_TAG_BYTES + _LINK_HEAD.size + _PURPOSE_BLOCK:
        raise invalid
    for secret in _secrets():
        try:
            plain = _link_cipher(secret).decrypt(sealed, [_LINK_LABEL, kind, prefix])
        except InvalidTag:
            continue
        issued, message_id, contact = _LINK_HEAD.unpack_from(plain)
        if time.time() - issued > _max_age():  # (issued "in the future" is only clock skew)
            raise invalid
        try:
            purpose = plain[_LINK_HEAD.size :].rstrip(b"\0").decode("utf-8")
        except UnicodeDecodeError as error:
            raise invalid from error
        return LinkTarget(tenant_id, uuid.UUID(bytes=contact), purpose, message_id=message_id or None)
    raise invalid


def _read_legacy(salt: str, token: str) -> LinkTarget:
    """A link issued before links were sealed (readable JSON payload, HMAC-signed with a
    timestamp). Accepted until the date in the module docstring; never issued."""
    try:
        payload = signing.TimestampSigner(salt=salt).unsign_object(token, max_age=_max_age())
    except (signing.BadSignature, ValueError) as error:
        # SignatureExpired is a BadSignature; the message never quotes the token.
        raise InvalidLink("The link is not valid or has expired.") from error
    if not isinstance(payload, list) or len(payload) != 3:
        raise InvalidLink("The link is not valid.")
    tenant_id, contact_hex, purpose = payload
    if not isinstance(tenant_id, int) or not isinstance(contact_hex, str) or not isinstance(purpose, str):
        raise InvalidLink("The link is not valid.")
    try:
        contact_id = uuid.UUID(hex=contact_hex)
    except ValueError as error:
        raise InvalidLink("The link is not valid.") from error
    return LinkTarget(tenant_id, contact_id, purpose)


def _read(kind: bytes, salt: str, token: str) -> LinkTarget:
    token = token or ""
    if ":" in token:  # only a legacy signing token has colons; base64url has none
        return _read_legacy(salt, token)
    return _open(kind, token)


def preference_token(*, tenant: Organisation, contact: Contact, message_id: int | None = None) -> str:
    return _seal(PREFERENCES, tenant_id=tenant.pk, contact_id=contact.pk, purpose="", message_id=message_id)


def unsubscribe_token(
    *, tenant: Organisation, contact: Contact, purpose: str | None, message_id: int | None = None
) -> str:
    return _seal(UNSUBSCRIBE, tenant_id=tenant.pk, contact_id=contact.pk, purpose=purpose or "", message_id=message_id)


def read_preference_token(token: str) -> LinkTarget:
    return _read(PREFERENCES, PREFERENCES_SALT, token)


def read_unsubscribe_token(token: str) -> LinkTarget:
    return _read(UNSUBSCRIBE, UNSUBSCRIBE_SALT, token)


def preference_centre_url(*, tenant: Organisation, contact: Contact, message_id: int | None = None) -> str:
    token = preference_token(tenant=tenant, contact=contact, message_id=message_id)
    return _absolute(reverse("consent_public:preferences", args=[token]))


def unsubscribe_url(
    *, tenant: Organisation, contact: Contact, purpose: str | None, message_id: int | None = None
) -> str:
    """The one-click unsubscribe URL; with no purpose it unsubscribes from everything. With
    ``message_id`` (the campaign message it is sent in) the unsubscribe counts for its campaign."""
    token = unsubscribe_token(tenant=tenant, contact=contact, purpose=purpose, message_id=message_id)
    return _absolute(reverse("consent_public:unsubscribe", args=[token]))


_LINK_IN_TEXT = re.compile(r"/r/(preferences|unsubscribe)/([A-Za-z0-9_:.-]+)/")


def without_link_times(text: str) -> str:
    """``text`` with each preference or unsubscribe link's token replaced by what it names
    apart from when it was issued (still sealed): two renderings of one message then compare
    equal although their links were issued at different times. A legacy link and a new one
    naming the same contact and purpose compare equal too (the message reference is set aside,
    as legacy links have none). Tokens that do not open are left as they are."""

    def stable(match: re.Match[str]) -> str:
        name, token = match.group(1), match.group(2)
        kind, salt = (PREFERENCES, PREFERENCES_SALT) if name == "preferences" else (UNSUBSCRIBE, UNSUBSCRIBE_SALT)
        try:
            target = _read(kind, salt, token)
        except InvalidLink:
            return match.group(0)
        sealed = _seal(
            kind,
            tenant_id=target.tenant_id,
            contact_id=target.contact_id,
            purpose=target.purpose,
            message_id=None,
            issued_at=0,
        )
        return f"/r/{name}/{sealed}/"

    return _LINK_IN_TEXT.sub(stable, text or "")


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


@functools.lru_cache(maxsize=8)
def _uuid_cipher(secret: str) -> Cipher[modes.ECB]:
    # One AES-256 block under a key of its own (a keyed hash of SECRET_KEY under a label, as
    # above): the uuid is exactly one block, and AES on one block is a keyed permutation, so
    # a single-block "ECB" leaks nothing but equality (the same contact gives the same token,
    # as before). The MAC over the ciphertext authenticates it (encrypt-then-MAC). AES-SIV
    # would add 16 bytes and no longer fit in 64 octets.
    key = derived_keys.derived_key(b"sealpost-consent-mailto-seal", secret, size=32)
    return Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305 - one block only, see above


def _uuid_seal(contact_id: uuid.UUID, secret: str) -> bytes:
    encryptor = _uuid_cipher(secret).encryptor()
    return encryptor.update(contact_id.bytes) + encryptor.finalize()


def _uuid_open(sealed: bytes, secret: str) -> uuid.UUID:
    decryptor = _uuid_cipher(secret).decryptor()
    return uuid.UUID(bytes=decryptor.update(sealed) + decryptor.finalize())


def mailto_local_part(*, tenant: Organisation, contact: Contact, purpose: str | None) -> str:
    """``u-`` and the lower-case, unpadded base32 of:

    ====== ========================= =================================================
    bytes  field                     note
    ====== ========================= =================================================
    1      version                   3: one purpose follows; 4: every purpose
    1-5    organisation pk           unsigned LEB128
    16     contact uuid, encrypted   AES-256 of the uuid's 16 bytes (one block)
    4      purpose tag               version 3 only: SHA-256(purpose key)[:4]
    8      MAC                       HMAC-SHA256(SECRET_KEY, salt, all of the above)[:8]
    ====== ========================= =================================================

    At most 34 bytes, so 55 base32 characters and 57 with the prefix: within the 64 octets of
    RFC 5321. Base32 because mail systems may change the case of a local part; 64 bits of MAC
    because each guess costs an email sent to us. Versions 1 and 2 (the same with the uuid in
    clear) are no longer made but still read, until the date in the module docstring.
    """
    secret = _secrets()[0]
    body = bytearray([MAILTO_VERSION_SEALED_PURPOSE if purpose else MAILTO_VERSION_SEALED_ALL])
    body += leb128.encode(tenant.pk)
    body += _uuid_seal(contact.pk, secret)
    if purpose:
        body += purpose_tag(purpose)
    token = bytes(body) + _mac(bytes(body), secret)
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
    secret = next((s for s in _secrets() if constant_time_compare(mac, _mac(body, s))), None)
    if secret is None:
        raise InvalidLink("The address is not valid.")
    version = body[0]
    tenant_id, offset = _read_leb128(body, 1)
    contact_bytes = body[offset : offset + 16]
    rest = body[offset + 16 :]
    if len(contact_bytes) != 16:
        raise InvalidLink("The address is not valid.")
    if version in (MAILTO_VERSION_ALL, MAILTO_VERSION_SEALED_ALL) and not rest:
        tag = b""
    elif version in (MAILTO_VERSION_PURPOSE, MAILTO_VERSION_SEALED_PURPOSE) and len(rest) == PURPOSE_TAG_BYTES:
        tag = rest
    else:
        raise InvalidLink("The address is not valid.")
    if version in (MAILTO_VERSION_SEALED_PURPOSE, MAILTO_VERSION_SEALED_ALL):
        contact_id = _uuid_open(contact_bytes, secret)
    else:  # legacy, until the date in the module docstring
        contact_id = uuid.UUID(bytes=contact_bytes)
    return LinkTarget(tenant_id, contact_id, "", tag)


# --- What the delivery pipeline adds to each message ---------------------------------------------


def list_unsubscribe_headers(
    *, tenant: Organisation, contact: Contact, purpose: str | None, message_id: int | None = None
) -> dict[str, str]:
    """RFC 2369 ``List-Unsubscribe`` (HTTPS first, then mailto) and RFC 8058
    ``List-Unsubscribe-Post``. The message must be DKIM-signed over both headers for mailbox
    providers to offer one-click unsubscribe."""
    url = unsubscribe_url(tenant=tenant, contact=contact, purpose=purpose, message_id=message_id)
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


def message_links(
    *, tenant: Organisation, contact: Contact, purpose: str | None, message_id: int | None = None
) -> MessageLinks:
    """Everything a message for ``purpose`` to ``contact`` needs: the footer's links and the
    unsubscribe headers. ``message_id``: the campaign message's row, so that an unsubscribe
    through these links counts for its campaign. The header's and the footer's unsubscribe
    links are one and the same URL."""
    unsubscribe = unsubscribe_url(tenant=tenant, contact=contact, purpose=purpose, message_id=message_id)
    mailto = mailto_address(tenant=tenant, contact=contact, purpose=purpose)
    return MessageLinks(
        preference_centre_url=preference_centre_url(tenant=tenant, contact=contact, message_id=message_id),
        unsubscribe_url=unsubscribe,
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>, <mailto:{mailto}?subject=unsubscribe>",
            "List-Unsubscribe-Post": ONE_CLICK_BODY,
        },
    )
