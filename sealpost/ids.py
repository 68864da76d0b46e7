"""Time-ordered UUIDs (version 7, RFC 9562) for primary keys of tenant-owned rows.

Random enough that ids reveal nothing across tenants, ordered enough that B-tree inserts and
keyset pagination stay cheap. Python 3.12's ``uuid`` has no ``uuid7``; this is the RFC layout.
"""

from __future__ import annotations

import os
import time
import uuid


def uuid7() -> uuid.UUID:
    unix_ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (unix_ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= (rand >> 68) << 64 & (0xFFF << 64)  # 12 random bits (rand_a)
    value |= 0b10 << 62  # variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # 62 random bits (rand_b)
    return uuid.UUID(int=value)
