"""Segments at a million contacts (``make bench``): counts with three non-PHI conditions and with
one PHI equality, engagement conditions (opened / clicked in the last N days, on reporting's
``ContactEngagement``: half the contacts opened in the last 180 days, a third of those clicked),
and keyset iteration of a 500,000-contact segment in batches of 1,000.

The contacts are synthetic and loaded fast: one ciphertext per distinct field value, reused
across rows (such rows cannot be decrypted, which no measurement here needs), search terms
computed by the real ``segments.search_index.contact_terms``. COPY is refused on tables under
row-level security, so rows are copied into temporary tables and inserted from there as the
tenant. The GIN index on the terms is dropped for the load and rebuilt afterwards with the
migration's own definition. A database that already holds the contacts is reused.
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
    "time_zone, tags, attributes, phi_attributes, last_activity_at, created_at, updated_at"
)
INDEX_COLUMNS = "contact_id, tenant_id, terms, attributes"
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
    from segments.search_index import TermMaker, contact_terms
    from tenants.context import tenant_context

    with tenant_context(tenant):
        maker = TermMaker(tenant)

        def sealed(field: str, text: str) -> str:
            return _hex(encrypt_text(tenant, FieldContext("segments_contact", field, "bench"), text))

        email = sealed("email", "synthetic@example.com")
        first, last = sealed("first_name", "Testy"), sealed("last_name", "Synthetic")
        external = sealed("external_id", "EXT-BENCH")
        tags = [_tags(n) for n in range(210)]
        visits = [(EPOCH + timedelta(days=day)).isoformat() for day in range(VISIT_DAYS)]
        # One ciphertext per diagnosis (nothing here decrypts them).
        sealed_phi = [
            sealed("phi_attributes", json.dumps({"diagnosis": code, "next_visit": visits[0]})) for code in DIAGNOSES
        ]
        stamps = [(NOW - timedelta(days=d)).isoformat() for d in range(730)]
        renewals = [(EPOCH + timedelta(days=d)).isoformat() for d in range(365)]
        cursor = connection.connection.cursor()
        cursor.execute("CREATE TEMP TABLE bench_contact (LIKE segments_contact INCLUDING DEFAULTS) ON COMMIT DROP")
        cursor.execute("CREATE TEMP TABLE bench_index (LIKE segments_contact_index INCLUDING DEFAULTS) ON COMMIT DROP")
        lines: list[str] = []
        index_lines: list[str] = []

        def flush() -> None:
            # One COPY at a time: a connection runs one statement at once.
            with cursor.copy(f"COPY bench_contact ({COLUMNS}) FROM STDIN") as copy:
                copy.write("".join(lines))
            with cursor.copy(f"COPY bench_index ({INDEX_COLUMNS}) FROM STDIN") as copy:
                copy.write("".join(index_lines))
            lines.clear()
            index_lines.clear()

        for n in range(count):
            contact_id = uuid7()
            day, code = (n * 7919 + seed) % VISIT_DAYS, n % len(DIAGNOSES)
            blind = hashlib.sha256(f"{seed}-{n}".encode()).hexdigest()
            plain = {"plan": PLANS[(n // 7) % 3], "score": n % 100, "renewal": renewals[n % 365]}
            language, zone = ("es" if n % 6 == 5 else "en"), ("Europe/Paris" if n % 4 == 0 else "UTC")
            tag_json = tags[n % 210]
            terms = contact_terms(
                maker,
                tags=json.loads(tag_json),
                language=language,
                time_zone=zone,
                values={**plain, "next_visit": visits[day], "diagnosis": DIAGNOSES[code]},
            )
            attributes = json.dumps(plain)
            lines.append(
                f"{contact_id}\t{tenant.pk}\t{email}\t{blind}\t{first}\t{last}\t{external}\t\t"
                f"{language}\t{zone}\t{tag_json}\t{attributes}\t{sealed_phi[code]}\t{stamps[n % 730]}\t"
                f"{stamps[(n * 3) % 730]}\t{stamps[0]}\n"
            )
            index_lines.append(f"{contact_id}\t{tenant.pk}\t{{{','.join(map(str, terms))}}}\t{attributes}\n")
            if len(lines) == 10_000:
                flush()
        flush()
        cursor.execute(f"INSERT INTO segments_contact ({COLUMNS}) SELECT {COLUMNS} FROM bench_contact")  # noqa: S608
        cursor.execute(
            f"INSERT INTO segments_contact_index ({INDEX_COLUMNS}) SELECT {INDEX_COLUMNS} FROM bench_index"  # noqa: S608
        )


def _load_engagement(tenant) -> None:
    """Last opens for about half of the tenant's contacts, spread over 180 days before NOW, and
    a last click for a third of those: one INSERT … SELECT, as the tenant (RLS)."""
    from django.db import connection

    from reporting.models import ContactEngagement
    from tenants.context import tenant_context

    with tenant_context(tenant), connection.cursor() as cursor:
        ContactEngagement.objects.for_tenant(tenant).all()._raw_delete(using="default")
        cursor.execute(
            "INSERT INTO reporting_contactengagement (contact_id, tenant_id, last_opened_at, last_clicked_at) "
            "SELECT id, tenant_id, %s - make_interval(mins => mod(h, 259200)::int), "
            "CASE WHEN mod(h, 3) = 0 THEN %s - make_interval(mins => mod(h / 3, 259200)::int) END "
            "FROM (SELECT id, tenant_id, abs(hashtext(id::text)::bigint) AS h FROM segments_contact WHERE tenant_id = %s) c "
            "WHERE mod(h, 2) = 0",
            [NOW, NOW, tenant.pk],
        )


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

    from segments.models import AttributeDefinition, Contact, ContactIndex
    from segments.rules import iterate_segment_ids, segment_count
    from segments.segment_services import segment_preview
    from tenants.context import tenant_context
    from tenants.models import Organisation

    migration = import_module("segments.migrations.0004_contact_search_index")
    gin = {migration.TERMS_INDEX: "segments_contact_index USING gin (terms)"}
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
                ContactIndex.objects.for_tenant(tenant).all()._raw_delete(using="default")
                Contact.objects.for_tenant(tenant).all()._raw_delete(using="default")
        _owner_execute([f"DROP INDEX IF EXISTS {name}" for name in gin])
        started = time.perf_counter()
        for seed, (tenant, count, _) in enumerate(tenants):
            _load(tenant, count, seed)
        loaded = time.perf_counter() - started
        print(f"RESULT segment_bench_load_rate {TOTAL / loaded:.0f} rows/s", flush=True)
        started = time.perf_counter()
        _owner_execute(
            [f"CREATE INDEX IF NOT EXISTS {name} ON {sql}" for name, sql in gin.items()]
            + ["VACUUM ANALYZE segments_contact", "VACUUM ANALYZE segments_contact_index"]
        )
        print(f"RESULT segment_bench_index_build_s {time.perf_counter() - started:.1f} s", flush=True)

    tenant = tenants[0][0]
    from reporting.models import ContactEngagement

    with tenant_context(tenant):
        engaged = ContactEngagement.objects.for_tenant(tenant).count()
    if not engaged or any(present != count for _, count, present in tenants):
        _load_engagement(tenant)
    # Other benchmarks (the import's) leave dead rows behind in the same tables; measure on
    # vacuumed tables, as autovacuum keeps them in production.
    _owner_execute(
        [
            "VACUUM ANALYZE segments_contact",
            "VACUUM ANALYZE segments_contact_index",
            "VACUUM ANALYZE reporting_contactengagement",
        ]
    )
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
    opened_30 = {"all": [{"field": "engagement.opened", "op": "within_last_days", "value": 30}]}
    vip_opened_not_clicked = {
        "all": [
            {"field": "tag", "op": "has_tag", "value": "vip"},
            {"field": "engagement.opened", "op": "within_last_days", "value": 30},
            {"none": [{"field": "engagement.clicked", "op": "within_last_days", "value": 90}]},
        ]
    }
    not_opened_90 = {"none": [{"field": "engagement.opened", "op": "within_last_days", "value": 90}]}
    today = date(2027, 3, 14)

    def count_of(rules):
        with tenant_context(tenant):
            return segment_count(tenant=tenant, rules=rules, today=today)

    for name, rules in (
        ("segment_count_3_nonphi_ms", three),
        ("segment_count_phi_eq_ms", phi_eq),
        ("segment_count_phi_7_day_window_ms", phi_window),
        ("segment_count_opened_30_days_ms", opened_30),
        ("segment_count_vip_opened_not_clicked_ms", vip_opened_not_clicked),
        ("segment_count_not_opened_90_days_ms", not_opened_90),
    ):
        print(f"{name}: {count_of(rules)} contacts match", flush=True)
        print(f"RESULT {name} {_timed_ms(lambda rules=rules: count_of(rules)):.1f} ms", flush=True)

    # The builder's live preview: the count and a sample of 10 contacts (decrypted to be masked).
    def preview() -> None:
        with tenant_context(tenant):
            segment_preview(tenant=tenant, rules=three, today=today)

    print(f"RESULT segment_builder_preview_ms {_timed_ms(preview):.1f} ms", flush=True)

    started = time.perf_counter()
    seen = 0
    with tenant_context(tenant):
        for batch in iterate_segment_ids(tenant=tenant, rules=half, batch_size=BATCH, today=today):
            seen += len(batch)
    elapsed = time.perf_counter() - started
    print(f"segment_keyset_500k_s: {seen} contact ids in batches of {BATCH}", flush=True)
    print(f"RESULT segment_keyset_500k_s {elapsed:.2f} s", flush=True)

    # What a consumer that also loads each batch's contacts (decrypting them) would add.
    started = time.perf_counter()
    loaded = 0
    with tenant_context(tenant):
        for batch in iterate_segment_ids(tenant=tenant, rules=half, batch_size=BATCH, today=today):
            loaded += len(list(Contact.objects.for_tenant(tenant).filter(pk__in=batch).only("id", "email")))
            if loaded >= 100_000:
                break
    rate = loaded / (time.perf_counter() - started)
    print(f"RESULT segment_keyset_with_contacts_rows_per_s {rate:.0f} rows/s", flush=True)
