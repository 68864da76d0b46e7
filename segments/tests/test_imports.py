"""Contact imports: validation of every row before anything is written, all-or-nothing apply,
upserts through the blind indexes, cancel, and bad files. Synthetic data only."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.services import actor_for_user
from audit.tests.helpers import actions, events, head_seq
from segments import imports
from segments.attributes import contact_attribute_values, contact_attributes_apply, dictionary_for
from segments.csv_io import CsvFormatError, UploadTooLarge, upload_path
from segments.imports import (
    ImportInputError,
    check_mapping,
    import_cancel,
    import_create,
    import_run,
    import_start,
    suggest_mapping,
)
from segments.models import AttributeDefinition, AttributeType, Contact, ContactImport, ContactIndex, ImportStatus
from segments.search_index import TermMaker, attribute_term, contact_index_rebuild
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db

HEADER = "Email,First name,Last name,Patient ID,Next visit,Plan,Tags\n"


def _dictionary(tenant):
    with tenant_context(tenant):
        AttributeDefinition.objects.create(
            tenant=tenant, key="next_visit", label="Next visit", type=AttributeType.DATE, is_phi=True
        )
        AttributeDefinition.objects.create(
            tenant=tenant, key="plan", label="Plan", type=AttributeType.CHOICE, choices=["Gold", "Silver"]
        )


def _upload(world, text: str | bytes, *, tenant=None):
    tenant = tenant or world.a.tenant
    user = world.a.users[Role.MARKETER]
    data = text.encode() if isinstance(text, str) else text
    with tenant_context(tenant):
        return import_create(tenant=tenant, actor=actor_for_user(user), user=user, chunks=[data], size=len(data))


def _run(world, text, *, match_on="email", mapping=None):
    tenant = world.a.tenant
    contact_import = _upload(world, text)
    with tenant_context(tenant):
        import_start(
            tenant=tenant,
            actor=actor_for_user(world.a.users[Role.MARKETER]),
            contact_import=contact_import,
            mapping=mapping if mapping is not None else dict(contact_import.mapping),
            match_on=match_on,
        )
    import_run(tenant=tenant, import_id=contact_import.pk)
    with tenant_context(tenant):
        return ContactImport.objects.for_tenant(tenant).get(pk=contact_import.pk)


def _contacts(tenant):
    with tenant_context(tenant):
        return {
            contact.email.lower(): (
                contact.first_name,
                contact.last_name,
                contact.external_id,
                contact_attribute_values(contact),
                sorted(contact.tags),
            )
            for contact in Contact.objects.for_tenant(tenant)
        }


def test_a_valid_file_creates_contacts_with_phi_encrypted(world):
    _dictionary(world.a.tenant)
    since = head_seq(world.a.tenant)
    text = (
        "\ufeff"
        + HEADER
        + ("Ann@Example.com,Ann,Lee,P-1,2026-12-01,gold,diabetes;newsletter\nbob@example.com,Bob,Ray,P-2,,Silver,\n")
    )
    done = _run(world, text)
    assert done.status == ImportStatus.DONE, done.errors
    assert (done.total_rows, done.created_count, done.updated_count, done.error_count) == (2, 2, 0, 0)
    assert _contacts(world.a.tenant) == {
        "ann@example.com": (
            "Ann",
            "Lee",
            "P-1",
            {"next_visit": "2026-12-01", "plan": "Gold"},
            ["diabetes", "newsletter"],
        ),
        "bob@example.com": ("Bob", "Ray", "P-2", {"plan": "Silver"}, []),
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT email, phi_attributes, attributes::text FROM segments_contact")
        rows = cursor.fetchall()
    for email, phi, plain in rows:
        assert b"example.com" not in bytes(email)
        assert phi is None or b"2026-12-01" not in bytes(phi)
        assert "2026-12-01" not in plain
    assert [event for event in events(world.a.tenant, since) if event[0].startswith("contact.")] == [
        ("contact.import_uploaded", {"bytes": len(text.encode()), "columns": 7}),
        (
            "contact.import_started",
            {
                "match_on": "email",
                "fields": ["email", "external_id", "first_name", "last_name", "tags"],
                "attributes": ["next_visit", "plan"],
                "consent": [],
            },
        ),
        ("contact.import_finished", {"rows": 2, "created": 2, "updated": 0}),
    ]
    assert not upload_path(world.a.tenant, done.pk).exists()


def test_upsert_by_external_id_updates_only_mapped_fields(world):
    _dictionary(world.a.tenant)
    tenant = world.a.tenant
    existing = make_contact(tenant, email="old@example.com", first_name="Kept", last_name="Before", external_id="P-9")
    with tenant_context(tenant):
        contact = Contact.objects.for_tenant(tenant).get(pk=existing.pk)
        contact_attributes_apply(
            contact=contact,
            values={"next_visit": "2026-01-01", "plan": "Gold"},
            dictionary=dictionary_for(tenant=tenant),
        )
        contact.last_activity_at = timezone.now() - timedelta(days=400)
        contact.save()
    text = (
        "Patient ID,Email,Last name,Next visit\nP-9,new@example.com,After,2026-02-02\nP-10,fresh@example.com,Fresh,\n"
    )
    done = _run(world, text, match_on="external_id")
    assert (done.status, done.created_count, done.updated_count) == (ImportStatus.DONE, 1, 1)
    with tenant_context(tenant):
        updated = Contact.objects.for_tenant(tenant).get(pk=existing.pk)
        assert (updated.email, updated.first_name, updated.last_name) == ("new@example.com", "Kept", "After")
        assert contact_attribute_values(updated) == {"next_visit": "2026-02-02", "plan": "Gold"}
        assert updated.last_activity_at > timezone.now() - timedelta(minutes=5)
        assert Contact.objects.for_tenant(tenant).count() == 2
        # The blind indexes follow the new values: lookups by the new email work.
        from segments.selectors import contact_list, contact_search_for

        assert list(contact_list(tenant=tenant, search=contact_search_for(tenant=tenant, text="new@example.com"))) == [
            updated
        ]
        # The search index follows: the new date's terms, not the old one's; and what the import
        # wrote is exactly what indexing the stored contacts afresh gives.
        _assert_index_matches_a_rebuild(tenant)
        maker = TermMaker(tenant)
        terms = ContactIndex.objects.for_tenant(tenant).get(contact=updated).terms
        assert attribute_term(maker, "next_visit", "eq", "2026-02-02") in terms
        assert attribute_term(maker, "plan", "eq", "Gold") in terms


def _index_rows(tenant) -> dict:
    return {
        contact_id: (terms, attributes)
        for contact_id, terms, attributes in ContactIndex.objects.for_tenant(tenant).values_list(
            "contact_id", "terms", "attributes"
        )
    }


def _assert_index_matches_a_rebuild(tenant) -> None:
    written = _index_rows(tenant)
    assert set(written) == set(Contact.objects.for_tenant(tenant).values_list("pk", flat=True))
    contact_index_rebuild(tenant=tenant)
    assert _index_rows(tenant) == written


def test_every_bad_row_is_reported_without_values_and_nothing_is_written(world):
    _dictionary(world.a.tenant)
    make_contact(world.a.tenant, email="stay@example.com")
    before = _contacts(world.a.tenant)
    since = head_seq(world.a.tenant)
    text = HEADER + (
        "good@example.com,A,B,P-1,2026-01-01,Gold,\n"
        "not-an-email,A,B,P-2,,,\n"
        "c@example.com,A,B,P-3,01/02/2026,,\n"
        "d@example.com,A,B,P-4,,Platinum,\n"
        "e@example.com,A,B,P-5,,,bad<tag>\n"
        "GOOD@example.com,A,B,P-6,,,\n"
        "f@example.com,A,B\n"
    )
    done = _run(world, text)
    assert done.status == ImportStatus.INVALID
    assert [(error["row"], error["column"]) for error in done.errors] == [
        (3, "Email"),
        (4, "Next visit"),
        (5, "Plan"),
        (6, "Tags"),
        (7, "Email"),
        (8, ""),
    ]
    assert "Duplicate" in done.errors[4]["message"]
    assert done.error_count == 6 and done.total_rows == 7
    for secret in ("not-an-email", "01/02/2026", "Platinum", "bad<tag>", "GOOD@"):
        assert secret not in json.dumps(done.errors)
    assert _contacts(world.a.tenant) == before
    assert actions(world.a.tenant, since)[-1] == "contact.import_failed"
    assert events(world.a.tenant, since)[-1][1] == {"reason": "invalid", "error_count": 6}
    assert not upload_path(world.a.tenant, done.pk).exists()


def test_missing_match_key_is_an_error(world):
    done = _run(world, "email,external_id\na@example.com,\n", match_on="external_id")
    assert done.status == ImportStatus.INVALID
    assert done.errors == [{"row": 2, "column": "external_id", "message": "Empty: contacts are matched on it."}]


def test_the_error_report_is_capped_but_every_error_counted(world, monkeypatch):
    monkeypatch.setattr(imports, "MAX_KEPT_ERRORS", 3)
    done = _run(world, "email\n" + "bad\n" * 10)
    assert done.status == ImportStatus.INVALID
    assert len(done.errors) == 3 and done.error_count == 10


def test_a_database_error_at_the_last_row_leaves_the_table_unchanged(world, monkeypatch):
    tenant = world.a.tenant
    make_contact(tenant, email="row2@example.com", first_name="Before")
    before = _contacts(tenant)
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)
    real = imports._add_new_contacts

    def failing_at_the_last_row(crypto, plan, writer, items, now):
        for values, _attributes in items:
            if values["email"] == "row9@example.com":
                values["language"] = "x" * 40  # longer than the column: PostgreSQL refuses the row
        return real(crypto, plan, writer, items, now)

    monkeypatch.setattr(imports, "_add_new_contacts", failing_at_the_last_row)
    since = head_seq(tenant)
    text = "email,first_name\n" + "".join(f"row{n}@example.com,After\n" for n in range(2, 10))
    done = _run(world, text)
    assert done.status == ImportStatus.FAILED
    assert (done.created_count, done.updated_count) == (0, 0)
    assert "Nothing was imported" in done.errors[0]["message"]
    assert _contacts(tenant) == before
    assert actions(tenant, since)[-1] == "contact.import_failed"
    assert events(tenant, since)[-1][1]["reason"] == "failed"


def test_cancel_during_apply_rolls_back_what_was_written(world, monkeypatch):
    tenant = world.a.tenant
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)
    real = imports._write_batch
    batches = []

    def write_then_cancel(tenant, plan, batch, *args):
        result = real(tenant, plan, batch, *args)
        batches.append(len(batch))
        if len(batches) == 1:
            ContactImport.objects.for_tenant(tenant).update(cancel_requested=True)
        return result

    monkeypatch.setattr(imports, "_write_batch", write_then_cancel)
    done = _run(world, "email\n" + "".join(f"c{n}@example.com\n" for n in range(6)))
    assert done.status == ImportStatus.CANCELLED
    assert batches == [2]
    assert _contacts(tenant) == {}


def test_cancel_before_the_task_runs(world):
    tenant = world.a.tenant
    contact_import = _upload(world, "email\na@example.com\n")
    actor = actor_for_user(world.a.users[Role.MARKETER])
    with tenant_context(tenant):
        import_start(
            tenant=tenant, actor=actor, contact_import=contact_import, mapping={"email": "email"}, match_on="email"
        )
        assert import_cancel(tenant=tenant, actor=actor, contact_import=contact_import)
    import_run(tenant=tenant, import_id=contact_import.pk)
    with tenant_context(tenant):
        contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.CANCELLED
    assert _contacts(tenant) == {}


def test_cancelling_an_upload_ends_it_and_deletes_the_file(world, django_capture_on_commit_callbacks):
    tenant = world.a.tenant
    contact_import = _upload(world, "email\na@example.com\n")
    assert upload_path(tenant, contact_import.pk).exists()
    with django_capture_on_commit_callbacks(execute=True), tenant_context(tenant):
        import_cancel(tenant=tenant, actor=actor_for_user(world.a.users[Role.ADMIN]), contact_import=contact_import)
    with tenant_context(tenant):
        contact_import.refresh_from_db()
        assert not import_cancel(
            tenant=tenant, actor=actor_for_user(world.a.users[Role.ADMIN]), contact_import=contact_import
        )
    assert contact_import.status == ImportStatus.CANCELLED
    assert not upload_path(tenant, contact_import.pk).exists()


# --- Bad files ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        ("email,name\nj\xe9r\xf4me@example.com,x\n".encode("latin-1"), "not UTF-8"),
        ("email\n".encode("utf-16"), "not UTF-8"),
        (b"\n\n", "no header"),
        (b"email,\na@example.com,x\n", "without a name"),
        (b"email,Email\n", "twice"),
        (b"em\x00ail\n", "NUL"),
    ],
)
def test_unreadable_files_are_refused_and_nothing_is_kept(world, data, message):
    folder = upload_path(world.a.tenant, "00000000-0000-0000-0000-000000000000").parent

    def files() -> set:
        # Files an earlier run left for an organisation with the same id are not this test's.
        return set(folder.iterdir()) if folder.exists() else set()

    before = files()
    with pytest.raises(CsvFormatError, match=message):
        _upload(world, data)
    with tenant_context(world.a.tenant):
        assert ContactImport.objects.for_tenant(world.a.tenant).count() == 0
    assert files() == before


def test_a_huge_declared_size_is_refused_before_reading(world):
    def never_read():
        raise AssertionError("the file was read")
        yield b""

    user = world.a.users[Role.ADMIN]
    with tenant_context(world.a.tenant), pytest.raises(UploadTooLarge, match="200 MB"):
        import_create(
            tenant=world.a.tenant, actor=actor_for_user(user), user=user, chunks=never_read(), size=2 * 1024**3
        )


def test_a_file_growing_past_the_limit_is_refused(world, settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 2048
    user = world.a.users[Role.ADMIN]
    with tenant_context(world.a.tenant), pytest.raises(UploadTooLarge):
        import_create(
            tenant=world.a.tenant, actor=actor_for_user(user), user=user, chunks=[b"email\n" + b"a@example.com\n" * 400]
        )


def test_a_huge_field_makes_the_import_invalid(world):
    done = _run(
        world,
        "email,first_name\na@example.com," + "x" * 20_000 + "\n",
        mapping={"email": "email", "first_name": "first_name"},
    )
    assert done.status == ImportStatus.INVALID
    assert "longer than 10000 characters" in done.errors[0]["message"]


def test_a_header_without_rows_is_invalid(world):
    done = _run(world, "email\n")
    assert done.status == ImportStatus.INVALID


def test_the_stored_upload_is_encrypted_and_bound_to_its_import(world):
    contact_import = _upload(world, "email\nsecret.patient@example.com\n")
    other = _upload(world, "email\nother@example.com\n")
    stored = upload_path(world.a.tenant, contact_import.pk).read_bytes()
    assert b"secret.patient" not in stored
    # Swapping the files between imports makes them unreadable.
    upload_path(world.a.tenant, other.pk).write_bytes(stored)
    done = _start_and_run(world, other)
    assert done.status == ImportStatus.INVALID
    assert "could not be decrypted" in done.errors[0]["message"]


def _start_and_run(world, contact_import):
    """Queues the import as import_start would (without re-reading the header) and runs it."""
    tenant = world.a.tenant
    with tenant_context(tenant):
        ContactImport.objects.for_tenant(tenant).filter(pk=contact_import.pk).update(
            status=ImportStatus.VALIDATING, mapping={"email": "email"}, match_on="email"
        )
    import_run(tenant=tenant, import_id=contact_import.pk)
    with tenant_context(tenant):
        return ContactImport.objects.for_tenant(tenant).get(pk=contact_import.pk)


# --- Mapping ------------------------------------------------------------------------------------


def test_mapping_is_suggested_from_header_names(world):
    _dictionary(world.a.tenant)
    with tenant_context(world.a.tenant):
        dictionary = dictionary_for(tenant=world.a.tenant)
    columns = ["E-mail", "Given name", "Surname", "MRN", "Next visit", "plan", "Tags", "Notes", "email"]
    assert suggest_mapping(columns, dictionary) == {
        "E-mail": "email",
        "Given name": "first_name",
        "Surname": "last_name",
        "MRN": "external_id",
        "Next visit": "next_visit",
        "plan": "plan",
        "Tags": "tags",
        "Notes": "",
        "email": "",
    }


@pytest.mark.parametrize(
    ("mapping", "match_on", "message"),
    [
        ({"a": "email", "b": "shoe_size"}, "email", "neither"),
        ({"a": "email", "b": "email"}, "email", "Two columns"),
        ({"a": "email"}, "external_id", "Map a column to external_id"),
        ({"a": "external_id"}, "external_id", "Map a column to email"),
        ({"a": "email", "zzz": "first_name"}, "email", "does not have"),
        ({"a": "email"}, "name", "Match contacts on"),
    ],
)
def test_bad_mappings_are_refused(mapping, match_on, message):
    with pytest.raises(ImportInputError, match=message):
        check_mapping(mapping=mapping, columns=["a", "b"], match_on=match_on, dictionary={})


def test_an_import_starts_once(world):
    contact_import = _upload(world, "email\na@example.com\n")
    actor = actor_for_user(world.a.users[Role.ADMIN])
    with tenant_context(world.a.tenant):
        import_start(
            tenant=world.a.tenant,
            actor=actor,
            contact_import=contact_import,
            mapping={"email": "email"},
            match_on="email",
        )
        with pytest.raises(ImportInputError, match="already"):
            import_start(
                tenant=world.a.tenant,
                actor=actor,
                contact_import=contact_import,
                mapping={"email": "email"},
                match_on="email",
            )


def test_batch_indexes_equal_the_encryption_modules(world):
    """The import computes blind indexes with the key fetched once per batch; they must be the
    very values ``encryption.blind_index`` and ``segments.attributes`` compute."""
    from encryption.fields import blind_index_for

    _dictionary(world.a.tenant)
    tenant = world.a.tenant
    with tenant_context(tenant):
        crypto = imports._Crypto(tenant, TermMaker(tenant))
        assert crypto.index(imports._EMAIL_INDEX, " Ann@Example.COM") == blind_index_for(
            Contact, "email_index", tenant, "ann@example.com"
        )
        assert crypto.index(imports._EXTERNAL_ID_INDEX, "P-1") == blind_index_for(
            Contact, "external_id_index", tenant, "P-1"
        )
        assert crypto.terms("attr.next_visit.eq", "2026-12-01") == attribute_term(
            TermMaker(tenant), "next_visit", "eq", "2026-12-01"
        )


def test_the_bulk_writer_covers_every_contact_column():
    from segments.import_writer import CONTACT_FIELDS, DEFAULTED_FIELDS, INDEX_FIELDS
    from segments.models import ContactIndex

    assert not set(CONTACT_FIELDS) & set(DEFAULTED_FIELDS)
    assert set(CONTACT_FIELDS) | set(DEFAULTED_FIELDS) == {field.name for field in Contact._meta.concrete_fields}
    assert set(INDEX_FIELDS) == {field.name for field in ContactIndex._meta.concrete_fields}
    # imports._add_new_contact_lines formats its COPY lines in this order.
    assert CONTACT_FIELDS[:8] == (
        "id",
        "tenant",
        "email",
        "email_index",
        "first_name",
        "last_name",
        "external_id",
        "external_id_index",
    )
    assert CONTACT_FIELDS[8:] == (
        "language",
        "time_zone",
        "tags",
        "attributes",
        "phi_attributes",
        "last_activity_at",
        "created_at",
        "updated_at",
    )


@pytest.mark.parametrize("use_copy", [True, False], ids=["copy", "insert"])
def test_both_bulk_writers_store_what_the_contact_model_reads_back(world, monkeypatch, use_copy):
    """COPY (PostgreSQL) and executemany (SQLite, the embedded default) write the same rows,
    including text that COPY's format must escape."""
    from segments import import_writer

    real = import_writer.BatchWriter
    monkeypatch.setattr(imports, "BatchWriter", lambda tenant: real(tenant, use_copy=use_copy))
    from encryption.fields import blind_index_for

    _dictionary(world.a.tenant)
    tenant = world.a.tenant
    with tenant_context(tenant):
        AttributeDefinition.objects.create(tenant=tenant, key="note", label="Note", type=AttributeType.TEXT)
    text = (
        "Patient ID,Email,First name,Next visit,Plan,Tags,Note\n"
        'P-1,one@example.com,"Tab\there \\ back",2026-12-01,gold,"vip, b","say ""hi"" \\n\\t"\n'
        "P-2,two@example.com,Plain,,,,\n"
    )
    done = _run(world, text, match_on="external_id")
    assert done.status == ImportStatus.DONE, done.errors
    with tenant_context(tenant):
        one = Contact.objects.for_tenant(tenant).get(
            email_index=blind_index_for(Contact, "email_index", tenant, "one@example.com")
        )
        assert one.first_name == "Tab\there \\ back"
        assert one.tags == {"vip": True, "b": True}
        assert contact_attribute_values(one) == {"next_visit": "2026-12-01", "plan": "Gold", "note": 'say "hi" \\n\\t'}
        assert (one.language, one.time_zone) == ("en", "UTC")
        _assert_index_matches_a_rebuild(tenant)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1) | st.sampled_from([0, 1, 2**64 - 1, 1024, 2048])))
def test_the_compact_digest_set_behaves_like_a_set(digests):
    compact = imports.DigestSet(capacity=4)  # small, so it grows many times
    reference: set[int] = set()
    for digest in digests:
        stored = digest or 1  # 0 marks an empty slot
        assert compact.add(digest) == (stored in reference)
        reference.add(stored)
    assert len(compact) == len(reference)


def test_many_batches_of_repeated_values_read_back_and_index_like_a_rebuild(world, monkeypatch):
    """The COPY path memoises tags, attribute JSON and search terms across rows and batches, and
    seals a batch with one key fetch: every row must still get its own values."""
    monkeypatch.setattr(imports, "BATCH_SIZE", 3)
    _dictionary(world.a.tenant)
    tenant = world.a.tenant
    rows = [
        f"p{n}@example.com,First{n},Last{n},P-{n},{'' if n % 4 == 0 else f'2026-0{1 + n % 2}-1{n % 3}'},"
        f"{['Gold', 'silver', ''][n % 3]},{['vip', 'vip;b', ''][n % 3]}\n"
        for n in range(10)
    ]
    done = _run(world, HEADER + "".join(rows), match_on="external_id")
    assert (done.status, done.created_count) == (ImportStatus.DONE, 10), done.errors
    stored = _contacts(tenant)
    for n in range(10):
        attributes = {}
        if n % 4:
            attributes["next_visit"] = f"2026-0{1 + n % 2}-1{n % 3}"
        if n % 3 != 2:
            attributes["plan"] = ["Gold", "Silver"][n % 3]
        tags = [["vip"], ["b", "vip"], []][n % 3]
        assert stored[f"p{n}@example.com"] == (f"First{n}", f"Last{n}", f"P-{n}", attributes, tags)
    with tenant_context(tenant):
        _assert_index_matches_a_rebuild(tenant)


def test_a_conflict_in_the_final_insert_leaves_the_table_unchanged(world, monkeypatch):
    """New contacts are staged and inserted in one statement at the end: if that statement fails
    (here a row whose email already exists, hidden from the lookup), nothing of the import stays."""
    tenant = world.a.tenant
    make_contact(tenant, email="taken@example.com", first_name="Before")
    before = _contacts(tenant)
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)
    monkeypatch.setattr(imports, "_matching", lambda tenant, *args, **kwargs: Contact.objects.none())
    text = "email,first_name\n" + "".join(f"n{n}@example.com,After\n" for n in range(5)) + "taken@example.com,After\n"
    done = _run(world, text)
    assert done.status == ImportStatus.FAILED
    assert (done.created_count, done.updated_count) == (0, 0)
    assert _contacts(tenant) == before
    with tenant_context(tenant):
        assert ContactIndex.objects.for_tenant(tenant).count() == len(before)


def test_batch_ids_are_ascending_uuid7():
    import uuid as uuid_module

    from segments.import_rows import uuid7_texts

    texts = uuid7_texts(500)
    assert texts == sorted(texts) and len(set(texts)) == 500
    now_ms = timezone.now().timestamp() * 1000
    for text in texts:
        value = uuid_module.UUID(text)
        assert str(value) == text
        assert value.version == 7 and value.variant == uuid_module.RFC_4122
        assert abs((value.int >> 80) - now_ms) < 60_000


def test_the_batch_sealer_makes_what_the_encryption_module_decrypts(world):
    from encryption.aead import FieldContext, decrypt_text
    from segments.import_rows import BatchSealer

    tenant = world.a.tenant
    with tenant_context(tenant):
        sealer = BatchSealer(tenant, "segments_contact", ("email", "first_name"))
        sealer.start(2)
        email = bytes.fromhex(sealer.seal_hex("email", "row-1", "ann@example.com"))
        name = bytes.fromhex(sealer.seal_hex("first_name", "row-1", "Ann"))
        with pytest.raises(RuntimeError, match="reserved"):
            sealer.seal_hex("first_name", "row-2", "Bob")
        assert decrypt_text(tenant, FieldContext("segments_contact", "email", "row-1"), email) == "ann@example.com"
        assert decrypt_text(tenant, FieldContext("segments_contact", "first_name", "row-1"), name) == "Ann"
        assert email[5:17] != name[5:17]  # a nonce of its own
        # Bound to its field and row like any field ciphertext.
        from encryption.aead import DecryptionFailed

        with pytest.raises(DecryptionFailed):
            decrypt_text(tenant, FieldContext("segments_contact", "first_name", "row-1"), email)
        with pytest.raises(DecryptionFailed):
            decrypt_text(tenant, FieldContext("segments_contact", "email", "row-2"), email)
