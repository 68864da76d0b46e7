"""Audit log benchmarks (``make bench``, PostgreSQL):

- batched append rate through ``audit.record_many`` (the send pipeline's path), events/s;
- verification of a 1,000,000-event chain, seconds, by the SQL engine and the Python engine.

Runs against its own database (``sealpost_bench``), emptied of audit events first.
"""

from __future__ import annotations

import os
import time
import uuid

import django

APPEND_EVENTS = 200_000
CHAIN_EVENTS = 1_000_000
BATCH = 10_000


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sealpost.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _empty_audit_tables() -> None:
    from django.db import connection

    from tenants.db.postgresql.base import as_owner

    with as_owner(connection), connection.cursor() as cursor:
        cursor.execute("SET sealpost.audit_maintenance = 'truncate'")
        cursor.execute("TRUNCATE audit_auditevent, audit_auditchainhead, audit_auditcheckpoint")
        cursor.execute("RESET sealpost.audit_maintenance")


def _events(count: int):  # type: ignore[no-untyped-def]
    from audit.services import EventInput, Target, system_actor

    actor = system_actor("delivery.worker")
    campaign = str(uuid.uuid4())
    return [
        EventInput(
            "contact.phi_viewed",
            actor,
            Target("message", str(uuid.uuid4())),
            {"campaign_id": campaign, "status": "sent", "attempt": 1},
        )
        for _ in range(count)
    ]


def _append(tenant, total: int) -> float:  # type: ignore[no-untyped-def]
    from audit.services import record_many
    from tenants.context import tenant_context

    elapsed = 0.0
    for _ in range(total // BATCH):
        events = _events(BATCH)  # built outside the timing: the caller has them already
        started = time.perf_counter()
        with tenant_context(tenant):
            record_many(tenant=tenant, events=events)
        elapsed += time.perf_counter() - started
    return elapsed


def main() -> None:
    _setup()
    from audit.verify import verify_chain
    from tenants.context import tenant_context
    from tenants.models import Organisation

    _empty_audit_tables()
    tenant, _ = Organisation.objects.get_or_create(slug="bench", defaults={"name": "Benchmark organisation"})

    elapsed = _append(tenant, APPEND_EVENTS)
    print(f"RESULT audit_batched_append_rate {APPEND_EVENTS / elapsed:.0f} events/s", flush=True)

    _append(tenant, CHAIN_EVENTS - APPEND_EVENTS)
    for engine in ("sql", "python"):
        started = time.perf_counter()
        with tenant_context(tenant):
            report = verify_chain(tenant, engine=engine)
        seconds = time.perf_counter() - started
        assert report.ok and report.events == CHAIN_EVENTS, report.describe()
        print(f"RESULT audit_verify_1m_events_{engine} {seconds:.2f} s", flush=True)
