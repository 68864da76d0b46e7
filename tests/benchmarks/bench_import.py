"""Contact import rate (``make bench``): a synthetic CSV of ``BENCH_IMPORT_ROWS`` rows (default
1,000,000; example.com emails, a PHI date attribute, a non-PHI choice attribute) is uploaded
(stored encrypted), validated in full, then applied in one transaction, as the Celery task does.

Prints the end-to-end rate (validation + apply, PHI encrypted), each phase's rate, the final
``INSERT ... SELECT`` and what follows the apply (mostly the commit's deferred foreign-key
checks), the CPU per row of this process and of its PostgreSQL backend (steadier than rates on a
shared machine; the backend's only when PostgreSQL runs on this machine) and the process's peak
RSS. ``BENCH_IMPORT_PROFILE=1`` prints the top of a cProfile of the run instead
of nothing (use with fewer rows)."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator

import django

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "1000000"))
LINES_PER_CHUNK = 5000
PLANS = ("Gold", "Silver", "Bronze")


def synthetic_csv(rows: int) -> Iterator[bytes]:
    yield b"email,first_name,last_name,external_id,next_visit,plan,tags\n"
    for start in range(0, rows, LINES_PER_CHUNK):
        lines = []
        for n in range(start, min(rows, start + LINES_PER_CHUNK)):
            day = 1 + n % 28
            month = 1 + n % 12
            lines.append(
                f"patient{n}@example.com,Synthetic,Person{n},EXT-{n:08d},2027-{month:02d}-{day:02d},"
                f"{PLANS[n % 3]},bench\n"
            )
        yield "".join(lines).encode()


def _backend_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a local PostgreSQL backend (None when it is not readable here)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sealpost.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("ensure_keys", verbosity=0)
    from django.db import connection

    from audit.services import SYSTEM
    from authn.models import User
    from segments import imports, tasks
    from segments.models import AttributeDefinition, AttributeType, ContactImport, ImportStatus
    from tenants.context import tenant_context
    from tenants.models import Organisation

    tasks.contact_import_task.delay = lambda *args: None  # type: ignore[method-assign,assignment]  # run inline below
    tenant, _ = Organisation.objects.get_or_create(slug="bench-import", defaults={"name": "Import benchmark"})
    user = User.objects.filter(email="bench-import@example.com").first() or User.objects.create_user(
        email="bench-import@example.com", password=None, full_name="Import benchmark"
    )
    with tenant_context(tenant):
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM segments_contact_index WHERE tenant_id = %s", [tenant.pk])
            cursor.execute("DELETE FROM segments_contact WHERE tenant_id = %s", [tenant.pk])
        AttributeDefinition.objects.get_or_create(
            tenant=tenant,
            key="next_visit",
            defaults={"label": "Next visit", "type": AttributeType.DATE, "is_phi": True},
        )
        AttributeDefinition.objects.get_or_create(
            tenant=tenant, key="plan", defaults={"label": "Plan", "type": AttributeType.CHOICE, "choices": list(PLANS)}
        )
    rss_before = _rss_mb()
    started = time.perf_counter()
    with tenant_context(tenant):
        contact_import = imports.import_create(tenant=tenant, actor=SYSTEM, user=user, chunks=synthetic_csv(ROWS))
        imports.import_start(
            tenant=tenant,
            actor=SYSTEM,
            contact_import=contact_import,
            mapping=dict(contact_import.mapping),
            match_on="external_id",
        )
    upload_seconds = time.perf_counter() - started

    phases: dict[str, float] = {}
    real_validate, real_apply = imports._validate, imports._apply

    def timed(name, body):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            begun = time.perf_counter()
            try:
                return body(*args, **kwargs)
            finally:
                phases[name] = time.perf_counter() - begun

        return wrapper

    imports._validate = timed("validate", real_validate)  # type: ignore[assignment]
    imports._apply = timed("apply", real_apply)  # type: ignore[assignment]
    from segments import import_writer

    real_flush = import_writer.BatchWriter.flush
    import_writer.BatchWriter.flush = timed("final_insert", real_flush)  # type: ignore[method-assign]
    profile = os.environ.get("BENCH_IMPORT_PROFILE") == "1"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = int(cursor.fetchone()[0])
    backend_before = _backend_cpu_seconds(backend)
    cpu_before = time.process_time()
    begun = time.perf_counter()
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(imports.import_run, tenant=tenant, import_id=contact_import.pk)
    else:
        imports.import_run(tenant=tenant, import_id=contact_import.pk)
    run_seconds = time.perf_counter() - begun
    cpu_seconds = time.process_time() - cpu_before
    backend_after = _backend_cpu_seconds(backend)
    with tenant_context(tenant):
        done = ContactImport.objects.for_tenant(tenant).get(pk=contact_import.pk)
    if done.status != ImportStatus.DONE or done.created_count != ROWS:
        raise SystemExit(f"import ended {done.status} with {done.created_count} created: {done.errors[:3]}")
    print(f"RESULT import_rows_per_s {ROWS / run_seconds:.0f} rows/s", flush=True)
    print(f"RESULT import_validate_rows_per_s {ROWS / phases['validate']:.0f} rows/s", flush=True)
    print(f"RESULT import_apply_rows_per_s {ROWS / phases['apply']:.0f} rows/s", flush=True)
    # Inside the apply: the staged rows' INSERT ... SELECT; after it: the commit (deferred
    # foreign-key checks), the import's own row and the audit events.
    print(f"RESULT import_final_insert_s {phases.get('final_insert', 0.0):.1f} s", flush=True)
    print(f"RESULT import_after_apply_s {run_seconds - phases['validate'] - phases['apply']:.1f} s", flush=True)
    # CPU per row: steadier than rates on a shared machine.
    print(f"RESULT import_python_cpu_per_row {cpu_seconds / ROWS * 1e6:.1f} us", flush=True)
    if backend_before is not None and backend_after is not None:
        print(f"RESULT import_postgres_cpu_per_row {(backend_after - backend_before) / ROWS * 1e6:.1f} us", flush=True)
    print(f"RESULT import_upload_encrypt_s {upload_seconds:.1f} s", flush=True)
    print(f"RESULT import_peak_rss {_rss_mb():.0f} MB", flush=True)
    print(f"RESULT import_rss_growth {_rss_mb() - rss_before:.0f} MB", flush=True)
    if profile:
        pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_IMPORT_SORT", "cumulative")).print_stats(30)
    with tenant_context(tenant), connection.cursor() as cursor:
        cursor.execute("DELETE FROM segments_contact_index WHERE tenant_id = %s", [tenant.pk])
        cursor.execute("DELETE FROM segments_contact WHERE tenant_id = %s", [tenant.pk])
