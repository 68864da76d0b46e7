"""Keys derived from ``SECRET_KEY`` for the opaque references Sealpost puts in mail and links
(sealed Message-IDs, tracking tokens, consent links).

``SECRET_KEY`` is high-entropy; each use hashes it under a label of its own, so no two uses share
a key. ``secrets()`` is the current key then ``SECRET_KEY_FALLBACKS``: references made before a
key rotation still open.
"""

from __future__ import annotations

import functools
import hashlib

from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from django.conf import settings


def secrets() -> list[str]:
    """``SECRET_KEY`` first, then its fallbacks (the order references are tried in)."""
    fallbacks = [str(key) for key in getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [str(getattr(settings, "SECRET_KEY", "")), *fallbacks]


def derived_key(label: bytes, secret: str, *, size: int) -> bytes:
    """``size`` bytes (32: SHA-256, 64: SHA-512) of ``label ‖ NUL ‖ secret``."""
    digest = {32: hashlib.sha256, 64: hashlib.sha512}[size]
    return digest(label + b"\0" + secret.encode()).digest()


@functools.lru_cache(maxsize=32)
def siv_cipher(label: bytes, secret: str) -> AESSIV:
    """AES-SIV with two 256-bit keys derived under ``label``."""
    return AESSIV(derived_key(label, secret, size=64))
