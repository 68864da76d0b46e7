"""Trigger event ingestion through the API (``make bench``; issue 13's goal: >= 2,000 events/s).

The product's own server (gunicorn, ``TRIGGER_BENCH_SERVER_WORKERS`` sync workers, 2 by
default) serves ``POST /api/events/batch/``; ``TRIGGER_BENCH_CLIENTS`` client threads (2) send
``TRIGGER_BENCH_EVENTS`` events (100,000) in batches of ``TRIGGER_BENCH_BATCH`` (500) with an
API token holding ``events:write``, over HTTP on loopback. Each event is an
``appointment.scheduled`` for one of ``TRIGGER_BENCH_CONTACTS`` synthetic contacts (20,000),
named by external id (a blind-index lookup), with five PHI fields (encrypted) and one plain one:
everything production does per event, validation, idempotency lookup, audit, included.

Also printed: the rate of single-event requests (``POST /api/events/``, ``TRIGGER_BENCH_SINGLES``
of them, 2,000) for integrations that cannot batch, a replay of a batch (idempotent retries), and
the batch rate while an active journey starts a walk for every event
(``TRIGGER_BENCH_JOURNEY_EVENTS``, 20,000, of the organisation's own type ``bench.visit``: a wait
until 48 hours before the visit, then a send; each walk and its first step's due work are written
with the event).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import django

EVENTS = int(os.environ.get("TRIGGER_BENCH_EVENTS", "100000"))
BATCH = int(os.environ.get("TRIGGER_BENCH_BATCH", "500"))
CONTACTS = int(os.environ.get("TRIGGER_BENCH_CONTACTS", "20000"))
CLIENTS = int(os.environ.get("TRIGGER_BENCH_CLIENTS", "2"))
SERVER_WORKERS = int(os.environ.get("TRIGGER_BENCH_SERVER_WORKERS", "2"))
SINGLES = int(os.environ.get("TRIGGER_BENCH_SINGLES", "2000"))
JOURNEY_EVENTS = int(os.environ.get("TRIGGER_BENCH_JOURNEY_EVENTS", "20000"))
JOURNEY_TYPE = "bench.visit"
SLUG = "bench-triggers"
CONTACT_CHUNK = 2000


def _fixtures() -> tuple[Any, str]:
    """The organisation, its contacts (made once, reused) and a fresh token with events:write."""
    from authn.models import User
    from authn.services import api_application_create
    from segments.models import Contact
    from tenants.context import tenant_context
    from tenants.models import Membership, Organisation
    from tenants.roles import Role
    from tenants.services import membership_create

    tenant, _ = Organisation.objects.get_or_create(slug=SLUG, defaults={"name": "Benchmark triggers"})
    email = f"{SLUG}@example.com"
    user = User.objects.filter(email=email).first() or User.objects.create_user(email=email, password=None)
    with tenant_context(tenant):
        if not Membership.objects.for_tenant(tenant).filter(user=user).exists():
            membership_create(tenant=tenant, actor=None, user=user, role=Role.ADMIN)
        have = Contact.objects.for_tenant(tenant).count()
        for start in range(have, CONTACTS, CONTACT_CHUNK):
            Contact.objects.bulk_create(
                [
                    Contact(
                        tenant=tenant,
                        email=f"trigger{n}@example.com",
                        first_name="Synthetic",
                        last_name=f"Patient{n}",
                        external_id=f"EHR-{n:07d}",
                    )
                    for n in range(start, min(CONTACTS, start + CONTACT_CHUNK))
                ]
            )
        if have < CONTACTS:
            _analyze("segments_contact")  # as autovacuum would after a load: the planner needs the sizes
        issued = api_application_create(
            tenant=tenant,
            actor=user,
            name=f"Bench {uuid.uuid4().hex[:6]}",
            scopes=["events:write"],
            lifetime=timedelta(days=1),
        )
    return tenant, issued.secret


def _analyze(table: str) -> None:
    import psycopg

    with psycopg.connect(os.environ["DATABASE_MIGRATE_URL"], autocommit=True) as owner:
        owner.execute(f"ANALYZE {table}")  # type: ignore[arg-type]


def _journey_fixtures() -> None:
    """An organisation-defined type ``bench.visit`` and an active journey on it (made once): a
    wait until 48 hours before the visit, then a send of an approved template."""
    from audit.services import actor_for_user
    from authn.models import User
    from campaigns.journeys import (
        JourneyInput,
        journey_activate,
        journey_create,
        journey_version_review,
        journey_version_submit,
    )
    from campaigns.models import Journey, JourneyStatus, TriggerType
    from campaigns.triggers import trigger_type_create
    from templates.services import ContentInput, template_create, version_approve, version_submit
    from tenants.context import tenant_context
    from tenants.models import Membership, Organisation
    from tenants.roles import Role
    from tenants.services import membership_create

    tenant = Organisation.objects.get(slug=SLUG)
    admin = User.objects.get(email=f"{SLUG}@example.com")
    email = f"{SLUG}-officer@example.com"
    officer = User.objects.filter(email=email).first() or User.objects.create_user(email=email, password=None)
    with tenant_context(tenant):
        if Journey.objects.for_tenant(tenant).filter(trigger_type=JOURNEY_TYPE, status=JourneyStatus.ACTIVE).exists():
            return
        if not Membership.objects.for_tenant(tenant).filter(user=officer).exists():
            membership_create(tenant=tenant, actor=None, user=officer, role=Role.COMPLIANCE_OFFICER)
        if not TriggerType.objects.for_tenant(tenant).filter(key=JOURNEY_TYPE).exists():
            trigger_type_create(
                tenant=tenant,
                actor=actor_for_user(admin),
                key=JOURNEY_TYPE,
                label="Bench visit",
                fields=[
                    {"key": "appointment_id", "type": "text", "required": True},
                    {"key": "appointment_at", "type": "datetime", "required": True},
                ],
                correlation_field="appointment_id",
            )
        html = "<p>Your visit at {{ org.name }} is on {{ event.appointment_at|datetime }}.</p>"
        content = ContentInput(language="en", subject="Your visit", html_body=html)
        version = template_create(
            tenant=tenant, user=admin, name="Bench visit reminder", purpose="appointment_reminders", contents=[content]
        )
        version_submit(tenant=tenant, user=admin, version=version)
        version_approve(tenant=tenant, user=officer, version=version)
        journey = journey_create(
            tenant=tenant,
            user=admin,
            actor=actor_for_user(admin),
            data=JourneyInput("Bench reminders", JOURNEY_TYPE, "appointment_reminders", "Bench", f"r@{SLUG}.example"),
            steps=[
                {"type": "wait", "until": "appointment_at", "hours": -48},
                {"type": "send", "template": str(version.template_id)},
            ],
        )
        submitted = journey_version_submit(
            tenant=tenant, user=admin, actor=actor_for_user(admin), version=journey.versions.get()
        )
        approved = journey_version_review(
            tenant=tenant, user=officer, actor=actor_for_user(officer), version=submitted, approve=True
        )
        journey_activate(tenant=tenant, user=admin, actor=actor_for_user(admin), journey=journey, version=approved)


def _journey_event(run: str, n: int) -> dict[str, Any]:
    event = _event(run, n)
    event["type"] = JOURNEY_TYPE
    event["data"] = {"appointment_id": f"APPT-{run}-{n}", "appointment_at": "2027-06-15T09:30:00-04:00"}
    return event


def _event(run: str, n: int) -> dict[str, Any]:
    return {
        "id": f"{run}-{n}",
        "type": "appointment.scheduled",
        "contact": {"external_id": f"EHR-{n % CONTACTS:07d}"},
        "occurred_at": "2026-11-01T12:00:00+00:00",
        "data": {
            "appointment_id": f"APPT-{run}-{n}",
            "appointment_at": "2026-12-15T09:30:00-05:00",
            "provider_name": "Dr. Synthetic Bench",
            "location": "Synthetic Clinic, Suite 100",
            "appointment_type": "Follow-up",
            "department": "Cardiology",
        },
    }


def _free_port() -> int:
    from tests.free_port import free_port

    return free_port()


def _start_server(port: int) -> subprocess.Popen[bytes]:
    root = Path(__file__).resolve().parents[2]
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "sealpost.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(SERVER_WORKERS),
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("The server did not start.")


def _post(port: int, path: str, token: str, body: Any) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _send_all(port: int, token: str, batches: list[list[dict[str, Any]]], path: str) -> float:
    """Send every batch with CLIENTS threads; the elapsed seconds. Any non-2xx is fatal."""
    lock = threading.Lock()
    queue = list(reversed(batches))
    failures: list[str] = []

    def work() -> None:
        while True:
            with lock:
                if not queue or failures:
                    return
                batch = queue.pop()
            body: Any = batch[0] if path == "/api/events/" else {"events": batch}
            code, answer = _post(port, path, token, body)
            if code not in (200, 201):
                with lock:
                    failures.append(f"{code} {json.dumps(answer)[:300]}")

    started = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"A request failed: {failures[0]}")
    return elapsed


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sealpost.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    _, token = _fixtures()
    connection.close()
    print(f"setup: {CONTACTS} contacts, a token with events:write in {time.perf_counter() - started:.1f} s", flush=True)
    port = _free_port()
    server = _start_server(port)
    try:
        run = uuid.uuid4().hex[:8]
        events = [_event(run, n) for n in range(EVENTS)]
        batches = [events[n : n + BATCH] for n in range(0, EVENTS, BATCH)]
        _send_all(port, token, batches[:2], "/api/events/batch/")  # warm-up: imports, connections
        measured = batches[2:]
        count = sum(len(batch) for batch in measured)
        elapsed = _send_all(port, token, measured, "/api/events/batch/")
        print(
            f"batch ingestion: {count} events in {len(measured)} requests of {BATCH}, {CLIENTS} clients, "
            f"{SERVER_WORKERS} server workers: {elapsed:.1f} s",
            flush=True,
        )
        print(f"RESULT trigger_ingest_events_per_s {count / elapsed:.0f} events/s", flush=True)
        replay = _send_all(port, token, measured[:20], "/api/events/batch/")
        replayed = sum(len(batch) for batch in measured[:20])
        print(f"RESULT trigger_replay_events_per_s {replayed / replay:.0f} events/s", flush=True)
        singles = [[_event(f"{run}s", n)] for n in range(SINGLES)]
        elapsed = _send_all(port, token, singles, "/api/events/")
        print(f"RESULT trigger_single_requests_per_s {SINGLES / elapsed:.0f} requests/s", flush=True)
        if JOURNEY_EVENTS:
            _journey_fixtures()
            connection.close()
            journey_events = [_journey_event(f"{run}j", n) for n in range(JOURNEY_EVENTS)]
            journey_batches = [journey_events[n : n + BATCH] for n in range(0, JOURNEY_EVENTS, BATCH)]
            elapsed = _send_all(port, token, journey_batches, "/api/events/batch/")
            print(
                f"RESULT trigger_ingest_with_journey_events_per_s {JOURNEY_EVENTS / elapsed:.0f} events/s "
                "(each event starts a walk and schedules its first step)",
                flush=True,
            )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
