"""A restart during a journey's due window sends each reminder once (issue 13).

Twelve walks of an active journey (wait until 48 hours before the appointment, then send) come
due at once. A real ``celery -A sealpost worker`` (prefork, two children, the test's Redis
database and PostgreSQL database) is sent the due-work tick as beat would send it: one child runs
the claimed batch of steps, each committing its message and kicking the send pipeline, while the
other sends those messages to a real aiosmtpd server over verified STARTTLS.

The worker is SIGKILLed (its whole process group) mid-window at a point the test controls: the
test holds the row lock of the seventh walk, so six steps have committed and their six reminders
reached the server, the seventh step waits on the lock (its run uncommitted) and five steps are
still claimed and not started. Nothing the pipeline handed to the server is in flight then (all
the messages that exist have arrived), so the test asserts the strict outcome: every contact got
exactly one reminder, none lost, none twice.

Recovery is what production does, without its waiting: the dead worker's due-work claims and
message leases are aged past their lease (not waited for), a fresh worker gets the tick and
``delivery.dispatch_due`` every second (beat every few seconds / every minute), and finally the
killed batch task, which Redis still holds unacknowledged, is handed out again as kombu would
after its visibility timeout: its claim token is stale, so it runs nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.journey_models import EnrollmentStatus, JourneyEnrollment
from campaigns.journeys import STEP_KIND
from campaigns.models import DueWork, DueWorkStatus, Message, MessageStatus
from campaigns.scheduling import LEASE
from campaigns.tests.journey_support import book, make_journey, run_due
from delivery.tests import test_pipeline_support as support
from delivery.tests.test_pipeline_celery_crash import (  # noqa: F401 - fixtures used by name
    QUEUE,
    ROOT,
    broker,
    kill_group,
    log_tail,
    mx_cert,
    needs_baa,
    restore_unacked_as_kombu_would,
    send_task,
    stop_worker,
    wait_until,
    worker_environment,
)
from delivery.tests.test_pipeline_support import TLS_DOMAIN, consenting_contacts, message_ids, received
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db(transaction=True)
# The shared fixtures (aiosmtpd servers with a test CA, tenant A's verified sending domain), by name.
ca, servers, pipeline_env = support.ca, support.servers, support.pipeline_env
CONTACTS = 12
GATE = 6  # the walks whose steps run before the one the test holds
S = MessageStatus
W = DueWorkStatus


def start_worker(name: str, environment: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``celery -A sealpost worker``, prefork with two children (one runs the steps while the
    other sends), leading its own process group."""
    argv = [
        sys.executable, "-m", "celery", "-A", "sealpost", "worker", "--pool", "prefork", "--concurrency", "2",
        "--hostname", f"{name}@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
        "--without-heartbeat", "--queues", QUEUE,
    ]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def step_rows(tenant: Any, **filters: Any) -> list[DueWork]:
    with tenant_context(tenant):
        return list(DueWork.objects.for_tenant(tenant).filter(kind=STEP_KIND, **filters).order_by("pk"))


def messages(tenant: Any) -> list[Message]:
    with tenant_context(tenant):
        return list(Message.objects.for_tenant(tenant).order_by("pk"))


def unacked_tasks(redis: Any) -> dict[str, str]:
    """Task id -> task name of what Redis holds as delivered and not acknowledged."""
    tasks = {}
    for raw in redis.hvals("unacked"):
        headers = json.loads(raw)[0]["headers"]
        tasks[headers["id"]] = headers["task"]
    return tasks


class WalkLock:
    """Holds one walk's row lock (``SELECT … FOR UPDATE``) in a connection of its own until
    released: the step of that walk waits for it inside its uncommitted run."""

    def __init__(self, tenant: Any, walk_id: str) -> None:
        self.tenant, self.walk_id = tenant, walk_id
        self.held, self.release = threading.Event(), threading.Event()
        self.backend_pid: int | None = None
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._hold)

    def _hold(self) -> None:
        try:
            with tenant_context(self.tenant):
                JourneyEnrollment.objects.for_tenant(self.tenant).select_for_update().get(pk=self.walk_id)
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    self.backend_pid = cursor.fetchone()[0]
                self.held.set()
                assert self.release.wait(timeout=120)
        except BaseException as exc:  # reported by the main thread
            self.errors.append(exc)
        finally:
            self.held.set()
            connection.close()

    def __enter__(self) -> WalkLock:
        self.thread.start()
        assert self.held.wait(timeout=30) and not self.errors, self.errors
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive() and not self.errors, self.errors

    def waiters(self) -> int:
        """Backends of this database waiting for the lock."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND %s = ANY(pg_blocking_pids(pid))",
                [self.backend_pid],
            )
            return cursor.fetchone()[0]


def test_a_worker_killed_mid_due_window_then_restarted_sends_each_reminder_exactly_once(
    pipeline_env,
    settings,
    broker,  # noqa: F811
    tmp_path,
):
    env = pipeline_env
    a = env.fixture
    tenant = env.tenant
    make_journey(a)
    contacts = consenting_contacts(a, TLS_DOMAIN, CONTACTS)
    for n, contact in enumerate(contacts):
        book(a, contact, event_id=f"evt-{n:02}", appointment_id=f"APPT-{n:02}")
    run_due(a, timezone.now())  # each walk's wait step: the reminder is due 48 h before
    window = step_rows(tenant, status=W.PENDING)
    assert len(window) == CONTACTS and all(w.due_at > timezone.now() + timedelta(days=30) for w in window)
    # ...which is now: every reminder comes due at once.
    with tenant_context(tenant):
        due = DueWork.objects.for_tenant(tenant).filter(pk__in=[w.pk for w in window])
        assert due.update(due_at=timezone.now() - timedelta(minutes=1)) == CONTACTS
    gate = window[GATE]  # claimed and run in due order (due_at, then id): six run before it
    environment = worker_environment(env, settings)
    log = tmp_path / "workers.log"
    started = time.monotonic()

    with WalkLock(tenant, gate.subject_id) as lock:
        send_task("campaigns.due_work_tick")  # what beat sends
        doomed = start_worker("doomed", environment, log)
        try:

            def mid_window() -> bool:
                assert env.tls.recorder.received_count <= GATE  # only six messages exist
                return env.tls.recorder.received_count == GATE and lock.waiters() == 1

            wait_until(mid_window, time.monotonic() + 60, "the window did not reach the gate", log, doomed)
        finally:
            kill_group(doomed)  # main process and both children at once
        killed_at = time.monotonic()
    # The dead step's backend got the lock when it was released, and its transaction died with
    # its client: it stays claimed with the five the worker never started.
    in_flight = {w.subject_id for w in step_rows(tenant, status=W.CLAIMED)}
    assert len(in_flight) == CONTACTS - GATE and gate.subject_id in in_flight
    assert len(step_rows(tenant, pk__in=[w.pk for w in window], status=W.DONE)) == GATE
    before = messages(tenant)
    assert len(before) == GATE and {m.status for m in before} <= {S.SENT, S.SENDING}
    killed = unacked_tasks(broker)
    assert "campaigns.due_work_run" in killed.values(), killed  # acks_late: the batch is still held

    # Five minutes later: the dead worker's claims and leases have expired.
    past = timezone.now() - LEASE - timedelta(seconds=1)
    with tenant_context(tenant):
        assert (
            DueWork.objects.for_tenant(tenant).filter(kind=STEP_KIND, status=W.CLAIMED).update(claimed_at=past)
            == CONTACTS - GATE
        )
        Message.objects.for_tenant(tenant).filter(status=S.SENDING).update(lease_expires_at=past)
    survivor = start_worker("survivor", environment, log)
    try:
        deadline = time.monotonic() + 60
        next_beat = 0.0

        def finished() -> bool:
            statuses = Counter(m.status for m in messages(tenant))
            return sum(statuses.values()) == CONTACTS and set(statuses) <= {S.SENT, S.UNKNOWN}

        while not (finished() and env.tls.recorder.received_count >= CONTACTS):
            assert survivor.poll() is None, log_tail(log)
            assert time.monotonic() < deadline, f"not finished: {Counter(m.status for m in messages(tenant))}"
            if time.monotonic() >= next_beat:
                send_task("campaigns.due_work_tick")
                send_task("delivery.dispatch_due")
                next_beat = time.monotonic() + 1
            time.sleep(0.1)
        recovered_at = time.monotonic()

        def drained(left: set[str]) -> bool:
            return broker.llen(QUEUE) == 0 and set(unacked_tasks(broker)) == left

        # The survivor idle, only the killed worker's tasks left unacknowledged...
        wait_until(lambda: drained(set(killed)), time.monotonic() + 30, "busy", log, survivor)
        # ...until the broker hands them out again: the stale batch runs nothing, sends nothing.
        assert restore_unacked_as_kombu_would(broker) == len(killed)
        wait_until(lambda: drained(set()), time.monotonic() + 30, "the queue did not drain", log, survivor)
    finally:
        stop_worker(survivor)

    arrived = env.tls.recorder.received
    assert Counter(rcpt for r in arrived for rcpt in r.rcpt_tos) == Counter({c.email: 1 for c in contacts})
    assert all(r.tls for r in arrived)
    assert sorted(message_ids(received(env.tls)).values()) == [1] * CONTACTS
    final = messages(tenant)
    assert sorted(m.contact_id for m in final) == sorted(c.pk for c in contacts)  # one message each
    assert {m.status for m in final if m.pk not in {b.pk for b in before}} == {S.SENT}
    assert {w.status for w in step_rows(tenant)} == {W.DONE}
    assert {w.subject_id: w.attempts for w in step_rows(tenant, pk__in=[w.pk for w in window])} == {
        w.subject_id: 2 if w.subject_id in in_flight else 1 for w in window
    }
    with tenant_context(tenant):
        walks = JourneyEnrollment.objects.for_tenant(tenant).values_list("status", flat=True)
        assert Counter(walks) == Counter({EnrollmentStatus.COMPLETED: CONTACTS})
    print(
        f"journey restart test: {CONTACTS} reminders, {GATE} at the sink when killed, "
        f"{killed_at - started:.1f} s to the kill, {recovered_at - killed_at:.1f} s to recover; "
        f"final {dict(Counter(m.status for m in final))}; killed tasks {sorted(Counter(killed.values()).items())}"
    )
