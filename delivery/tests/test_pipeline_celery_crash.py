"""Exactly once across a real Celery worker killed with SIGKILL in the middle of a campaign.

A ``celery -A sealpost worker`` (prefork, concurrency 1, on the test's Redis DB and PostgreSQL
database) runs the campaign through the real tasks (``delivery.campaign_dispatch`` starting
``delivery.send_batch`` chains). Once part of the campaign has reached the sink, the worker's
whole process group is SIGKILLed (main process and pool child: nothing gets to clean up), and a
fresh worker finishes the campaign. The sink counts Message-IDs: every recipient got exactly one
copy, or is ``unknown`` (handed off, no reply recorded); none lost, none twice.

What brings the dead worker's batch back, as configured (sealpost/settings.py, delivery/tasks.py):

* the batch task is acknowledged late (``acks_late``): killed with its worker, it stays in
  Redis's ``unacked`` set, and kombu puts it back on the queue once the broker's
  ``visibility_timeout`` (3600 s) has passed (``reject_on_worker_lost`` only helps when the pool
  child dies and the main process lives, which a group kill does not allow);
* its messages stay ``sending`` under the dead worker's lease (``LEASE_SECONDS``, 300 s); after
  it expires, a claim takes them again: handed off ones become ``unknown``, the rest are sent;
* ``delivery.dispatch_due`` (beat, every minute) starts a chain for a campaign with expired
  leases and nobody working on it.

The test does not wait an hour or five minutes: after the kill it ages the two clocks instead
(the unacked entry's timestamp and the dead worker's leases, nothing else), then lets each
mechanism act. ``redelivered``: kombu's own ``restore_visible`` requeues the killed task and the
new worker runs it. ``dispatch_due``: the killed task is left where it is and the test sends
``delivery.dispatch_due`` every two seconds, as beat would every minute.

``PIPELINE_CELERY_CRASH_MESSAGES`` sets the campaign size (2,000 by default; the issue's 20,000
with ``PIPELINE_CELERY_CRASH_MESSAGES=20000``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from delivery.pipeline import BATCH_SIZE, SEND_CHUNK
from delivery.tests import test_pipeline_support as support
from delivery.tests.test_pipeline_concurrency import bulk_consenting, expected_ids
from delivery.tests.test_pipeline_support import (
    PLAIN_HTML,
    TLS_DOMAIN,
    Env,
    launch,
    message_ids,
    received,
    status_counts,
)
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db(transaction=True)
# The shared fixtures (test_pipeline_support), used by name.
ca, servers, pipeline_env = support.ca, support.servers, support.pipeline_env
S = MessageStatus
CRASH_MESSAGES = int(os.environ.get("PIPELINE_CELERY_CRASH_MESSAGES", "2000"))
ROOT = Path(__file__).resolve().parents[2]
# The worker resolves MX names for real: "localhost" is in /etc/hosts.
MX_HOST = "localhost"
QUEUE = "celery"
WORKER_START_SECONDS = 60


@pytest.fixture(scope="module")
def mx_cert(ca: Any) -> Any:
    from delivery.tests.smtp_servers import MX_NAME

    return ca.issue(MX_NAME, MX_HOST)


@pytest.fixture
def needs_baa() -> bool:
    return False  # non-PHI campaigns: the flush of transactional tests removes the BAA text


@pytest.fixture
def broker() -> Iterator[Any]:
    """The test's Redis database, empty (no task left over from an earlier run)."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def send_task(name: str, *args: Any) -> None:
    """Through the broker, bypassing pipeline_env's stub of ``send_task`` (which keeps launch
    from dispatching: this test dispatches itself)."""
    from celery import Celery

    from sealpost.celery import app

    Celery.send_task(app, name, args=list(args))


def analyze_as_autovacuum_would() -> None:
    """Fresh planner statistics for the tables the pipeline's queries read, as autovacuum gives
    them after a bulk load. The test server runs with autovacuum off: with statistics from
    before the load, the send-time consent re-check took about 60 s per batch of 500 at 20,000
    contacts, against about 2 s with them (run as the owner: only it may ANALYZE)."""
    import psycopg

    from campaigns.models import Message as MessageModel
    from consent.models import ContactConsent, Suppression
    from segments.models import Contact

    db = connection.settings_dict
    owner = db.get("OWNER") or {"USER": db["USER"], "PASSWORD": db["PASSWORD"]}
    tables = [model._meta.db_table for model in (Contact, ContactConsent, Suppression, MessageModel)]
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        dbname=db["NAME"],
        user=owner["USER"],
        password=owner.get("PASSWORD") or None,
        autocommit=True,
    ) as owner_connection:
        owner_connection.execute(f"ANALYZE {', '.join(tables)}")


def worker_environment(env: Env, settings: Any) -> dict[str, str]:
    """What a worker needs to work on the test's data: the test database (as the application
    role), the test's master key, CA and routes. REDIS_URL (the broker) is inherited."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DATABASE_MIGRATE_URL": url,
        "SEALPOST_MASTER_KEY_FILE": str(settings.MASTER_KEY_FILE),
        "SITE_URL": settings.SITE_URL,
        "DELIVERY_TLS_CA_FILE": settings.DELIVERY_TLS_CA_FILE,
        "DELIVERY_MX_OVERRIDES": json.dumps({TLS_DOMAIN: env.tls.route(MX_HOST)}),
        "DELIVERY_PROBE_TIMEOUT_SECONDS": "5",
        "PYTHONUNBUFFERED": "1",
    }


def start_worker(name: str, environment: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``celery -A sealpost worker``, prefork with one child, leading its own process group."""
    argv = [
        sys.executable, "-m", "celery", "-A", "sealpost", "worker", "--pool", "prefork", "--concurrency", "1",
        "--hostname", f"{name}@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
        "--without-heartbeat", "--queues", QUEUE,
    ]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def kill_group(worker: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # it exited already
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)  # warm shutdown
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            kill_group(worker)


def log_tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""


def campaign_status(env: Env, campaign: Campaign) -> str:
    with tenant_context(env.tenant):
        return Campaign.objects.for_tenant(env.tenant).values_list("status", flat=True).get(pk=campaign.pk)


def sending_leases(env: Env, campaign: Campaign) -> dict[int, str]:
    """Message id -> lease owner of the campaign's ``sending`` messages."""
    with tenant_context(env.tenant):
        rows = Message.objects.for_tenant(env.tenant).filter(campaign_id=campaign.pk, status=S.SENDING)
        return dict(rows.values_list("pk", "lease_owner"))


def age_leases(env: Env, leases: dict[int, str]) -> int:
    """These leases (the dead worker's) as they will be once ``LEASE_SECONDS`` have passed."""
    past = timezone.now() - timedelta(seconds=1)
    with tenant_context(env.tenant):
        rows = Message.objects.for_tenant(env.tenant).filter(pk__in=list(leases), status=S.SENDING)
        return rows.filter(lease_owner__in=set(leases.values())).update(lease_expires_at=past)


def unacked_task_ids(broker: Any) -> list[str]:
    """The ids of the tasks Redis holds as delivered and not acknowledged."""
    ids = []
    for raw in broker.hvals("unacked"):
        payload, _exchange, _routing_key = json.loads(raw)
        ids.append(payload["headers"]["id"])
    return ids


def queued_task_ids(broker: Any) -> list[str]:
    return [json.loads(raw)["headers"]["id"] for raw in broker.lrange(QUEUE, 0, -1)]


def wait_until(condition: Any, deadline: float, what: str, log: Path, *workers: subprocess.Popen[bytes]) -> None:
    while not condition():
        for worker in workers:
            assert worker.poll() is None, log_tail(log)
        assert time.monotonic() < deadline, f"{what}\n{log_tail(log)}"
        time.sleep(0.1)


def restore_unacked_as_kombu_would(broker: Any) -> int:
    """What kombu does on its own once ``visibility_timeout`` has passed: the unacked entries'
    timestamps are aged by that much, then kombu's ``restore_visible`` puts them back."""
    from sealpost.celery import app

    tags = [tag for tag, _ in broker.zrange("unacked_index", 0, -1, withscores=True)]
    if tags:
        broker.zadd("unacked_index", dict.fromkeys(tags, 0))
    with app.connection_for_write() as conn:
        channel: Any = conn.default_channel  # kombu's Redis channel
        channel.qos.restore_visible(num=len(tags) + 10)
    return len(tags)


@pytest.mark.parametrize("recovery", ["redelivered", "dispatch_due"])
def test_celery_worker_killed_mid_campaign_then_a_fresh_worker_finishes_exactly_once(
    pipeline_env, settings, broker, tmp_path, recovery
):
    env = pipeline_env
    total = CRASH_MESSAGES
    bulk_consenting(env, total)
    campaign = launch(env, html=PLAIN_HTML)
    analyze_as_autovacuum_would()
    environment = worker_environment(env, settings)
    log = tmp_path / "workers.log"
    started = time.monotonic()

    send_task("delivery.campaign_dispatch", env.tenant.pk, str(campaign.pk))
    doomed = start_worker("doomed", environment, log)
    try:
        deadline = time.monotonic() + WORKER_START_SECONDS + total / 50
        # Half-way through a chunk half-way through a batch, about a third into the campaign.
        kill_at = BATCH_SIZE * max(1, total // (3 * BATCH_SIZE)) + BATCH_SIZE // 2 + SEND_CHUNK // 2
        while env.tls.recorder.received_count < kill_at:
            assert doomed.poll() is None, log_tail(log)
            assert time.monotonic() < deadline, f"the worker sent too little\n{log_tail(log)}"
            time.sleep(0.01)
    finally:
        kill_group(doomed)  # main process and pool child at once, mid-batch
    killed_at = time.monotonic()
    before = status_counts(env, campaign)
    arrived_before = env.tls.recorder.received_count
    assert before[S.SENDING] > 0, before  # it died holding a batch
    assert before[S.QUEUED] > 0, before  # with work left
    dead_leases = sending_leases(env, campaign)  # no worker runs now: all the dead one's
    assert len(set(dead_leases.values())) == 1
    # acks_late: the batch it was working on was never acknowledged; Redis still holds it.
    killed_tasks = unacked_task_ids(broker)
    assert killed_tasks, "the killed batch's task was acknowledged"

    deadline = time.monotonic() + WORKER_START_SECONDS + total / 50
    if recovery == "redelivered":
        # An hour and five minutes later: kombu requeues the task, the leases have expired.
        assert age_leases(env, dead_leases) == len(dead_leases)
        assert restore_unacked_as_kombu_would(broker) == len(killed_tasks)
        assert broker.hlen("unacked") == 0 and set(killed_tasks) <= set(queued_task_ids(broker))
        survivor = start_worker("survivor", environment, log)
    else:
        # The other chains finish what was queued; the dead batch stays under its leases
        # (and its task in "unacked") and nothing else happens...
        survivor = start_worker("survivor", environment, log)

        def only_dead_batch_left() -> bool:
            return (
                status_counts(env, campaign)
                == Counter({S.SENT: total - len(dead_leases) - before[S.UNKNOWN], S.SENDING: len(dead_leases)})
                and broker.llen(QUEUE) == 0
            )

        wait_until(only_dead_batch_left, deadline, "the other chains did not finish", log, survivor)
        assert sending_leases(env, campaign) == dead_leases
        assert campaign_status(env, campaign) == CampaignStatus.SENDING
        # ...until the leases expire and beat's dispatch_due starts a chain for it.
        assert age_leases(env, dead_leases) == len(dead_leases)
    try:
        next_beat = time.monotonic()
        while campaign_status(env, campaign) != CampaignStatus.COMPLETED:
            assert survivor.poll() is None, log_tail(log)
            assert time.monotonic() < deadline, f"not finished: {status_counts(env, campaign)}\n{log_tail(log)}"
            if recovery == "dispatch_due" and time.monotonic() >= next_beat:
                send_task("delivery.dispatch_due")  # what beat sends every minute
                next_beat = time.monotonic() + 2
            time.sleep(0.1)
        finished_at = time.monotonic()
        # Chains still queued when the campaign completed claim nothing; let them run out before
        # the survivor stops (a task it had reserved would go back to the queue on shutdown).
        left_unacked = set() if recovery == "redelivered" else set(killed_tasks)

        def drained() -> bool:
            return broker.llen(QUEUE) == 0 and set(unacked_task_ids(broker)) == left_unacked

        wait_until(drained, time.monotonic() + 30, "the queue did not drain", log, survivor)
    finally:
        stop_worker(survivor)

    counts = message_ids(received(env.tls))
    expected = expected_ids(env, campaign)
    assert set(counts) <= set(expected)
    duplicates = sum(n - 1 for n in counts.values())
    assert duplicates == 0, "a recipient got two copies"
    final = {pk: status for pk, status in _statuses(env, campaign).items()}
    assert set(final.values()) <= {S.SENT, S.UNKNOWN}, Counter(final.values())
    got = {expected[mid] for mid in counts}
    sent = {pk for pk, status in final.items() if status == S.SENT}
    unknown = {pk for pk, status in final.items() if status == S.UNKNOWN}
    assert sent <= got  # every "sent" copy arrived
    assert got <= sent | unknown  # and nothing arrived that is not accounted for
    assert len(sent) + len(unknown) == total  # none lost
    assert 0 < len(unknown) <= SEND_CHUNK  # the chunk in flight when the worker died, at most
    print(
        f"celery crash test ({recovery}): {total} messages, {len(sent)} sent, {len(unknown)} unknown, "
        f"{duplicates} duplicates, {len(counts)} distinct copies at the sink; killed after {arrived_before} "
        f"arrived ({dict(before)}); {killed_at - started:.1f} s to the kill, "
        f"{finished_at - killed_at:.1f} s from the kill to completion"
    )
    # Everything was consumed and acknowledged: the redelivered task too, in the first case; in
    # the second, the killed one still waits in "unacked" (harmless when it comes back after the
    # visibility timeout: its claim finds nothing).
    assert broker.llen(QUEUE) == 0
    assert set(unacked_task_ids(broker)) == left_unacked


def _statuses(env: Env, campaign: Campaign) -> dict[int, str]:
    with tenant_context(env.tenant):
        rows = Message.objects.for_tenant(env.tenant).filter(campaign_id=campaign.pk)
        return dict(rows.values_list("pk", "status"))
