"""A scan for contact identifiers in a URL (or a header holding URLs): the contact's uuid (hex,
dashed or raw bytes), address, local part, external id and names, looked for in the value as it
is, url-decoded, and in every piece of it decoded as base64 (url-safe or not) or base32."""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote, unquote_plus


def _decodings(piece: str) -> list[bytes]:
    """Every way a piece of a URL could be decoded into bytes: base64 (url-safe or not, any
    padding) and base32 (either case)."""
    out = []
    candidates = (
        lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)),
        lambda s: base64.b64decode(s + "=" * (-len(s) % 4)),
        lambda s: base64.b32decode(s.upper() + "=" * (-len(s) % 8)),
    )
    for decode in candidates:
        for start in range(4):  # a prefix ("u-", a LEB128 byte) may shift the alignment
            try:
                out.append(decode(piece[start:]))
            except (ValueError, binascii.Error):
                continue
    return out


def _identifiers(contact) -> tuple[list[str], list[bytes]]:
    texts = [
        contact.pk.hex,
        str(contact.pk),
        contact.email,
        contact.email.split("@")[0],
        contact.external_id,
        contact.first_name,
        contact.last_name,
    ]
    return [t for t in texts if t], [contact.pk.bytes, *(t.encode() for t in texts if t)]


def assert_names_nobody(value: str, contact) -> None:
    texts, raw = _identifiers(contact)
    views = {value, unquote(value), unquote_plus(value)}
    for view in views:
        for text in texts:
            assert text.lower() not in view.lower()
    pieces = {p for view in views for p in re.split(r"[/?&=:;<>,@\s]+", view) if len(p) >= 8}
    for piece in pieces:
        for decoded in _decodings(piece):
            for needle in raw:
                assert needle not in decoded
                assert needle.lower() not in decoded.lower()
