"""Verifying the chains: recompute every hash, check every link, and hold the chain to its
signed checkpoints so that a truncated tail is caught as well as an edit, a deletion, an
insertion or a reordering.

Two engines compute the same thing: ``sql`` inside PostgreSQL (fast; the default there) and
``python`` here (for SQLite, and as an independent check that does not trust the database's
own arithmetic). Both report the first broken sequence number.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.chain import GENESIS_HASH, HASHED_COLUMNS, SQL_HASH_EXPRESSION, event_hash, to_microseconds
from audit.models import GLOBAL_CHAIN, AuditChainHead, AuditCheckpoint, AuditEvent
from audit.services import global_chain_access
from encryption.keyfile import read_key_file
from tenants.context import tenant_context
from tenants.models import Organisation

VERIFY_CHUNK = 20_000


@dataclass(frozen=True)
class ChainReport:
    chain_id: int
    tenant_slug: str | None
    events: int
    head_hash: str
    first_broken_seq: int | None = None
    problem: str = ""
    checkpoint_seq: int | None = None

    @property
    def ok(self) -> bool:
        return self.first_broken_seq is None and not self.problem

    def describe(self) -> str:
        name = self.tenant_slug or "global"
        if self.ok:
            anchored = f", anchored by checkpoint at #{self.checkpoint_seq}" if self.checkpoint_seq else ""
            return f"chain {name}: {self.events} events verified{anchored}"
        where = f" at event #{self.first_broken_seq}" if self.first_broken_seq is not None else ""
        return f"chain {name}: BROKEN{where}: {self.problem}"


# --- Checkpoints -------------------------------------------------------------------------------


def checkpoint_private_key() -> Ed25519PrivateKey:
    """Ed25519, so auditors can check checkpoints with the public key alone."""
    return Ed25519PrivateKey.from_private_bytes(read_key_file(settings.AUDIT_CHECKPOINT_KEY_FILE))


def public_key_hex(private_key: Ed25519PrivateKey) -> str:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def key_id_of(public_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(public_hex)).hexdigest()[:16]


def checkpoint_message(chain_id: int, seq: int, head_hash: str, created_at_us: int) -> bytes:
    return f"sealpost-audit-checkpoint|{chain_id}|{seq}|{head_hash}|{created_at_us}".encode()


def checkpoint_as_dict(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    return {
        "chain_id": checkpoint.chain_id,
        "seq": checkpoint.seq,
        "head_hash": checkpoint.head_hash,
        "created_at": checkpoint.created_at.isoformat(),
        "created_at_us": to_microseconds(checkpoint.created_at),
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
    }


def write_checkpoint(tenant: Organisation | None) -> AuditCheckpoint | None:
    """Sign the chain's current head; also append it to the checkpoint log outside the database.
    Nothing is written for an empty chain or one whose head is already checkpointed."""
    key = checkpoint_private_key()
    chain_id = GLOBAL_CHAIN if tenant is None else tenant.pk
    with transaction.atomic(), global_chain_access(chain_id):
        head = AuditChainHead.objects.filter(chain_id=chain_id).first()
        if head is None or head.last_seq == 0:
            return None
        latest = AuditCheckpoint.objects.filter(chain_id=chain_id).order_by("-seq").first()
        if latest is not None and latest.seq == head.last_seq:
            return None
        created_at = timezone.now()
        message = checkpoint_message(chain_id, head.last_seq, head.last_hash, to_microseconds(created_at))
        checkpoint = AuditCheckpoint.objects.create(
            chain_id=chain_id,
            tenant=tenant,
            seq=head.last_seq,
            head_hash=head.last_hash,
            created_at=created_at,
            key_id=key_id_of(public_key_hex(key)),
            signature=key.sign(message).hex(),
        )
    _append_to_checkpoint_log(checkpoint)
    return checkpoint


def _append_to_checkpoint_log(checkpoint: AuditCheckpoint) -> None:
    path: Path = settings.AUDIT_CHECKPOINT_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:
        log.write(json.dumps(checkpoint_as_dict(checkpoint), sort_keys=True) + "\n")


def read_checkpoint_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def valid_checkpoint_signature(public_key: Ed25519PublicKey, entry: dict[str, Any]) -> bool:
    message = checkpoint_message(
        int(entry["chain_id"]), int(entry["seq"]), str(entry["head_hash"]), int(entry["created_at_us"])
    )
    try:
        public_key.verify(bytes.fromhex(str(entry["signature"])), message)
    except (InvalidSignature, ValueError):
        return False
    return True


# --- Chain verification ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Break:
    seq: int
    problem: str


_RANGE_SQL = f"""
    WITH ordered AS (
        SELECT seq, prev_hash, hash,
               lag(hash) OVER (ORDER BY seq) AS expected_prev,
               %(before)s + row_number() OVER (ORDER BY seq) AS position,
               {SQL_HASH_EXPRESSION} AS computed
        FROM audit_auditevent WHERE chain_id = %(chain)s AND seq > %(before)s AND seq <= %(last)s
    )
    SELECT seq, position, seq <> position, prev_hash <> coalesce(expected_prev, %(start_hash)s), computed <> hash
    FROM ordered
    WHERE seq <> position OR prev_hash <> coalesce(expected_prev, %(start_hash)s) OR computed <> hash
    ORDER BY seq LIMIT 1
"""  # noqa: S608 - the expression is our own constant

# Chains at least this long are verified in parallel seq ranges, one database connection each:
# recomputing hashes is CPU-bound in the server, and one query uses one core.
PARALLEL_VERIFY_MIN_EVENTS = 100_000
PARALLEL_VERIFY_WORKERS = max(2, min(4, os.cpu_count() or 2))


def _range_break(chain_id: int, before: int, last: int) -> _Break | None:
    """The first break among events ``before+1 .. last``, linking the first to event ``before``."""
    start_hash = GENESIS_HASH
    if before > 0:
        found = AuditEvent.objects.filter(chain_id=chain_id, seq=before).values_list("hash", flat=True).first()
        if found is None:
            return _Break(before, f"event #{before} is missing")
        start_hash = found
    with connection.cursor() as cursor:
        cursor.execute(_RANGE_SQL, {"chain": chain_id, "before": before, "last": last, "start_hash": start_hash})
        row = cursor.fetchone()
    return None if row is None else _describe_break(*row)


def _max_seq(chain_id: int) -> int:
    last = AuditEvent.objects.filter(chain_id=chain_id).order_by("-seq").values_list("seq", flat=True).first()
    return int(last or 0)


def _range_break_in_thread(tenant: Organisation | None, chain_id: int, before: int, last: int) -> _Break | None:
    try:
        if tenant is None:
            with transaction.atomic(), global_chain_access(chain_id):
                return _range_break(chain_id, before, last)
        with tenant_context(tenant):
            return _range_break(chain_id, before, last)
    finally:
        connection.close()


def _first_break_sql(tenant: Organisation | None, chain_id: int) -> _Break | None:
    last = _max_seq(chain_id)
    if last < PARALLEL_VERIFY_MIN_EVENTS:
        return _range_break(chain_id, 0, last)
    # Committed data only: each worker has its own connection and transaction.
    step = -(-last // PARALLEL_VERIFY_WORKERS)
    bounds = [(start, min(start + step, last)) for start in range(0, last, step)]
    with ThreadPoolExecutor(max_workers=len(bounds)) as pool:
        results = list(pool.map(lambda bound: _range_break_in_thread(tenant, chain_id, *bound), bounds))
    breaks = [result for result in results if result is not None]
    return min(breaks, key=lambda found: found.seq) if breaks else None


def _describe_break(seq: int, position: int, gap: bool, bad_link: bool, bad_hash: bool) -> _Break:
    if gap:
        if seq > position:
            return _Break(position, f"event #{position} is missing (the next one present is #{seq})")
        return _Break(seq, "sequence numbers are out of order")
    if bad_hash:
        return _Break(seq, "the event's contents do not match its hash (edited or reordered)")
    return _Break(seq, "the event does not link to the one before it (inserted, deleted or reordered)")


def _rows(chain_id: int) -> Iterator[tuple[Any, ...]]:
    columns = (*HASHED_COLUMNS, "prev_hash", "hash")
    queryset = AuditEvent.objects.filter(chain_id=chain_id).order_by("seq").values_list(*columns)
    yield from queryset.iterator(chunk_size=VERIFY_CHUNK)


def first_break_python(rows: Iterable[tuple[Any, ...]]) -> tuple[_Break | None, int, str]:
    """Walk rows (``HASHED_COLUMNS`` + prev_hash + hash, in seq order). Returns the first break,
    the number of rows and the last hash."""
    seq_index = HASHED_COLUMNS.index("seq")
    expected_prev = GENESIS_HASH
    position = 0
    for row in rows:
        position += 1
        values, prev_hash, digest = row[: len(HASHED_COLUMNS)], row[-2], row[-1]
        seq = values[seq_index]
        gap = seq != position
        bad_link = prev_hash != expected_prev
        bad_hash = event_hash(prev_hash, values) != digest
        if gap or bad_link or bad_hash:
            return _describe_break(seq, position, gap, bad_link, bad_hash), position, digest
        expected_prev = digest
    return None, position, expected_prev


def _chain_summary(chain_id: int) -> tuple[int, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), (SELECT hash FROM audit_auditevent WHERE chain_id = %s ORDER BY seq DESC LIMIT 1) "
            "FROM audit_auditevent WHERE chain_id = %s",
            [chain_id, chain_id],
        )
        count, head_hash = cursor.fetchone()
    return int(count), head_hash or GENESIS_HASH


def _event_hash_at(chain_id: int, seq: int) -> str | None:
    return AuditEvent.objects.filter(chain_id=chain_id, seq=seq).values_list("hash", flat=True).first()


def _check_checkpoints(
    chain_id: int, events: int, checkpoints: list[dict[str, Any]], public_key: Ed25519PublicKey
) -> tuple[_Break | None, int | None]:
    """Every checkpoint must carry a valid signature and match the chain; the chain must be at
    least as long as the newest one."""
    anchored = None
    for entry in sorted(checkpoints, key=lambda item: item["seq"]):
        if not valid_checkpoint_signature(public_key, entry):
            return _Break(entry["seq"], "a checkpoint's signature is invalid (forged or altered)"), anchored
        if entry["seq"] > events:
            return (
                _Break(events + 1, f"events from #{events + 1} to #{entry['seq']} are missing (tail removed)"),
                anchored,
            )
        if _event_hash_at(chain_id, entry["seq"]) != entry["head_hash"]:
            return _Break(entry["seq"], "the chain does not match its signed checkpoint (rewritten)"), anchored
        anchored = entry["seq"]
    return None, anchored


def verify_chain(
    tenant: Organisation | None, *, engine: str | None = None, extra_checkpoints: list[dict[str, Any]] | None = None
) -> ChainReport:
    chain_id = GLOBAL_CHAIN if tenant is None else tenant.pk
    engine = engine or ("sql" if connection.vendor == "postgresql" else "python")
    with transaction.atomic(), global_chain_access(chain_id):
        if engine == "sql":
            broken = _first_break_sql(tenant, chain_id)
            events, head_hash = _chain_summary(chain_id)
        else:
            broken, _, _ = first_break_python(_rows(chain_id))
            events, head_hash = _chain_summary(chain_id)
        stored = [checkpoint_as_dict(c) for c in AuditCheckpoint.objects.filter(chain_id=chain_id)]
        checkpoints = stored + [c for c in (extra_checkpoints or []) if c["chain_id"] == chain_id]
        anchored = None
        if broken is None and checkpoints:
            public_key = checkpoint_private_key().public_key()
            broken, anchored = _check_checkpoints(chain_id, events, checkpoints, public_key)
    slug = tenant.slug if tenant is not None else None
    if broken is None:
        return ChainReport(chain_id, slug, events, head_hash, checkpoint_seq=anchored)
    return ChainReport(chain_id, slug, events, head_hash, broken.seq, broken.problem)


def verify_all(
    *, tenant: Organisation | None = None, engine: str | None = None, checkpoint_log: Path | None = None
) -> list[ChainReport]:
    """Verify one tenant's chain, or every chain (each tenant's and the global one)."""
    extra = read_checkpoint_log(checkpoint_log) if checkpoint_log else []
    if tenant is not None:
        with tenant_context(tenant):
            return [verify_chain(tenant, engine=engine, extra_checkpoints=extra)]
    reports = [verify_chain(None, engine=engine, extra_checkpoints=extra)]
    for organisation in Organisation.objects.order_by("pk"):
        with tenant_context(organisation):
            reports.append(verify_chain(organisation, engine=engine, extra_checkpoints=extra))
    return reports


# --- Offline verification of a JSON export ---------------------------------------------------


@dataclass(frozen=True)
class ExportReport:
    events: int
    checkpoints_verified: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_export(document: dict[str, Any], *, trusted_public_key_hex: str | None = None) -> ExportReport:
    """Check an export without the database: every event's hash, every link between consecutive
    events, and every checkpoint's signature and (where its event is in the export) its hash.

    ``trusted_public_key_hex`` is the checkpoint key obtained out of band; without it the key in
    the file is used, which proves integrity only against someone who could not replace it.
    """
    problems: list[str] = []
    key_hex = trusted_public_key_hex or str(document.get("checkpoint_public_key", ""))
    if trusted_public_key_hex and document.get("checkpoint_public_key") != trusted_public_key_hex:
        problems.append("the export names a different checkpoint key than the trusted one")
    events = sorted(document.get("events", []), key=lambda event: event["seq"])
    by_seq: dict[int, str] = {}
    previous: dict[str, Any] | None = None
    for event in events:
        values = [
            datetime.fromisoformat(event["occurred_at"]) if column == "occurred_at" else event[column]
            for column in HASHED_COLUMNS
        ]
        if event_hash(event["prev_hash"], values) != event["hash"]:
            problems.append(f"event #{event['seq']}: contents do not match its hash")
        if previous is not None and event["seq"] == previous["seq"] + 1 and event["prev_hash"] != previous["hash"]:
            problems.append(f"event #{event['seq']}: does not link to event #{previous['seq']}")
        if previous is None and event["seq"] == 1 and event["prev_hash"] != GENESIS_HASH:
            problems.append("event #1: does not start from the genesis hash")
        by_seq[event["seq"]] = event["hash"]
        previous = event
    verified = 0
    try:
        public_key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key_hex))
    except ValueError:
        problems.append("the checkpoint public key is not a valid Ed25519 key")
        return ExportReport(len(events), 0, problems)
    for checkpoint in document.get("checkpoints", []):
        if not valid_checkpoint_signature(public_key, checkpoint):
            problems.append(f"checkpoint at #{checkpoint['seq']}: invalid signature")
            continue
        if checkpoint["seq"] in by_seq and by_seq[checkpoint["seq"]] != checkpoint["head_hash"]:
            problems.append(f"checkpoint at #{checkpoint['seq']}: the event there has a different hash")
            continue
        verified += 1
    return ExportReport(len(events), verified, problems)
