from __future__ import annotations

import subprocess

import pytest
from django.db import IntegrityError, connection, transaction

from encryption.aead import DecryptionFailed
from encryption.fields import blind_index_for
from segments.models import Contact
from tenants.context import TenantContextMissing, TenantMismatch, tenant_context
from tests.factories import make_contact

SYNTHETIC_PHI = {
    "email": "quentin.syntheticpatient@example.com",
    "first_name": "Quentin",
    "last_name": "Syntheticpatient",
    "external_id": "MRN-31415926",
}


@pytest.mark.django_db
def test_the_database_holds_ciphertext_and_the_model_plaintext(world):
    contact = make_contact(world.a.tenant, **SYNTHETIC_PHI)
    with tenant_context(world.a.tenant):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT email, first_name, last_name, external_id FROM segments_contact WHERE id = %s", [contact.pk]
            )
            stored = b"".join(bytes(value) for value in cursor.fetchone())
        for value in SYNTHETIC_PHI.values():
            assert value.encode() not in stored
        loaded = Contact.objects.for_tenant(world.a.tenant).get(pk=contact.pk)
        assert (loaded.email, loaded.first_name, loaded.last_name, loaded.external_id) == tuple(SYNTHETIC_PHI.values())


@pytest.mark.django_db
def test_blind_indexes_find_and_deduplicate_without_decrypting(world):
    contact = make_contact(world.a.tenant, **SYNTHETIC_PHI)
    with tenant_context(world.a.tenant):
        index = blind_index_for(Contact, "email_index", world.a.tenant, " Quentin.SyntheticPatient@example.com")
        assert Contact.objects.for_tenant(world.a.tenant).get(email_index=index).pk == contact.pk
    with pytest.raises(IntegrityError), transaction.atomic():
        make_contact(world.a.tenant, email="QUENTIN.SYNTHETICPATIENT@EXAMPLE.COM")
    make_contact(world.b.tenant, email=SYNTHETIC_PHI["email"])  # another tenant may have the same address


@pytest.mark.django_db
def test_encrypted_fields_are_read_only_inside_their_tenant(world):
    contact = make_contact(world.a.tenant, **SYNTHETIC_PHI)
    with tenant_context(world.a.tenant):
        loaded = Contact.objects.for_tenant(world.a.tenant).get(pk=contact.pk)
    with pytest.raises(TenantContextMissing):
        _ = loaded.email
    with tenant_context(world.b.tenant), pytest.raises(TenantMismatch):
        _ = loaded.email


@pytest.mark.django_db
def test_a_value_copied_to_another_row_does_not_decrypt(world):
    first = make_contact(world.a.tenant, **SYNTHETIC_PHI)
    second = make_contact(world.a.tenant)
    with tenant_context(world.a.tenant), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE segments_contact SET last_name = (SELECT last_name FROM segments_contact WHERE id = %s) WHERE id = %s",
            [first.pk, second.pk],
        )
        loaded = Contact.objects.for_tenant(world.a.tenant).get(pk=second.pk)
        with pytest.raises(DecryptionFailed, match="does not belong here"):
            _ = loaded.last_name


@pytest.mark.django_db(transaction=True)
def test_a_database_dump_contains_none_of_the_phi(world):
    for n in range(3):
        make_contact(world.a.tenant, **{key: f"{value}{n}" for key, value in SYNTHETIC_PHI.items()})
    settings = connection.settings_dict
    dump = subprocess.run(
        ["pg_dump", "-h", settings["HOST"], "-p", str(settings["PORT"] or 5432), "-U", "postgres", settings["NAME"]],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    assert b"COPY public.segments_contact" in dump
    for n in range(3):
        for value in SYNTHETIC_PHI.values():
            assert f"{value}{n}".encode() not in dump, value


@pytest.mark.django_db
def test_plaintext_that_skips_encryption_is_refused_not_stored(world):
    """bulk_update and QuerySet.update do not call the field's pre_save: without the guard they
    would write the plaintext the attribute holds."""
    contact = make_contact(world.a.tenant, first_name="Guardedfirst")
    with tenant_context(world.a.tenant):
        contacts = Contact.objects.for_tenant(world.a.tenant)
        contact = contacts.get(pk=contact.pk)
        contact.first_name = "Changedfirst"
        attempts = (
            lambda: contacts.bulk_update([contact], ["first_name"]),
            lambda: contacts.filter(pk=contact.pk).update(first_name="Changedfirst"),
            lambda: list(contacts.filter(first_name="Guardedfirst")),
        )
        for attempt in attempts:
            with pytest.raises(TypeError, match="Plaintext reached the database"), transaction.atomic():
                attempt()
        assert contacts.get(pk=contact.pk).first_name == "Guardedfirst"
        with connection.cursor() as cursor:
            cursor.execute("SELECT first_name FROM segments_contact WHERE id = %s", [contact.pk])
            assert b"Changedfirst" not in bytes(cursor.fetchone()[0])
