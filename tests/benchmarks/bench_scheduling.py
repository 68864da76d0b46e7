"""The scheduler's beat tick over a million pending steps (``make bench``; issue 13's measure:
"Due-work scan with 1,000,000 pending steps — goal <= 100 ms per beat tick").

Setup (every run; about half a minute): the due-work rows of earlier runs are removed, then
1,000,000 pending ``DueWork`` rows are written with ``INSERT … SELECT generate_series`` (as each
tenant: row-level security refuses anything else), spread over four organisations:

- per organisation, ``WAVES`` waves of ``WAVE_ROWS`` rows: wave k falls due in the
  ``TICK_SECONDS`` before ``T0 + k * TICK_SECONDS`` (the work that comes due between two ticks);
- per organisation, ``CATCH_UP_ROWS`` rows overdue by one to six hours (an outage);
- the rest due between one hour and thirty days after ``T0`` (the bulk: future work the tick
  must never read).

Then, with ``VACUUM ANALYZE`` done as autovacuum would after a bulk load, and the tick's
``now`` set explicitly (the simulated clock):

- ``scheduling_catch_up_tick_ms``: the first tick at ``T0`` finds the outage's rows
  (4 x 5,000, every one claimed in due order);
- ``scheduling_idle_tick_ms``: a tick at ``T0`` with nothing due (all million in the future);
- ``scheduling_tick_ms``: the median of ``WAVES`` ticks at ``T0 + k * TICK_SECONDS``, each
  claiming that wave (4 x 750 rows in batches of ``CLAIM_BATCH``) — the goal's figure; its
  maximum is printed too;
- ``scheduling_claim_ms``: one claim statement of a full batch (median);
- the claim statement's ``EXPLAIN (ANALYZE, BUFFERS)`` (rolled back), to show the partial
  indexes at work.

A tick here is the scan and the claims (``campaigns.scheduling.due_work_tick``), committed per
batch, with the Celery hand-off replaced by recording the batch (the broker's cost is not the
scan's).
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime, timedelta

import django

TENANTS = 4
TOTAL = int(os.environ.get("SCHEDULING_BENCH_ROWS", "1000000"))
WAVES = 7
WAVE_ROWS = 750  # per organisation and tick: 3,000 due per tick in all
CATCH_UP_ROWS = 5_000  # per organisation
TICK_SECONDS = 10
SLUG = "bench-scheduling"
KIND = "journey.step"


def _owner_execute(statements: list[str]) -> None:
    import psycopg

    with psycopg.connect(os.environ["DATABASE_MIGRATE_URL"], autocommit=True) as owner:
        for statement in statements:
            owner.execute(statement)  # type: ignore[arg-type]


def _insert(cursor, tenant_id: int, prefix: str, count: int, first_due: datetime, step: timedelta) -> None:
    cursor.execute(
        "INSERT INTO campaigns_duework (tenant_id, kind, subject_id, due_at, status, attempts, created_at) "
        "SELECT %s, %s, %s || g, %s + (g - 1) * %s, 'pending', 0, now() FROM generate_series(1, %s) AS g",
        [tenant_id, KIND, prefix, first_due, step, count],
    )


def _load(tenants, t0: datetime) -> None:
    from django.db import connection

    from tenants.context import tenant_context

    per_tenant = TOTAL // TENANTS
    future = per_tenant - WAVES * WAVE_ROWS - CATCH_UP_ROWS
    assert future > 0, "SCHEDULING_BENCH_ROWS is too small for the waves"
    for tenant in tenants:
        with tenant_context(tenant), connection.cursor() as cursor:
            for k in range(1, WAVES + 1):
                start = t0 + timedelta(seconds=(k - 1) * TICK_SECONDS + 0.001)
                _insert(cursor, tenant.pk, f"wave{k}-", WAVE_ROWS, start, timedelta(seconds=TICK_SECONDS / WAVE_ROWS))
            hours = timedelta(hours=5)
            _insert(cursor, tenant.pk, "late-", CATCH_UP_ROWS, t0 - timedelta(hours=6), hours / CATCH_UP_ROWS)
            days = timedelta(days=30)
            _insert(cursor, tenant.pk, "future-", future, t0 + timedelta(hours=1), days / future)


def _tick(now: datetime) -> tuple[float, int]:
    from campaigns.scheduling import due_work_tick

    batches: list[tuple[int, list[int], str]] = []
    started = time.perf_counter()
    claimed = due_work_tick(enqueue=lambda tenant_id, ids, token: batches.append((tenant_id, ids, token)), now=now)
    return (time.perf_counter() - started) * 1000, claimed


def _explain(tenant, now: datetime) -> str:
    import uuid

    from django.db import connection, transaction

    from campaigns import scheduling
    from tenants.context import tenant_context

    params = {
        "tenant": tenant.pk,
        "now": now,
        "lease_cutoff": now - scheduling.LEASE,
        "limit": scheduling.CLAIM_BATCH,
        "max_attempts": scheduling.MAX_ATTEMPTS,
        "token": uuid.uuid4(),
    }
    with tenant_context(tenant), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + scheduling._CLAIM_POSTGRESQL, params)
        plan = "\n".join(line for (line,) in cursor.fetchall())
        transaction.set_rollback(True)  # EXPLAIN ANALYZE ran the UPDATE: undo it
    return plan


def _claim_once(tenant, now: datetime) -> tuple[float, int]:
    from campaigns.scheduling import CLAIM_BATCH, due_work_claim
    from tenants.context import tenant_context

    started = time.perf_counter()
    with tenant_context(tenant):
        claim = due_work_claim(tenant=tenant, now=now, limit=CLAIM_BATCH)
    return (time.perf_counter() - started) * 1000, len(claim.ids)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sealpost.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.db import connection

    from campaigns.scheduling_models import DueWork, DueWorkStatus
    from tenants.context import tenant_context
    from tenants.models import Organisation

    tenants = [
        Organisation.objects.get_or_create(slug=f"{SLUG}-{n}", defaults={"name": f"Benchmark scheduling {n}"})[0]
        for n in range(1, TENANTS + 1)
    ]
    # Only this benchmark writes due work in the benchmark database.
    _owner_execute(["TRUNCATE campaigns_duework"])
    t0 = datetime.now(tz=UTC).replace(microsecond=0) + timedelta(minutes=1)
    started = time.perf_counter()
    _load(tenants, t0)
    _owner_execute(["VACUUM ANALYZE campaigns_duework"])
    print(f"RESULT scheduling_bench_setup_s {time.perf_counter() - started:.1f} s", flush=True)
    pending = 0
    for tenant in tenants:
        with tenant_context(tenant):
            pending += DueWork.objects.for_tenant(tenant).filter(status=DueWorkStatus.PENDING).count()
    print(f"scheduling: {pending} pending rows in {TENANTS} organisations", flush=True)

    catch_up_ms, caught_up = _tick(t0)
    assert caught_up == TENANTS * CATCH_UP_ROWS, caught_up
    print(f"RESULT scheduling_catch_up_tick_ms {catch_up_ms:.1f} ms ({caught_up} overdue rows claimed)", flush=True)

    idle = [_tick(t0) for _ in range(5)]
    assert all(claimed == 0 for _, claimed in idle)
    print(f"RESULT scheduling_idle_tick_ms {statistics.median(ms for ms, _ in idle):.1f} ms", flush=True)

    print(_explain(tenants[0], t0 + timedelta(seconds=TICK_SECONDS)), flush=True)

    ticks: list[float] = []
    for k in range(1, WAVES + 1):
        ms, claimed = _tick(t0 + timedelta(seconds=k * TICK_SECONDS))
        assert claimed == TENANTS * WAVE_ROWS, (k, claimed)
        ticks.append(ms)
    print(f"scheduling ticks (ms): {', '.join(f'{ms:.1f}' for ms in ticks)}", flush=True)
    print(
        f"RESULT scheduling_tick_ms {statistics.median(ticks):.1f} ms "
        f"(median of {WAVES} ticks, {TENANTS * WAVE_ROWS} rows claimed each; goal <= 100)",
        flush=True,
    )
    print(f"RESULT scheduling_tick_max_ms {max(ticks):.1f} ms", flush=True)

    # One claim statement of a full batch: fresh due rows (after the last wave; no lease expired).
    claims: list[float] = []
    after_waves = t0 + timedelta(seconds=WAVES * TICK_SECONDS)
    for n in range(5):
        tenant = tenants[n % TENANTS]
        with tenant_context(tenant), connection.cursor() as cursor:
            _insert(cursor, tenant.pk, f"extra{n}-", 200, after_waves + timedelta(seconds=1), timedelta(milliseconds=1))
        ms, count = _claim_once(tenant, after_waves + timedelta(seconds=TICK_SECONDS))
        assert count == 200, count
        claims.append(ms)
    print(f"RESULT scheduling_claim_ms {statistics.median(claims):.1f} ms (one claim of 200 rows, median)", flush=True)


if __name__ == "__main__":
    main()
