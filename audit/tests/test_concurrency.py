"""Several processes appending to one tenant's chain at once leave one valid chain."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from audit.models import AuditEvent
from audit.verify import verify_chain
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
WRITERS = 4
EVENTS_PER_WRITER = 60

WRITER = """
import django, sys
django.setup()
from audit.services import SYSTEM, EventInput, record, record_many
from tenants.context import tenant_context
from tenants.tasks import organisation_for_task

tenant = organisation_for_task(int(sys.argv[1]))
for n in range(int(sys.argv[2])):
    with tenant_context(tenant):  # one transaction per append, as requests do
        if n % 3 == 0:
            record_many(tenant=tenant, events=[EventInput("audit.viewed", SYSTEM) for _ in range(3)])
        else:
            record(tenant=tenant, action="audit.viewed", actor=SYSTEM, details={"n": n})
"""


def test_concurrent_writers_leave_one_valid_chain(world):
    tenant = world.a.tenant
    with tenant_context(tenant):
        before = AuditEvent.objects.filter(chain_id=tenant.pk).count()
    settings = connection.settings_dict
    url = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT'] or 5432}/{settings['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "sealpost.settings"}
    env.pop("DATABASE_MIGRATE_URL", None)
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tenant.pk), str(EVENTS_PER_WRITER)], cwd=ROOT, env=env)
        for _ in range(WRITERS)
    ]
    assert [writer.wait(timeout=120) for writer in writers] == [0] * WRITERS
    per_writer = sum(3 if n % 3 == 0 else 1 for n in range(EVENTS_PER_WRITER))
    with tenant_context(tenant):
        report = verify_chain(tenant)
        seqs = list(AuditEvent.objects.filter(chain_id=tenant.pk).order_by("seq").values_list("seq", flat=True))
    assert report.ok, report.describe()
    assert report.events == before + WRITERS * per_writer
    assert seqs == list(range(1, report.events + 1))
