"""The database-backed scheduler (campaigns.scheduling): idempotent scheduling, cancelling,
claiming due work once (also against a concurrent claimer), the compare-and-set that makes a
stale claim's run do nothing, lease expiry, catching up after an outage, tenant isolation."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from campaigns import scheduling
from campaigns.scheduling import (
    LEASE,
    MAX_ATTEMPTS,
    due_work_cancel,
    due_work_claim,
    due_work_run,
    due_work_schedule,
    due_work_schedule_many,
    due_work_tick,
)
from campaigns.scheduling_models import DueWork, DueWorkStatus
from campaigns.tests.scheduling_probe import FAIL, RAN, RECORD
from tenants.context import tenant_context

S = DueWorkStatus


def schedule(tenant, subject, due_at, kind=RECORD) -> DueWork:
    with tenant_context(tenant):
        return due_work_schedule(tenant=tenant, kind=kind, subject_id=subject, due_at=due_at)


def claim(tenant, now=None, limit=100):
    with tenant_context(tenant):
        return due_work_claim(tenant=tenant, now=now or timezone.now(), limit=limit)


def run(tenant, claimed) -> int:
    return due_work_run(tenant=tenant, ids=claimed.ids, claim=str(claimed.token))


def rows(tenant, **filters) -> list[DueWork]:
    with tenant_context(tenant):
        return list(DueWork.objects.for_tenant(tenant).filter(**filters).order_by("pk"))


def runs(tenant) -> Counter[str]:
    """Committed runs of ``test.record`` per subject."""
    return Counter(w.subject_id for w in rows(tenant, kind=RAN))


def subject_of(tenant, pk) -> str:
    return next(w.subject_id for w in rows(tenant, pk=pk))


def test_scheduling_again_moves_the_pending_row_instead_of_adding_one(world):
    tenant = world.a.tenant
    now = timezone.now()
    first = schedule(tenant, "enrollment-1", now + timedelta(hours=1))
    again = schedule(tenant, "enrollment-1", now + timedelta(hours=1))
    moved = schedule(tenant, "enrollment-1", now + timedelta(hours=2))
    assert first.pk == again.pk == moved.pk
    [row] = rows(tenant, kind=RECORD)
    assert (row.status, row.due_at, row.attempts) == (S.PENDING, now + timedelta(hours=2), 0)
    # Another subject, or another kind for the same subject, is its own row.
    schedule(tenant, "enrollment-2", now)
    schedule(tenant, "enrollment-1", now, kind=FAIL)
    assert len(rows(tenant)) == 3


def test_scheduling_many_at_once_is_the_same_rule_in_one_statement(world, django_assert_num_queries):
    tenant = world.a.tenant
    now = timezone.now()
    schedule(tenant, "walk-1", now + timedelta(hours=5))
    with tenant_context(tenant), django_assert_num_queries(1):
        written = due_work_schedule_many(
            tenant=tenant,
            kind=RECORD,
            items=[("walk-1", now), ("walk-2", now + timedelta(hours=1)), ("walk-2", now + timedelta(hours=2))],
        )
    assert written == 2
    assert [(w.subject_id, w.due_at, w.status) for w in rows(tenant, kind=RECORD)] == [
        ("walk-1", now, S.PENDING),  # moved, not doubled
        ("walk-2", now + timedelta(hours=2), S.PENDING),  # the last time given wins
    ]
    with tenant_context(tenant), pytest.raises(ValueError):
        due_work_schedule_many(tenant=tenant, kind=RECORD, items=[("walk-3", now.replace(tzinfo=None))])
    with tenant_context(tenant):
        assert due_work_schedule_many(tenant=tenant, kind=RECORD, items=[]) == 0


def test_scheduling_refuses_naive_times_and_bad_keys(world):
    tenant = world.a.tenant
    with tenant_context(tenant):
        with pytest.raises(ValueError, match="timezone-aware"):
            due_work_schedule(tenant=tenant, kind=RECORD, subject_id="s", due_at=timezone.now().replace(tzinfo=None))
        with pytest.raises(ValueError, match="subject id"):
            due_work_schedule(tenant=tenant, kind=RECORD, subject_id="x" * 65, due_at=timezone.now())
        with pytest.raises(ValueError, match="kind"):
            due_work_schedule(tenant=tenant, kind="", subject_id="s", due_at=timezone.now())
        assert DueWork.objects.for_tenant(tenant).count() == 0


def test_a_subject_whose_work_is_claimed_can_be_scheduled_again(world):
    """A handler schedules its own subject's next step while its row is claimed."""
    tenant = world.a.tenant
    now = timezone.now()
    first = schedule(tenant, "enrollment-1", now - timedelta(minutes=1))
    assert claim(tenant).ids == [first.pk]
    second = schedule(tenant, "enrollment-1", now + timedelta(days=1))
    assert second.pk != first.pk
    assert [(w.pk, w.status) for w in rows(tenant)] == [(first.pk, S.CLAIMED), (second.pk, S.PENDING)]


def test_cancel_stops_pending_and_claimed_work_but_not_work_already_done(world):
    tenant = world.a.tenant
    now = timezone.now()
    done = schedule(tenant, "s-done", now - timedelta(minutes=3))
    run(tenant, claim(tenant))
    claimed = schedule(tenant, "s-claimed", now - timedelta(minutes=2))
    taken = claim(tenant)
    pending = schedule(tenant, "s-pending", now + timedelta(hours=1))
    with tenant_context(tenant):
        assert due_work_cancel(tenant=tenant, kind=RECORD, subject_id="s-done") == 0
        assert due_work_cancel(tenant=tenant, kind=RECORD, subject_id="s-claimed") == 1
        assert due_work_cancel(tenant=tenant, kind=RECORD, subject_id="s-pending") == 1
        assert due_work_cancel(tenant=tenant, kind=RECORD, subject_id="s-pending") == 0
    status = {w.pk: w.status for w in rows(tenant, kind=RECORD)}
    assert status == {done.pk: S.DONE, claimed.pk: S.CANCELLED, pending.pk: S.CANCELLED}
    # The cancelled claim's run does nothing; nothing is due any more.
    assert run(tenant, taken) == 0
    assert runs(tenant) == Counter({"s-done": 1})
    assert claim(tenant, now=now + timedelta(days=1)).ids == []


def test_claim_takes_only_due_work_earliest_first_and_each_row_once(world):
    tenant = world.a.tenant
    now = timezone.now()
    later = schedule(tenant, "later", now + timedelta(seconds=1))
    due = [schedule(tenant, f"due-{n}", now - timedelta(minutes=n)) for n in range(5)]
    first = claim(tenant, now=now, limit=3)
    assert first.ids == [due[4].pk, due[3].pk, due[2].pk]  # the earliest due first
    second = claim(tenant, now=now, limit=3)
    assert second.ids == [due[1].pk, due[0].pk]  # "later" is not due yet
    assert first.token != second.token
    assert claim(tenant, now=now).ids == []
    assert claim(tenant, now=now + timedelta(seconds=1)).ids == [later.pk]
    claimed = rows(tenant, pk__in=first.ids)
    assert {(w.status, w.claim_token, w.attempts) for w in claimed} == {(S.CLAIMED, first.token, 1)}


def test_the_claim_uses_the_partial_due_index(world):
    """The tick never reads future or finished work: the due scan is an index range scan."""
    tenant = world.a.tenant
    schedule(tenant, "s", timezone.now())
    with tenant_context(tenant), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: show the plan exists
        cursor.execute(
            "EXPLAIN " + scheduling._CLAIM_POSTGRESQL,
            {
                "tenant": tenant.pk,
                "now": timezone.now(),
                "lease_cutoff": timezone.now() - LEASE,
                "limit": 10,
                "max_attempts": MAX_ATTEMPTS,
                "token": uuid.uuid4(),
            },
        )
        plan = "\n".join(line for (line,) in cursor.fetchall())
    assert "campaigns_duework_due" in plan, plan
    assert "campaigns_duework_lease" in plan, plan


def test_running_marks_done_with_the_handlers_writes_and_a_second_run_does_nothing(world):
    tenant = world.a.tenant
    work = schedule(tenant, "s1", timezone.now())
    taken = claim(tenant)
    assert run(tenant, taken) == 1
    assert run(tenant, taken) == 0  # the same batch delivered twice
    [row] = rows(tenant, kind=RECORD)
    assert (row.pk, row.status, row.done_at is not None) == (work.pk, S.DONE, True)
    assert runs(tenant) == Counter({"s1": 1})


def test_a_stale_claim_runs_nothing_after_its_lease_was_taken_again(world):
    """The worker that claimed first was presumed dead (lease expired) and the row re-claimed;
    when it finally runs, the compare-and-set on its token fails and its handler never runs."""
    tenant = world.a.tenant
    now = timezone.now()
    schedule(tenant, "s1", now)
    stale = claim(tenant, now=now)
    fresh = claim(tenant, now=now + LEASE)
    assert fresh.ids == stale.ids and fresh.token != stale.token
    assert run(tenant, stale) == 0
    assert runs(tenant) == Counter()
    assert run(tenant, fresh) == 1
    assert run(tenant, stale) == 0
    assert runs(tenant) == Counter({"s1": 1})


def test_a_claim_is_taken_again_only_once_its_lease_has_expired(world):
    tenant = world.a.tenant
    now = timezone.now()
    work = schedule(tenant, "s1", now - timedelta(hours=1))
    assert claim(tenant, now=now).ids == [work.pk]
    assert claim(tenant, now=now + LEASE - timedelta(seconds=1)).ids == []
    again = claim(tenant, now=now + LEASE)
    assert again.ids == [work.pk]
    [row] = rows(tenant)
    assert (row.status, row.claim_token, row.attempts) == (S.CLAIMED, again.token, 2)


def test_a_failing_handler_rolls_back_its_writes_and_is_given_up_after_max_attempts(world, caplog):
    tenant = world.a.tenant
    now = timezone.now()
    work = schedule(tenant, "secret-free-subject", now, kind=FAIL)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        taken = claim(tenant, now=now + attempt * LEASE)
        assert taken.ids == [work.pk]
        assert run(tenant, taken) == 0
        assert runs(tenant) == Counter()  # the handler's write was rolled back with it
    [row] = rows(tenant)
    assert (row.status, row.attempts) == (S.FAILED, MAX_ATTEMPTS)
    assert "ProbeFailure" in caplog.text and "synthetic failure" not in caplog.text
    assert claim(tenant, now=now + 10 * LEASE).ids == []


def test_a_row_whose_worker_keeps_dying_is_given_up_by_the_claim(world):
    tenant = world.a.tenant
    now = timezone.now()
    work = schedule(tenant, "s1", now)
    for attempt in range(MAX_ATTEMPTS):
        assert claim(tenant, now=now + attempt * LEASE).ids == [work.pk]  # never run: "killed"
    given_up = claim(tenant, now=now + MAX_ATTEMPTS * LEASE)
    assert (given_up.ids, given_up.failed) == ([], 1)
    assert rows(tenant)[0].status == S.FAILED


def test_work_of_an_unknown_kind_stays_claimed_for_a_later_worker(world):
    tenant = world.a.tenant
    schedule(tenant, "s1", timezone.now(), kind="test.nobody-handles-this")
    taken = claim(tenant)
    assert run(tenant, taken) == 0
    assert rows(tenant)[0].status == S.CLAIMED


def test_a_tick_after_an_outage_runs_everything_overdue_once_in_due_order(world, monkeypatch):
    """Beat and the workers were down for hours: the first ticks find every overdue row, across
    organisations, in batches, earliest first; later ticks find nothing more."""
    monkeypatch.setattr(scheduling, "CLAIM_BATCH", 7)
    monkeypatch.setattr(scheduling, "MAX_BATCHES_PER_TICK", 2)
    monkeypatch.setattr(scheduling, "RUN_BATCH", 3)  # a claim's ids go to workers 3 at a time
    now = timezone.now()
    a, b = world.a.tenant, world.b.tenant
    for n in range(20):
        schedule(a, f"a-{n}", now - timedelta(hours=5) + timedelta(minutes=n))
    schedule(b, "b-0", now - timedelta(hours=3))
    schedule(a, "a-future", now + timedelta(minutes=5))
    batches: list[tuple[int, list[int], str]] = []

    def enqueue(tenant_id: int, ids: list[int], token: str) -> None:
        batches.append((tenant_id, ids, token))
        tenant = a if tenant_id == a.pk else b
        due_work_run(tenant=tenant, ids=ids, claim=token)

    assert due_work_tick(enqueue=enqueue, now=now) == 15  # 14 of a (two batches of 7) and b's one
    assert due_work_tick(enqueue=enqueue, now=now) == 6
    assert due_work_tick(enqueue=enqueue, now=now) == 0
    assert runs(a) == Counter({f"a-{n}": 1 for n in range(20)})
    assert runs(b) == Counter({"b-0": 1})
    order = [subject_of(a, pk) for tenant_id, ids, _ in batches if tenant_id == a.pk for pk in ids]
    assert order == [f"a-{n}" for n in range(20)]
    assert [len(ids) for tenant_id, ids, _ in batches if tenant_id == a.pk] == [3, 3, 1, 3, 3, 1, 3, 3]
    assert len({token for tenant_id, _, token in batches if tenant_id == a.pk}) == 3  # one per claim
    assert rows(a, subject_id="a-future")[0].status == S.PENDING


def test_a_tenants_claim_never_sees_another_tenants_rows(world):
    a, b = world.a.tenant, world.b.tenant
    now = timezone.now()
    mine = schedule(a, "shared-subject", now - timedelta(minutes=1))
    theirs = schedule(b, "shared-subject", now - timedelta(minutes=2))  # same key, other tenant
    assert claim(a, now=now).ids == [mine.pk]
    assert claim(a, now=now + LEASE).ids == [mine.pk]  # nor their expired claims
    # A's worker given B's ids (and even B's token) runs nothing of B's.
    b_claim = claim(b, now=now)
    assert b_claim.ids == [theirs.pk]
    assert due_work_run(tenant=a, ids=b_claim.ids, claim=str(b_claim.token)) == 0
    assert rows(b)[0].status == S.CLAIMED
    # Row-level security: the claim statement run as A with B's id updates nothing.
    with tenant_context(a), connection.cursor() as cursor:
        cursor.execute(
            scheduling._CLAIM_POSTGRESQL,
            {
                "tenant": b.pk,
                "now": now + 2 * LEASE,
                "lease_cutoff": now + LEASE,
                "limit": 10,
                "max_attempts": MAX_ATTEMPTS,
                "token": uuid.uuid4(),
            },
        )
        assert cursor.fetchall() == []
    # A cannot cancel B's work either (the service is scoped to the tenant it runs as).
    with tenant_context(a):
        assert due_work_cancel(tenant=a, kind=RECORD, subject_id="shared-subject") == 1
    assert rows(b)[0].status == S.CLAIMED


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_claimers_never_get_the_same_row(world):
    """Claimer 1 holds its claim uncommitted; claimer 2 (its own connection) skips those rows
    instead of waiting and takes the rest. Then several claimers race until nothing is left:
    every row is claimed exactly once."""
    tenant = world.a.tenant
    now = timezone.now()
    for n in range(120):
        schedule(tenant, f"s-{n}", now - timedelta(seconds=n))
    holding = threading.Event()
    release = threading.Event()
    results: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with tenant_context(tenant):
                results["first"] = due_work_claim(tenant=tenant, now=now, limit=50).ids
                holding.set()
                assert release.wait(timeout=30)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            holding.set()
        finally:
            connection.close()

    def second() -> None:
        try:
            with tenant_context(tenant):
                results["second"] = due_work_claim(tenant=tenant, now=now, limit=50).ids
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    t1 = threading.Thread(target=first)
    t1.start()
    assert holding.wait(timeout=30)
    t2 = threading.Thread(target=second)
    t2.start()
    t2.join(timeout=30)
    assert not t2.is_alive(), "the second claimer waited for the first one's locks"
    release.set()
    t1.join(timeout=30)
    assert not errors, errors
    assert len(results["first"]) == len(results["second"]) == 50
    assert not set(results["first"]) & set(results["second"])

    # A free-for-all over the remaining 20 (and a fresh 200).
    for n in range(200):
        schedule(tenant, f"t-{n}", now - timedelta(seconds=n))
    taken: list[list[int]] = []
    start = threading.Barrier(4)

    def racer() -> None:
        try:
            start.wait(timeout=30)
            while True:
                with tenant_context(tenant):
                    ids = due_work_claim(tenant=tenant, now=now, limit=7).ids
                if not ids:
                    return
                taken.append(ids)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    racers = [threading.Thread(target=racer) for _ in range(4)]
    for t in racers:
        t.start()
    for t in racers:
        t.join(timeout=60)
    assert not errors, errors
    ids = [pk for batch in taken for pk in batch]
    assert len(ids) == len(set(ids)) == 220
    with tenant_context(tenant):
        assert DueWork.objects.for_tenant(tenant).filter(status=S.PENDING).count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_run_in_progress_keeps_its_row_from_a_reclaim_after_the_lease(world, monkeypatch):
    """A slow but live worker holds its row's lock from the compare-and-set to its commit; a
    claim made after the lease expired skips the row instead of taking it a second time."""
    tenant = world.a.tenant
    now = timezone.now()
    work = schedule(tenant, "slow", now)
    taken = claim(tenant, now=now)
    inside = threading.Event()
    finish = threading.Event()
    errors: list[BaseException] = []

    def slow_handler(*, tenant, work):
        inside.set()
        assert finish.wait(timeout=30)

    monkeypatch.setitem(scheduling._handlers, "test.slow", slow_handler)
    with tenant_context(tenant):
        DueWork.objects.for_tenant(tenant).filter(pk=work.pk).update(kind="test.slow")

    def worker() -> None:
        try:
            assert run(tenant, taken) == 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert inside.wait(timeout=30)
        assert claim(tenant, now=now + 2 * LEASE).ids == []  # locked: skipped, not waited for
    finally:
        finish.set()
        thread.join(timeout=30)
    assert not errors, errors
    assert rows(tenant)[0].status == S.DONE
    assert claim(tenant, now=now + 2 * LEASE).ids == []


def test_claim_and_schedule_share_one_transaction_with_their_caller(world):
    """Work scheduled inside a transaction that rolls back was never scheduled."""
    tenant = world.a.tenant
    with pytest.raises(RuntimeError), transaction.atomic():
        schedule(tenant, "rolled-back", timezone.now())
        raise RuntimeError("roll back")
    assert rows(tenant) == []


# --- A real worker killed mid-batch ------------------------------------------------------------


@pytest.fixture
def broker():
    """The test's Redis database (the Celery broker), empty before and after."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_then_restarted_runs_every_item_exactly_once(world, broker, settings, tmp_path):
    """A real ``celery worker`` runs the tick and the batch it queued and is SIGKILLed (its
    whole process group) inside a handler, part-way through the batch. What it committed stays
    done; the item it was in stays claimed with the rest (its write rolled back with it). Once
    the lease has expired (aged here, not waited for), a restarted worker's tick claims them
    again and runs each once; the killed batch's task, redelivered late by the broker, runs
    nothing (its claim token is stale)."""
    from delivery.tests.test_pipeline_celery_crash import (
        QUEUE,
        ROOT,
        kill_group,
        log_tail,
        restore_unacked_as_kombu_would,
        send_task,
        stop_worker,
        unacked_task_ids,
        wait_until,
    )

    tenant = world.a.tenant
    total = 12
    now = timezone.now()
    for n in range(total):
        schedule(tenant, f"item-{n:02}", now - timedelta(hours=6) + timedelta(minutes=n))  # an outage
    started_file = tmp_path / "started.txt"
    started_file.touch()
    log = tmp_path / "workers.log"
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    environment = {
        **os.environ,
        "DATABASE_URL": url,
        "DATABASE_MIGRATE_URL": url,
        "SEALPOST_MASTER_KEY_FILE": str(settings.MASTER_KEY_FILE),
        "SCHEDULING_PROBE_FILE": str(started_file),
        "SCHEDULING_PROBE_SLEEP": "0.3",
        "PYTHONUNBUFFERED": "1",
    }

    def started() -> list[str]:
        return started_file.read_text().split()

    def committed() -> Counter[str]:
        return runs(tenant)

    def worker(name: str) -> subprocess.Popen[bytes]:
        """``celery -A sealpost worker`` (prefork, one child, its own process group) that also
        imports the test handlers."""
        argv = [
            sys.executable, "-m", "celery", "-A", "sealpost", "worker", "--pool", "prefork", "--concurrency", "1",
            "--hostname", f"{name}@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
            "--without-heartbeat", "--queues", QUEUE, "--include", "campaigns.tests.scheduling_probe",
        ]  # fmt: skip
        with log.open("ab") as out:
            return subprocess.Popen(
                argv, cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    send_task("campaigns.due_work_tick")  # what beat sends
    doomed = worker("doomed")
    try:
        # Inside the fourth item's handler: three committed, one started and not committed.
        deadline = time.monotonic() + 60
        wait_until(
            lambda: len(started()) == 4 and sum(committed().values()) == 3, deadline, "not mid-batch", log, doomed
        )
    finally:
        kill_group(doomed)
    in_flight = started()[-1]
    assert committed() == Counter({s: 1 for s in started()[:3]})
    claimed = rows(tenant, kind=RECORD, status=S.CLAIMED)
    assert len(claimed) == total - 3 and in_flight in {w.subject_id for w in claimed}
    killed_tasks = unacked_task_ids(broker)
    assert len(killed_tasks) == 1  # the batch (acks_late); the tick was acknowledged

    # Five minutes later: the dead worker's claims have expired.
    with tenant_context(tenant):
        aged = DueWork.objects.for_tenant(tenant).filter(status=S.CLAIMED)
        assert aged.update(claimed_at=timezone.now() - LEASE - timedelta(seconds=1)) == total - 3
    survivor = worker("survivor")
    try:
        deadline = time.monotonic() + 60
        next_tick = 0.0
        while len(committed()) < total:
            assert survivor.poll() is None, log_tail(log)
            assert time.monotonic() < deadline, f"not finished: {committed()}\n{log_tail(log)}"
            if time.monotonic() >= next_tick:
                send_task("campaigns.due_work_tick")  # beat, every few seconds
                next_tick = time.monotonic() + 1
            time.sleep(0.05)
        starts_before_redelivery = len(started())

        def drained(left: set[str]) -> bool:
            return broker.llen(QUEUE) == 0 and set(unacked_task_ids(broker)) == left

        # The survivor idle (the ticks it was sent finished), only the killed batch left...
        wait_until(lambda: drained(set(killed_tasks)), time.monotonic() + 30, "busy", log, survivor)
        # ...until, an hour later, the broker hands it out again: it runs nothing.
        assert restore_unacked_as_kombu_would(broker) == 1
        wait_until(lambda: drained(set()), time.monotonic() + 30, "the queue did not drain", log, survivor)
    finally:
        stop_worker(survivor)
    assert committed() == Counter({f"item-{n:02}": 1 for n in range(total)})
    assert Counter(started())[in_flight] == 2  # started twice, committed once
    assert len(started()) == starts_before_redelivery == total + 1
    assert {w.status for w in rows(tenant, kind=RECORD)} == {S.DONE}
