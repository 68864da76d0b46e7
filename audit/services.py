"""Writing the audit log: ``record`` for one event inside the caller's transaction, and
``record_many`` for the send pipeline's thousands.

Appends to one chain are serialised by locking that chain's head row (``SELECT ... FOR
UPDATE``) until the caller's transaction ends, so concurrent writers always leave a single valid
chain; different tenants' chains append in parallel.
"""

from __future__ import annotations

import contextvars
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg
from django.db import connection, transaction
from django.utils import timezone

from audit.actions import check_action
from audit.chain import GENESIS_HASH, canonical_details, hash_encoded, to_microseconds
from audit.models import GLOBAL_CHAIN, ActorType, AuditChainHead, AuditEvent
from sealpost.request_id import get_client, get_request_id
from tenants.context import current_tenant, set_local

if TYPE_CHECKING:
    from authn.models import ApiToken, User
    from tenants.models import Organisation

AUDIT_GLOBAL_GUC = "sealpost.audit_global"
# Rows per INSERT statement in record_many.
INSERT_BATCH_SIZE = 1000

# What may appear in ``details``: identifiers, field and action names, small numbers, booleans.
# Anything with spaces or an "@" (names, emails, free text) is refused, so PHI values cannot be
# stored there even by mistake.
_DETAIL_KEY = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_DETAIL_TEXT = re.compile(r"^[A-Za-z0-9_.:/+=-]{0,100}$")
_MAX_DETAIL_ITEMS = 1_000


# While a request runs under emergency (break-glass) access: (tenant id, grant id). Every event
# written to that tenant's chain meanwhile carries ``details["break_glass"]`` = the grant id. Set
# by tenant resolution, cleared at the start and end of every request (audit.signals).
_break_glass: contextvars.ContextVar[tuple[int, str] | None] = contextvars.ContextVar(
    "sealpost_break_glass", default=None
)


def mark_break_glass(tenant_id: int | None, grant_id: str | None) -> None:
    """Tag (or, with ``None``, stop tagging) the current request's events with a break-glass grant."""
    _break_glass.set((tenant_id, grant_id) if tenant_id is not None and grant_id else None)


def current_break_glass() -> tuple[int, str] | None:
    return _break_glass.get()


class UnsafeAuditDetails(ValueError):
    """``details`` held something that may be PHI. The message never repeats the value."""


@dataclass(frozen=True)
class Actor:
    type: ActorType
    id: str = ""
    label: str = ""


SYSTEM = Actor(ActorType.SYSTEM, "", "system")
ANONYMOUS = Actor(ActorType.ANONYMOUS)


def actor_for_user(user: User) -> Actor:
    return Actor(ActorType.USER, str(user.pk), user.email)


def actor_for_token(token: ApiToken) -> Actor:
    return Actor(ActorType.API_TOKEN, str(token.pk), f"{token.prefix}…")


def actor_for_request(request: Any) -> Actor:
    """The actor behind a web or API request: its API token, or its signed-in user."""
    token = getattr(request, "api_token", None)
    if token is not None:
        return actor_for_token(token)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return actor_for_user(user)
    return ANONYMOUS


def system_actor(component: str) -> Actor:
    return Actor(ActorType.SYSTEM, "", component)


@dataclass(frozen=True)
class Target:
    type: str
    id: str

    @classmethod
    def of(cls, instance: Any) -> Target:
        return cls(instance._meta.model_name, str(instance.pk))


@dataclass
class EventInput:
    action: str
    actor: Actor
    target: Target | None = None
    details: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime | None = None


def _check_detail_value(key: str, value: Any, depth: int = 0) -> None:
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, str):
        if not _DETAIL_TEXT.match(value):
            raise UnsafeAuditDetails(f"details[{key!r}] must be an identifier, not free text.")
        return
    if isinstance(value, list | tuple) and depth == 0:
        if len(value) > _MAX_DETAIL_ITEMS:
            raise UnsafeAuditDetails(f"details[{key!r}] has more than {_MAX_DETAIL_ITEMS} items.")
        for item in value:
            _check_detail_value(key, item, depth + 1)
        return
    raise UnsafeAuditDetails(f"details[{key!r}] has an unsupported type {type(value).__name__}.")


def check_details(details: dict[str, Any]) -> None:
    for key, value in details.items():
        if not _DETAIL_KEY.match(key):
            raise UnsafeAuditDetails("details keys must be lower-case identifiers.")
        _check_detail_value(key, value)


def _chain_of(tenant: Organisation | None) -> int:
    if tenant is None:
        return GLOBAL_CHAIN
    active = current_tenant()
    if active is None or active.pk != tenant.pk:
        raise RuntimeError("Audit events for a tenant are written inside that tenant's tenant_context().")
    return int(tenant.pk)


@contextmanager
def global_chain_access(chain_id: int) -> Iterator[None]:
    """Row-level security admits the global chain (tenant NULL) only while this is set."""
    if chain_id != GLOBAL_CHAIN:
        yield
        return
    set_local(AUDIT_GLOBAL_GUC, "on")
    try:
        yield
    finally:
        if not connection.needs_rollback:
            set_local(AUDIT_GLOBAL_GUC, "")


def _lock_head(chain_id: int, tenant: Organisation | None) -> AuditChainHead:
    head = AuditChainHead.objects.select_for_update().filter(chain_id=chain_id).first()
    if head is not None:
        return head
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditchainhead (chain_id, tenant_id, last_seq, last_hash) VALUES (%s, %s, 0, %s) "
            "ON CONFLICT (chain_id) DO NOTHING",
            [chain_id, tenant.pk if tenant else None, GENESIS_HASH],
        )
    return AuditChainHead.objects.select_for_update().get(chain_id=chain_id)


def _validated(events: Iterable[EventInput], tenant: Organisation | None = None) -> list[EventInput]:
    mark = _break_glass.get()
    grant_id = mark[1] if mark is not None and tenant is not None and mark[0] == tenant.pk else None
    checked = []
    for event in events:
        check_action(event.action)
        if grant_id is not None and "break_glass" not in event.details:
            event = replace(event, details={**event.details, "break_glass": grant_id})
        check_details(event.details)
        checked.append(event)
    return checked


def _hashed_rows(
    chain_id: int, tenant_id: int | None, first_seq: int, prev_hash: str, events: Sequence[EventInput], now: datetime
) -> tuple[list[dict[str, Any]], str]:
    """The rows to insert, each hashed onto the one before. Fields shared by the whole batch
    (request id, client) are read once."""
    request_id = get_request_id() or ""
    request_ip, user_agent = get_client()
    rows = []
    seq = first_seq
    now_us, now_iso = str(to_microseconds(now)), now.isoformat()
    for event in events:
        if event.occurred_at is None:
            occurred_us, occurred_iso = now_us, now_iso
        else:
            occurred_us, occurred_iso = str(to_microseconds(event.occurred_at)), event.occurred_at.isoformat()
        target_type, target_id = (event.target.type, event.target.id) if event.target else ("", "")
        label = event.actor.label[:254]
        details = canonical_details(event.details)
        digest = hash_encoded(
            prev_hash,
            (
                str(chain_id), str(seq), occurred_us, event.action, event.actor.type.value,
                event.actor.id, label, target_type, target_id, request_id, request_ip, user_agent, details,
            ),
        )  # fmt: skip
        rows.append(
            {
                "tenant_id": tenant_id, "chain_id": chain_id, "seq": seq, "occurred_at": occurred_iso,
                "action": event.action, "actor_type": event.actor.type.value, "actor_id": event.actor.id,
                "actor_label": label, "target_type": target_type, "target_id": target_id, "request_id": request_id,
                "ip": request_ip, "user_agent": user_agent, "details": details, "prev_hash": prev_hash, "hash": digest,
            }
        )  # fmt: skip
        prev_hash = digest
        seq += 1
    return rows, prev_hash


_COLUMN_TYPES = {
    "tenant_id": "bigint", "chain_id": "bigint", "seq": "bigint", "occurred_at": "timestamptz", "action": "text",
    "actor_type": "text", "actor_id": "text", "actor_label": "text", "target_type": "text", "target_id": "text",
    "request_id": "text", "ip": "text", "user_agent": "text", "details": "text", "prev_hash": "text", "hash": "text",
}  # fmt: skip
_COLUMNS = ", ".join(_COLUMN_TYPES)
# One statement per batch with the rows as one JSON document: far cheaper than binding values row
# by row, and COPY is not available on tables with row-level security.
_INSERT_FROM_JSON = (
    f"INSERT INTO audit_auditevent ({_COLUMNS}) SELECT {_COLUMNS} FROM json_to_recordset(%s::json) "  # noqa: S608
    f"AS r({', '.join(f'{name} {sql_type}' for name, sql_type in _COLUMN_TYPES.items())})"
)


def _insert_rows(rows: list[dict[str, Any]]) -> None:
    """SQLite path; PostgreSQL goes through ``_pipelined_inserts``."""
    AuditEvent.objects.bulk_create([AuditEvent(**row) for row in rows], batch_size=500)


@contextmanager
def _pipelined_inserts() -> Iterator[Callable[[list[dict[str, Any]]], None]]:
    """On PostgreSQL, send each batch without waiting for the previous one to finish, so the
    database inserts one batch while Python hashes the next. Same connection and transaction as
    the caller (a psycopg cursor with server-side binding: the document is not re-escaped)."""
    if connection.vendor != "postgresql":
        yield _insert_rows
        return
    connection.ensure_connection()
    raw = connection.connection
    with raw.pipeline(), psycopg.Cursor(raw) as cursor:

        def send(rows: list[dict[str, Any]]) -> None:
            cursor.execute(_INSERT_FROM_JSON, [json.dumps(rows, ensure_ascii=False)])

        yield send


def _append(tenant: Organisation | None, events: Sequence[EventInput]) -> int:
    chain_id = _chain_of(tenant)
    tenant_id = tenant.pk if tenant else None
    now = timezone.now()
    with transaction.atomic(), global_chain_access(chain_id):
        head = _lock_head(chain_id, tenant)
        seq, prev_hash = head.last_seq, head.last_hash
        with _pipelined_inserts() as insert:
            for start in range(0, len(events), INSERT_BATCH_SIZE):
                batch = events[start : start + INSERT_BATCH_SIZE]
                rows, prev_hash = _hashed_rows(chain_id, tenant_id, seq + 1, prev_hash, batch, now)
                insert(rows)
                seq += len(batch)
        AuditChainHead.objects.filter(chain_id=chain_id).update(last_seq=seq, last_hash=prev_hash)
    return seq


def record(
    *,
    tenant: Organisation | None,
    action: str,
    actor: Actor,
    target: Target | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Append one event to ``tenant``'s chain (the global chain for ``None``) inside the caller's
    transaction: if the action rolls back, so does its audit event. Returns its sequence number."""
    return _append(tenant, _validated([EventInput(action, actor, target, details or {})], tenant))


def record_many(*, tenant: Organisation | None, events: Iterable[EventInput]) -> int:
    """Append many events in one locked pass (the send pipeline's path). Returns the last
    sequence number written."""
    checked = _validated(events, tenant)
    if not checked:
        return 0
    return _append(tenant, checked)
