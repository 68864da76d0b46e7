"""LEB128, the variable-length unsigned integer encoding: a tenant id costs one byte below 128.
Links that name their organisation (consent mailto addresses, escrow tokens) put it first."""

from __future__ import annotations

MAX_BYTES = 9  # enough for any id we make (63 bits)


def encode(number: int) -> bytes:
    if number < 0:
        raise ValueError("Only non-negative ids can be encoded.")
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


def decode(data: bytes, offset: int = 0) -> tuple[int, int] | None:
    """(number, offset after it) read at ``offset``, or None when no number ends within
    ``MAX_BYTES`` bytes (or the data)."""
    number = shift = 0
    for index in range(offset, min(len(data), offset + MAX_BYTES)):
        byte = data[index]
        number |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return number, index + 1
    return None
