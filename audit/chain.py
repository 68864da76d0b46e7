"""The hash chain's canonical encoding, shared by the writer, both verifiers and offline
auditors (docs/audit.md describes it for them).

    hash = SHA-256( prev_hash || enc(chain_id) || enc(seq) || enc(occurred_at_us) || enc(action)
                    || enc(actor_type) || enc(actor_id) || enc(actor_label) || enc(target_type)
                    || enc(target_id) || enc(request_id) || enc(ip) || enc(user_agent) || enc(details) )
    enc(x) = <number of characters in x> ":" x      (x as text; integers in decimal)

Length prefixes make the encoding unambiguous whatever the fields contain, and the same
expression is computed inside PostgreSQL (``SQL_HASH_EXPRESSION``) for fast verification.
``occurred_at_us`` is microseconds since the Unix epoch, UTC.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

GENESIS_HASH = "0" * 64
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)

# Column order of the hashed fields after prev_hash.
HASHED_COLUMNS = (
    "chain_id",
    "seq",
    "occurred_at",
    "action",
    "actor_type",
    "actor_id",
    "actor_label",
    "target_type",
    "target_id",
    "request_id",
    "ip",
    "user_agent",
    "details",
)


def to_microseconds(moment: datetime) -> int:
    return (moment - EPOCH) // ONE_MICROSECOND


_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_details(details: dict[str, Any] | None) -> str:
    return _CANONICAL_JSON.encode(details or {})


def hash_encoded(prev_hash: str, texts: Sequence[str]) -> str:
    """The hash from the previous hash and the hashed fields already as text, in
    ``HASHED_COLUMNS`` order (``occurred_at`` as its microseconds). The hot path of appending."""
    return hashlib.sha256((prev_hash + "".join([f"{len(text)}:{text}" for text in texts])).encode("utf-8")).hexdigest()


_OCCURRED_AT = HASHED_COLUMNS.index("occurred_at")


def event_hash(prev_hash: str, values: Sequence[Any]) -> str:
    """``values`` in ``HASHED_COLUMNS`` order, ``occurred_at`` as a datetime."""
    texts = [str(value) for value in values]
    texts[_OCCURRED_AT] = str(to_microseconds(values[_OCCURRED_AT]))
    return hash_encoded(prev_hash, texts)


def _sql_enc(expression: str) -> str:
    return f"length({expression})::text || ':' || {expression}"


SQL_HASH_EXPRESSION = "encode(pg_catalog.sha256(convert_to(prev_hash || {parts}, 'UTF8')), 'hex')".format(
    parts=" || ".join(
        _sql_enc(
            "((extract(epoch from occurred_at) * 1000000)::bigint)::text"
            if column == "occurred_at"
            else f"({column})::text"
        )
        for column in HASHED_COLUMNS
    )
)
