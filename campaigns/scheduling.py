"""The database-backed scheduler: schedule, cancel, claim and run due work (``DueWork``).

Nothing depends on a cron job firing on time. Due work is *found* in the database each beat
tick (``campaigns.due_work_tick``: every row whose ``due_at`` has passed, however long ago), so
a restart or an outage of beat or of the workers catches up, in due order, and nothing runs
twice:

1. **Claim** (``due_work_claim``): one statement moves up to ``limit`` of a tenant's due rows
   (and expired claims) to ``claimed`` under a fresh claim token. On PostgreSQL the rows are
   picked ``FOR UPDATE SKIP LOCKED`` through the partial "pending by due time" index, so two
   claimers never get the same row and neither waits for the other; on SQLite (the embedded
   default) the single ``UPDATE`` is atomic because SQLite serialises writers.
2. **Run** (``due_work_run``): per row, in one transaction, a compare-and-set moves it from
   ``claimed`` under *this* token to ``done`` and then its handler runs. The handler's writes and
   the ``done`` mark commit together or not at all. A worker holding a stale token (its lease
   expired and another claim took the row) updates nothing and runs nothing; a worker that is
   still running holds the row lock, so a re-claim skips the row rather than taking it.
3. **Lease**: a row still ``claimed`` ``LEASE`` after its claim belonged to a worker that died
   (or a task that was lost) before committing, so nothing of its run survived: the next claim
   takes it again, with a new token. A handler that raises leaves its row claimed too (its
   writes rolled back): it is retried when the lease expires, at most ``MAX_ATTEMPTS`` claims,
   then the row is marked ``failed``.

Exactly once therefore means: a handler's *database writes* happen once. A handler that also
has effects outside the database (a send) must make them idempotent or hand them to a pipeline
that is (the message pipeline's own claim), as delayed sends do.

Handlers are registered by kind (``register_due_work_handler``) at import time of a module the
worker imports (``campaigns.tasks`` or an app's ``ready()``). They take ``(*, tenant, work)``,
run inside the tenant's transaction, and load their subject by ``work.subject_id`` themselves.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from campaigns.scheduling_models import DueWork, DueWorkStatus
from tenants.context import require_tenant_is_current, tenant_context
from tenants.models import Organisation

logger = logging.getLogger(__name__)

# A claim older than this whose row is still "claimed" is taken again (its worker died).
LEASE = timedelta(minutes=5)
# Claims of one row before it is given up as failed (a handler that keeps raising, a row that
# keeps killing its worker).
MAX_ATTEMPTS = 5
KIND_MAX_LENGTH = 64
SUBJECT_MAX_LENGTH = 64

DueWorkHandler = Callable[..., None]  # handler(*, tenant: Organisation, work: DueWork) -> None
_handlers: dict[str, DueWorkHandler] = {}

TABLE = DueWork._meta.db_table


class UnknownDueWorkKind(LookupError):
    """Due work of a kind no handler is registered for (in this process)."""


@dataclass(frozen=True)
class Claim:
    """What one claim took: the token and the ids (in due order). Ids only: this is what goes
    into a Celery task's arguments."""

    token: uuid.UUID
    ids: list[int]
    failed: int = 0  # expired claims given up as failed instead (MAX_ATTEMPTS reached)


def register_due_work_handler(kind: str, fn: DueWorkHandler) -> DueWorkHandler:
    """Register ``fn`` as the handler of ``kind``; returns ``fn`` (usable as a decorator body).
    Registering another function under a kind already taken is a programming error."""
    if not kind or len(kind) > KIND_MAX_LENGTH:
        raise ValueError(f"A due-work kind is 1 to {KIND_MAX_LENGTH} characters.")
    existing = _handlers.get(kind)
    if existing is not None and existing is not fn:
        raise ValueError(f"Due-work kind {kind!r} already has a handler.")
    _handlers[kind] = fn
    return fn


def due_work_handler(kind: str) -> DueWorkHandler:
    try:
        return _handlers[kind]
    except KeyError:
        raise UnknownDueWorkKind(f"No handler is registered for due-work kind {kind!r}.") from None


def _check_key(kind: str, subject_id: str) -> None:
    if not kind or len(kind) > KIND_MAX_LENGTH:
        raise ValueError(f"A due-work kind is 1 to {KIND_MAX_LENGTH} characters.")
    if not subject_id or len(subject_id) > SUBJECT_MAX_LENGTH:
        raise ValueError(f"A due-work subject id is 1 to {SUBJECT_MAX_LENGTH} characters.")


def _db_time(value: datetime) -> Any:
    """A datetime as the backend stores it (SQLite keeps text; raw SQL must match its format)."""
    return connection.ops.adapt_datetimefield_value(value)


def due_work_schedule(*, tenant: Organisation, kind: str, subject_id: str | uuid.UUID, due_at: datetime) -> DueWork:
    """Make ``kind`` run for ``subject_id`` at ``due_at``. Idempotent: while a pending row for
    (tenant, kind, subject) exists, scheduling again only moves its due time (one statement,
    ``INSERT … ON CONFLICT … DO UPDATE`` on the "one pending row" index, so concurrent callers
    cannot create two). A claimed or finished row for the subject does not count: a handler may
    schedule its own subject's next step."""
    require_tenant_is_current(tenant)
    subject = str(subject_id)
    _check_key(kind, subject)
    if timezone.is_naive(due_at):
        raise ValueError("due_at must be timezone-aware.")
    now = timezone.now()
    sql = (
        f"INSERT INTO {TABLE} (tenant_id, kind, subject_id, due_at, status, attempts, created_at) "  # noqa: S608
        "VALUES (%s, %s, %s, %s, %s, 0, %s) "
        "ON CONFLICT (tenant_id, kind, subject_id) WHERE status = 'pending' "
        "DO UPDATE SET due_at = excluded.due_at RETURNING id"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [tenant.pk, kind, subject, _db_time(due_at), DueWorkStatus.PENDING, _db_time(now)])
        pk = cursor.fetchone()[0]
    return DueWork.objects.for_tenant(tenant).get(pk=pk)


def due_work_schedule_many(
    *, tenant: Organisation, kind: str, items: Sequence[tuple[str | uuid.UUID, datetime]]
) -> int:
    """``due_work_schedule`` for many subjects in one statement (what a batch of trigger events
    needs: a walk each). A subject given twice keeps its last time. Returns how many rows were
    written (inserted or moved)."""
    require_tenant_is_current(tenant)
    latest: dict[str, datetime] = {}
    for subject_id, due_at in items:
        subject = str(subject_id)
        _check_key(kind, subject)
        if timezone.is_naive(due_at):
            raise ValueError("due_at must be timezone-aware.")
        latest[subject] = due_at
    if not latest:
        return 0
    now = _db_time(timezone.now())
    rows = sorted(latest.items())  # a fixed order: concurrent batches lock rows alike
    values = ", ".join(["(%s, %s, %s, %s, %s, 0, %s)"] * len(rows))
    params: list[Any] = []
    for subject, due_at in rows:
        params += [tenant.pk, kind, subject, _db_time(due_at), DueWorkStatus.PENDING, now]
    sql = (
        f"INSERT INTO {TABLE} (tenant_id, kind, subject_id, due_at, status, attempts, created_at) "  # noqa: S608
        f"VALUES {values} "
        "ON CONFLICT (tenant_id, kind, subject_id) WHERE status = 'pending' "
        "DO UPDATE SET due_at = excluded.due_at"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def due_work_cancel(*, tenant: Organisation, kind: str, subject_id: str | uuid.UUID) -> int:
    """Cancel the subject's work of ``kind`` that has not run: the pending row, and a claimed
    one whose run has not started (its run's compare-and-set then finds it cancelled and runs
    nothing). A run already in progress holds its row's lock; cancelling waits for it and then
    finds the row done. Returns how many rows were cancelled."""
    require_tenant_is_current(tenant)
    subject = str(subject_id)
    _check_key(kind, subject)
    return (
        DueWork.objects.for_tenant(tenant)
        .filter(kind=kind, subject_id=subject, status__in=[DueWorkStatus.PENDING, DueWorkStatus.CLAIMED])
        .update(status=DueWorkStatus.CANCELLED, claim_token=None, done_at=timezone.now())
    )


# PostgreSQL: expired claims and due pending rows, each through its partial index in order and
# locked with SKIP LOCKED (rows another claimer holds are passed over, not waited for); the
# earliest ``limit`` of both are claimed. Rows locked but not chosen are released at commit.
_CLAIM_POSTGRESQL = f"""
WITH expired AS (
    SELECT id, due_at FROM {TABLE}
    WHERE tenant_id = %(tenant)s AND status = 'claimed' AND claimed_at <= %(lease_cutoff)s
    ORDER BY claimed_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), due AS (
    SELECT id, due_at FROM {TABLE}
    WHERE tenant_id = %(tenant)s AND status = 'pending' AND due_at <= %(now)s
    ORDER BY due_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), chosen AS (
    SELECT id FROM (SELECT id, due_at FROM expired UNION ALL SELECT id, due_at FROM due) AS candidates
    ORDER BY due_at, id LIMIT %(limit)s
)
UPDATE {TABLE} AS work SET
    status = CASE WHEN work.attempts >= %(max_attempts)s THEN 'failed' ELSE 'claimed' END,
    done_at = CASE WHEN work.attempts >= %(max_attempts)s THEN %(now)s::timestamptz END,
    claim_token = %(token)s, claimed_at = %(now)s, attempts = work.attempts + 1
FROM chosen WHERE work.id = chosen.id
RETURNING work.id, work.status, work.due_at
"""  # noqa: S608 - the table name is the model's, the values are parameters

# SQLite: one UPDATE is atomic (SQLite has one writer at a time), so no lock clause is needed.
_CLAIM_SQLITE = f"""
UPDATE {TABLE} SET
    status = CASE WHEN attempts >= %(max_attempts)s THEN 'failed' ELSE 'claimed' END,
    done_at = CASE WHEN attempts >= %(max_attempts)s THEN %(now)s END,
    claim_token = %(token)s, claimed_at = %(now)s, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM {TABLE}
    WHERE tenant_id = %(tenant)s AND (
        (status = 'pending' AND due_at <= %(now)s) OR (status = 'claimed' AND claimed_at <= %(lease_cutoff)s)
    )
    ORDER BY due_at, id LIMIT %(limit)s
)
RETURNING id, status, due_at
"""  # noqa: S608 - the table name is the model's, the values are parameters


def due_work_claim(*, tenant: Organisation, now: datetime, limit: int) -> Claim:
    """Claim up to ``limit`` of the tenant's due work (due at or before ``now``, earliest
    first, expired claims included) under a new token, in one statement. Commits with the
    caller's transaction (``tenant_context``); the caller hands ``Claim.ids`` and the token to a
    worker after the commit."""
    require_tenant_is_current(tenant)
    token = uuid.uuid4()
    params = {
        "tenant": tenant.pk,
        "now": _db_time(now),
        "lease_cutoff": _db_time(now - LEASE),
        "limit": limit,
        "max_attempts": MAX_ATTEMPTS,
        "token": token if connection.vendor == "postgresql" else token.hex,
    }
    sql = _CLAIM_POSTGRESQL if connection.vendor == "postgresql" else _CLAIM_SQLITE
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    claimed = sorted((due_at, pk) for pk, status, due_at in rows if status == DueWorkStatus.CLAIMED)
    failed = len(rows) - len(claimed)
    if failed:
        logger.warning("due work given up after %d attempts", MAX_ATTEMPTS, extra={"failed": failed})
    return Claim(token=token, ids=[pk for _, pk in claimed], failed=failed)


def due_work_run(*, tenant: Organisation, ids: Iterable[int], claim: uuid.UUID | str) -> int:
    """Run the claimed rows ``ids`` of ``claim``, each in its own transaction: the row moves
    from claimed-under-this-token to done (compare-and-set) and its handler runs, committing
    together. A row the claim no longer holds (re-claimed after its lease expired, cancelled,
    already done) runs nothing. A handler that raises rolls its row back to claimed (retried
    when the lease expires). Returns how many handlers ran and committed."""
    token = uuid.UUID(str(claim))
    ran = 0
    for pk in ids:
        try:
            with tenant_context(tenant):
                work = _take(tenant, pk, token)
                if work is None:
                    continue
                due_work_handler(work.kind)(tenant=tenant, work=work)
        except Exception as error:  # one row's failure must not stop the batch
            # The type only: an exception's text may quote the subject's data.
            logger.warning("due work %s failed: %s", pk, type(error).__name__)
            _give_up_if_exhausted(tenant, pk, token)
            continue
        ran += 1
    return ran


def _take(tenant: Organisation, pk: int, token: uuid.UUID) -> DueWork | None:
    """The compare-and-set: claimed under ``token`` -> done, returning the row (locked until
    the transaction ends), or None when the claim no longer holds it."""
    now = timezone.now()
    updated = (
        DueWork.objects.for_tenant(tenant)
        .filter(pk=pk, status=DueWorkStatus.CLAIMED, claim_token=token)
        .update(status=DueWorkStatus.DONE, done_at=now)
    )
    if updated != 1:
        return None
    return DueWork.objects.for_tenant(tenant).get(pk=pk)


def _give_up_if_exhausted(tenant: Organisation, pk: int, token: uuid.UUID) -> None:
    with tenant_context(tenant):
        DueWork.objects.for_tenant(tenant).filter(
            pk=pk, status=DueWorkStatus.CLAIMED, claim_token=token, attempts__gte=MAX_ATTEMPTS
        ).update(status=DueWorkStatus.FAILED, done_at=timezone.now())


# One claim statement takes at most CLAIM_BATCH rows (one commit each: fewer, larger claims keep
# the tick short) and hands them to workers RUN_BATCH ids per task (so they spread over the
# workers). One tick claims at most MAX_BATCHES_PER_TICK batches per organisation, so a backlog
# (an outage's catch-up) drains over a few ticks in due order, one organisation's backlog does
# not hold up the others, and nothing is claimed much faster than the workers can run it
# (claims left waiting past the lease would be taken again: not run twice, but claimed twice).
CLAIM_BATCH = 1000
RUN_BATCH = 100
MAX_BATCHES_PER_TICK = 10

Enqueue = Callable[[int, list[int], str], object]  # (tenant id, ids, claim token); result unused


def due_work_tick(*, enqueue: Enqueue, now: datetime | None = None) -> int:
    """One beat tick: in every active organisation, claim due work in batches (each claim
    committed on its own) and hand its ids to ``enqueue``, in due order, after its commit. A beat process
    that dies between a commit and its enqueue leaves the batch claimed; its lease expires and
    a later tick claims it again. Returns how many rows were claimed."""
    now = now or timezone.now()
    claimed = 0
    for organisation in Organisation.objects.filter(is_active=True).order_by("pk"):
        for _ in range(MAX_BATCHES_PER_TICK):
            with tenant_context(organisation):
                claim = due_work_claim(tenant=organisation, now=now, limit=CLAIM_BATCH)
            for start in range(0, len(claim.ids), RUN_BATCH):
                enqueue(organisation.pk, claim.ids[start : start + RUN_BATCH], str(claim.token))
            claimed += len(claim.ids)
            if len(claim.ids) + claim.failed < CLAIM_BATCH:
                break
    return claimed
