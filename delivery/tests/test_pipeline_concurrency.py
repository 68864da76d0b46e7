"""Exactly once under concurrency and crashes, with committed data and separate connections:

* two workers (threads, each with its own database connection and transport) working one
  campaign at the same time: every recipient gets exactly one copy;
* a worker process SIGKILLed in the middle of a campaign, then another finishing it after the
  dead worker's leases expired: the sink's Message-ID counts show every recipient at most once,
  and every message is ``sent`` (its copy arrived) or ``unknown`` (handed off, no reply
  recorded); none is left queued or sending, none lost.

The crash test uses ``PIPELINE_CRASH_MESSAGES`` messages (2,000 by default; the issue's 20,000
with ``PIPELINE_CRASH_MESSAGES=20000``, which takes minutes here)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.models import MessageStatus
from delivery.mime import message_id_for
from delivery.pipeline import LEASE_SECONDS, SEND_CHUNK
from delivery.tests import test_pipeline_support as support
from delivery.tests.test_pipeline_support import (
    FROM_DOMAIN,
    PLAIN_HTML,
    TLS_DOMAIN,
    Env,
    launch,
    message_ids,
    received,
    rows,
    run_until_done,
    status_counts,
)
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db(transaction=True)
# The shared fixtures (test_pipeline_support), used by name.
ca, mx_cert, servers, pipeline_env = support.ca, support.mx_cert, support.servers, support.pipeline_env
S = MessageStatus
CRASH_MESSAGES = int(os.environ.get("PIPELINE_CRASH_MESSAGES", "2000"))


@pytest.fixture
def needs_baa() -> bool:
    return False  # non-PHI campaigns: the flush of transactional tests removes the BAA text


def bulk_consenting(env: Env, count: int, domain: str = TLS_DOMAIN, prefix: str = "p") -> None:
    """``count`` consenting contacts, written in bulk (the per-contact services take too long for
    thousands): the same rows the services write, each field encrypted by its model field."""
    from consent.models import ConsentStatus, ContactConsent
    from segments.models import Contact, ContactIndex

    tenant = env.tenant
    with tenant_context(tenant):
        contacts = []
        for n in range(count):
            contact = Contact(tenant=tenant, email=f"{prefix}{n}@{domain}", first_name="Avery", last_name=f"S{n}")
            for model_field in Contact._meta.concrete_fields:  # blind indexes are filled in pre_save
                model_field.pre_save(contact, add=True)
            contacts.append(contact)
        Contact.objects.bulk_create(contacts, batch_size=1000)
        ContactIndex.objects.bulk_create(
            [ContactIndex(tenant=tenant, contact=c, terms=[], attributes={}) for c in contacts], batch_size=1000
        )
        ContactConsent.objects.bulk_create(
            [
                ContactConsent(
                    tenant=tenant,
                    contact=c,
                    purpose="appointment_reminders",
                    status=ConsentStatus.GRANTED,
                    source="import",
                )
                for c in contacts
            ],
            batch_size=1000,
        )


def expected_ids(env: Env, campaign) -> dict[str, int]:
    return {
        message_id_for(tenant_id=env.tenant.pk, message_row_id=m.pk, domain=FROM_DOMAIN): m.pk
        for m in rows(env, campaign)
    }


def test_two_workers_on_one_campaign_send_no_duplicates(pipeline_env):
    from delivery.transport import SmtpTransport

    env = pipeline_env
    bulk_consenting(env, 300)
    campaign = launch(env, html=PLAIN_HTML)
    errors: list[BaseException] = []
    batches: Counter[str] = Counter()

    def worker(owner: str) -> None:
        transport = SmtpTransport(timeout=5, data_timeout=5)
        try:
            own = Env(env.fixture, env.tls, env.plain, env.sending_domain, transport)
            batches[owner] = run_until_done(own, campaign, owner, batch_size=25)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            transport.close()
            connection.close()

    threads = [threading.Thread(target=worker, args=(f"worker-{n}",)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert batches["worker-1"] > 1 and batches["worker-2"] > 1  # both did work
    counts = message_ids(received(env.tls))
    assert set(counts) == set(expected_ids(env, campaign))
    assert set(counts.values()) == {1}
    assert status_counts(env, campaign) == {S.SENT: 300}


def test_worker_killed_mid_campaign_then_another_finishes_exactly_once(pipeline_env, settings):
    env = pipeline_env
    total = CRASH_MESSAGES
    bulk_consenting(env, total)
    campaign = launch(env, html=PLAIN_HTML)
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    child_env = {
        **os.environ,
        "DATABASE_URL": url,
        "DATABASE_MIGRATE_URL": url,
        "SEALPOST_MASTER_KEY_FILE": str(settings.MASTER_KEY_FILE),
        "SITE_URL": settings.SITE_URL,
        "DELIVERY_TLS_CA_FILE": settings.DELIVERY_TLS_CA_FILE,
        "DELIVERY_MX_OVERRIDES": json.dumps({TLS_DOMAIN: env.tls.route()}),
        "PIPELINE_TEST_BATCH": "100",
    }
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-m", "delivery.tests.test_pipeline_support", str(env.tenant.pk), str(campaign.pk), "doomed"],
        cwd=root,
        env=child_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        # Half-way through a chunk of a batch (batches of 100 from message 0).
        kill_at = (total // 400) * 100 + SEND_CHUNK // 2
        while len(env.tls.recorder.received) < kill_at:
            assert child.poll() is None, child.stderr.read().decode()[-2000:] if child.stderr else ""
            assert time.monotonic() < deadline, "the worker sent too little"
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)  # in the middle of a batch
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    before = status_counts(env, campaign)
    assert before[S.SENDING] > 0  # it died holding a batch
    assert before[S.QUEUED] > 0  # with work left
    # Another worker, once the dead one's leases expired.
    later = timezone.now() + timedelta(seconds=LEASE_SECONDS + 60)
    run_until_done(env, campaign, "survivor", limit=total, now=later, batch_size=200)

    counts = message_ids(received(env.tls))
    expected = expected_ids(env, campaign)
    assert set(counts) <= set(expected)
    assert max(counts.values()) == 1, "a recipient got two copies"
    final = {m.pk: m.status for m in rows(env, campaign)}
    assert set(final.values()) <= {S.SENT, S.UNKNOWN}, Counter(final.values())
    got = {expected[mid] for mid in counts}
    sent = {pk for pk, status in final.items() if status == S.SENT}
    unknown = {pk for pk, status in final.items() if status == S.UNKNOWN}
    assert sent <= got  # every "sent" copy arrived
    assert got <= sent | unknown  # and nothing arrived that is not accounted for
    assert len(sent) + len(unknown) == total  # none lost
    assert len(unknown) <= SEND_CHUNK  # at most the chunk in flight when the worker died
    print(f"crash test: {total} messages, {len(sent)} sent, {len(unknown)} unknown, killed after {before}")
