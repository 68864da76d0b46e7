"""Segments at a million contacts (``make bench``): counts with three non-PHI conditions and with
one PHI equality, and keyset iteration of a 500,000-contact segment in batches of 1,000.

The contacts are synthetic and loaded fast: one ciphertext per distinct field value, reused
across rows (such rows cannot be decrypted, which no measurement here needs), PHI tokens computed
by the real ``phi_tokens_of``. COPY is refused on tables under row-level security, so rows are
copied into a temporary table and inserted from there as the tenant. The segment indexes are
dropped for the load and rebuilt afterwards from the migration's own definitions. A database
that already holds the contacts is reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import time
from datetime import UTC, date, datetime, timedelta

import django

TOTAL = int(os.environ.get("SEGMENT_BENCH_CONTACTS", "1000000"))  # smaller for a quick check
SHARE_A = 0.6  # tenant A holds 600,000 contacts, B 400,000
BATCH = 1000
DIAGNOSES = [f"code-{n:02d}" for n in range(50)]
PLANS = ["Gold", "Silver", "Bronze"]
VISIT_DAYS = 365
EPOCH = date(2027, 1, 1)
NOW = datetime(2027, 3, 14, 12, 0, tzinfo=UTC)
COLUMNS = (
    "id, tenant_id, email, email_index, first_name, last_name, external_id, external_id_index, language, "
    "time_zone, tags, attributes, phi_attributes, phi_tokens, last_activity_at, created_at, updated_at"
)
DICTIONARY = [
    ("plan", "choice", False, PLANS),
    ("score", "number", False, []),
    ("renewal", "date", False, []),
    ("next_visit", "date", True, []),
    ("diagnosis", "choice", True, DIAGNOSES),
]


def _hex(value: bytes) -> str:
    return "\\\\x" + value.hex()


def _tags(n: int) -> str:
    tags = [tag for tag, every in (("vip", 10), ("newsletter", 3), ("lapsed", 7)) if n % every == 0]
    return json.dumps(dict.fromkeys(tags, True))


def _load(tenant, count: int, seed: int) -> None:
    from django.db import connection

    from encryption.aead import FieldContext, encrypt_text
    from sealpost.ids import uuid7
    from segments.attributes import dictionary_for, phi_tokens_of
    from tenants.context import tenant_context

    with tenant_context(tenant):
        dictionary = dictionary_for(tenant=tenant)

        def sealed(field: str, text: str) -> str:
            return _hex(encrypt_text(tenant, FieldContext("segments_contact", field, "bench"), text))

        email = sealed("email", "synthetic@example.com")
        first, last = sealed("first_name", "Testy"), sealed("last_name", "Synthetic")
        external = sealed("external_id", "EXT-BENCH")
        tags = [_tags(n) for n in range(210)]
        visits = [(EPOCH + timedelta(days=day)).isoformat() for day in range(VISIT_DAYS)]
        visit_tokens = [phi_tokens_of(tenant, dictionary["next_visit"], visit) for visit in visits]
        code_tokens = [phi_tokens_of(tenant, dictionary["diagnosis"], code) for code in DIAGNOSES]
        # One ciphertext per diagnosis (nothing here decrypts them); tokens per (visit, diagnosis).
        sealed_phi = [
            sealed("phi_attributes", json.dumps({"diagnosis": code, "next_visit": visits[0]})) for code in DIAGNOSES
        ]
        phi: dict[tuple[int, int], tuple[str, str]] = {}

        def phi_of(day: int, code: int) -> tuple[str, str]:
            if (day, code) not in phi:
                tokens = json.dumps(dict.fromkeys(visit_tokens[day] + code_tokens[code], True))
                phi[(day, code)] = (sealed_phi[code], tokens)
            return phi[(day, code)]

        stamps = [(NOW - timedelta(days=d)).isoformat() for d in range(730)]
        renewals = [(EPOCH + timedelta(days=d)).isoformat() for d in range(365)]
        cursor = connection.connection.cursor()
        cursor.execute("CREATE TEMP TABLE bench_contact (LIKE segments_contact INCLUDING DEFAULTS) ON COMMIT DROP")
        with cursor.copy(f"COPY bench_contact ({COLUMNS}) FROM STDIN") as copy:
            lines = []
            for n in range(count):
                phi_text, token_text = phi_of((n * 7919 + seed) % VISIT_DAYS, n % len(DIAGNOSES))
                index = hashlib.sha256(f"{seed}-{n}".encode()).hexdigest()
                attributes = (
                    f'{{"plan": "{PLANS[(n // 7) % 3]}", "score": {n % 100}, "renewal": "{renewals[n % 365]}"}}'
                )
                lines.append(
                    f"{uuid7()}\t{tenant.pk}\t{email}\t{index}\t{first}\t{last}\t{external}\t\t"
                    f"{'es' if n % 6 == 5 else 'en'}\t{'Europe/Paris' if n % 4 == 0 else 'UTC'}\t"
                    f"{tags[n % 210]}\t{attributes}\t{phi_text}\t{token_text}\t{stamps[n % 730]}\t"
                    f"{stamps[(n * 3) % 730]}\t{stamps[0]}\n"
                )
                if len(lines) == 10_000:
                    copy.write("".join(lines))
                    lines = []
            copy.write("".join(lines))
        cursor.execute(f"INSERT INTO segments_contact ({COLUMNS}) SELECT {COLUMNS} FROM bench_contact")  # noqa: S608


def _owner_execute(statements: list[str]) -> None:
    import psycopg

    with psycopg.connect(os.environ["DATABASE_MIGRATE_URL"], autocommit=True) as owner:
        for statement in statements:
            owner.execute(statement)  # type: ignore[arg-type]


def _timed_ms(function, repeat: int = 7) -> float:
    function()  # warm the caches and the keys
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sealpost.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("ensure_keys", verbosity=0)
    from importlib import import_module

    from segments.models import AttributeDefinition, Contact
    from segments.rules import iterate_segment, segment_count, segment_queryset
    from tenants.context import tenant_context
    from tenants.models import Organisation

    indexes = import_module("segments.migrations.0003_segment_indexes").INDEXES
    tenants = []
    for slug, share in (("bench-seg-a", SHARE_A), ("bench-seg-b", 1 - SHARE_A)):
        tenant, _ = Organisation.objects.get_or_create(slug=slug, defaults={"name": f"Benchmark {slug}"})
        with tenant_context(tenant):
            for key, kind, phi, choices in DICTIONARY:
                AttributeDefinition.objects.get_or_create(
                    tenant=tenant, key=key, defaults={"label": key, "type": kind, "is_phi": phi, "choices": choices}
                )
            present = Contact.objects.for_tenant(tenant).count()
        tenants.append((tenant, round(TOTAL * share), present))

    if any(present != count for _, count, present in tenants):
        for tenant, _, _ in tenants:
            with tenant_context(tenant):
                Contact.objects.for_tenant(tenant).all()._raw_delete(using="default")
        _owner_execute([f"DROP INDEX IF EXISTS {name}" for name in indexes])
        started = time.perf_counter()
        for seed, (tenant, count, _) in enumerate(tenants):
            _load(tenant, count, seed)
        loaded = time.perf_counter() - started
        print(f"RESULT segment_bench_load_rate {TOTAL / loaded:.0f} rows/s", flush=True)
        started = time.perf_counter()
        _owner_execute(
            [f"CREATE INDEX IF NOT EXISTS {name} ON segments_contact {sql}" for name, sql in indexes.items()]
            + ["VACUUM ANALYZE segments_contact"]
        )
        print(f"RESULT segment_bench_index_build_s {time.perf_counter() - started:.1f} s", flush=True)

    tenant = tenants[0][0]
    three = {
        "all": [
            {"field": "tag", "op": "has_tag", "value": "vip"},
            {"field": "language", "op": "eq", "value": "en"},
            {"field": "attr.plan", "op": "eq", "value": "Gold"},
        ]
    }
    phi_eq = {"all": [{"field": "attr.diagnosis", "op": "eq", "value": "code-17"}]}
    phi_window = {"all": [{"field": "attr.next_visit", "op": "within_next_days", "value": 7}]}
    half = {"all": [{"field": "language", "op": "eq", "value": "en"}]}
    today = date(2027, 3, 14)

    def count_of(rules):
        with tenant_context(tenant):
            return segment_count(tenant=tenant, rules=rules, today=today)

    for name, rules in (
        ("segment_count_3_nonphi_ms", three),
        ("segment_count_phi_eq_ms", phi_eq),
        ("segment_count_phi_7_day_window_ms", phi_window),
    ):
        print(f"{name}: {count_of(rules)} contacts match", flush=True)
        print(f"RESULT {name} {_timed_ms(lambda rules=rules: count_of(rules)):.1f} ms", flush=True)

    started = time.perf_counter()
    seen = 0
    with tenant_context(tenant):
        for batch in iterate_segment(tenant=tenant, rules=half, batch_size=BATCH, today=today):
            seen += len(batch)
    elapsed = time.perf_counter() - started
    print(f"segment_keyset_500k_s: {seen} contacts in batches of {BATCH}", flush=True)
    print(f"RESULT segment_keyset_500k_s {elapsed:.2f} s", flush=True)

    # The same walk fetching ids only: the database's share of the time (the rest is building
    # 500,000 Contact instances in Python).
    started = time.perf_counter()
    seen = 0
    with tenant_context(tenant):
        queryset = segment_queryset(tenant=tenant, rules=half, today=today).order_by("id").values_list("id", flat=True)
        last = None
        while True:
            ids = list((queryset if last is None else queryset.filter(id__gt=last))[:BATCH])
            seen += len(ids)
            if len(ids) < BATCH:
                break
            last = ids[-1]
    print(f"RESULT segment_keyset_500k_ids_only_s {time.perf_counter() - started:.2f} s", flush=True)
