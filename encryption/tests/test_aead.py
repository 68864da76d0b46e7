from __future__ import annotations

import pickle

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from encryption import keyring
from encryption.aead import (
    NONCE_BYTES,
    DecryptionFailed,
    FieldContext,
    decrypt_text,
    encrypt_bytes,
    encrypt_text,
    encrypt_texts,
)
from encryption.blind_index import BlindIndexer, blind_index
from encryption.keyring import SecretKey, forget_cached_keys
from encryption.models import KeyPurpose, KeyStatus, TenantKey
from encryption.providers import KeyUnavailable, LocalKeyProvider
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db

PHI = "Synthetic Patient, DOB 1970-01-01, MRN 0012345"
ROW = FieldContext("segments_contact", "notes", "row-1")


def test_round_trip(world):
    with tenant_context(world.a.tenant):
        for text in [PHI, "", "ünïcødé ✓ 漢字"]:
            assert decrypt_text(world.a.tenant, ROW, encrypt_text(world.a.tenant, ROW, text)) == text


def test_a_flipped_bit_fails_clearly(world):
    with tenant_context(world.a.tenant):
        ciphertext = bytearray(encrypt_text(world.a.tenant, ROW, PHI))
        ciphertext[-5] ^= 0x01
        with pytest.raises(DecryptionFailed, match="does not belong here or was altered") as error:
            decrypt_text(world.a.tenant, ROW, bytes(ciphertext))
    assert PHI not in str(error.value)


@pytest.mark.parametrize(
    "other", [FieldContext("segments_contact", "notes", "row-2"), FieldContext("segments_contact", "email", "row-1")]
)
def test_a_ciphertext_copied_to_another_row_or_field_fails(world, other):
    with tenant_context(world.a.tenant):
        ciphertext = encrypt_text(world.a.tenant, ROW, PHI)
        with pytest.raises(DecryptionFailed):
            decrypt_text(world.a.tenant, other, ciphertext)


def test_a_ciphertext_copied_to_another_tenant_fails(world):
    with tenant_context(world.a.tenant):
        ciphertext = encrypt_text(world.a.tenant, ROW, PHI)
    with tenant_context(world.b.tenant):
        encrypt_text(world.b.tenant, ROW, "B's own data")  # B has keys of the same version number
        with pytest.raises(DecryptionFailed):
            decrypt_text(world.b.tenant, ROW, ciphertext)


def test_keys_are_stored_only_wrapped_and_never_print_or_pickle(world):
    with tenant_context(world.a.tenant):
        encrypt_text(world.a.tenant, ROW, PHI)
        row = TenantKey.objects.for_tenant(world.a.tenant).get(purpose=KeyPurpose.DATA)
        plaintext_key = keyring.key_version(world.a.tenant, KeyPurpose.DATA, row.version)
    assert plaintext_key.material not in bytes(row.wrapped_key)
    assert "redacted" in repr(plaintext_key) and plaintext_key.material.hex() not in repr(plaintext_key)
    with pytest.raises(TypeError, match="never pickled"):
        pickle.dumps(plaintext_key)


def test_a_wrapped_key_does_not_unwrap_for_another_tenant():
    provider = LocalKeyProvider(b"k" * 32)
    generated = provider.generate_data_key(1)
    assert provider.unwrap(1, generated.wrapped) == generated.plaintext
    with pytest.raises(KeyUnavailable, match="does not belong to this tenant"):
        provider.unwrap(2, generated.wrapped)
    assert provider.unwrap(1, provider.rewrap(1, generated.wrapped)) == generated.plaintext


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plaintexts=st.lists(st.binary(max_size=64), min_size=50, max_size=400))
def test_no_nonce_repeats_under_one_key(world, plaintexts):
    with tenant_context(world.a.tenant):
        ciphertexts = [encrypt_bytes(world.a.tenant, ROW, plaintext) for plaintext in plaintexts]
    nonces = {ciphertext[5 : 5 + NONCE_BYTES] for ciphertext in ciphertexts}
    assert len(nonces) == len(ciphertexts)


def test_a_version_that_has_done_enough_gives_way_to_a_new_one(world, monkeypatch):
    monkeypatch.setattr(keyring, "USE_BLOCK", 3)
    monkeypatch.setattr(keyring, "MAX_USES_PER_VERSION", 6)
    with tenant_context(world.a.tenant):
        old = [encrypt_text(world.a.tenant, ROW, f"value {n}") for n in range(6)]
        new = encrypt_text(world.a.tenant, ROW, "after the limit")
        versions = dict(
            TenantKey.objects.for_tenant(world.a.tenant)
            .filter(purpose=KeyPurpose.DATA)
            .values_list("version", "status")
        )
        assert versions == {1: KeyStatus.RETIRED, 2: KeyStatus.ACTIVE}
        forget_cached_keys()  # decrypt through the database and the provider, not the cache
        assert [decrypt_text(world.a.tenant, ROW, value) for value in old] == [f"value {n}" for n in range(6)]
        assert decrypt_text(world.a.tenant, ROW, new) == "after the limit"
    assert new[1:5] == (2).to_bytes(4, "big")


def test_blind_indexes_match_normalised_values_within_one_tenant_and_field(world):
    with tenant_context(world.a.tenant):
        first = blind_index(world.a.tenant, "contact.email", "Pat.Synthetic@Example.com ")
        assert first == blind_index(world.a.tenant, "contact.email", "pat.synthetic@example.com")
        assert first != blind_index(world.a.tenant, "contact.external_id", "pat.synthetic@example.com")
    with tenant_context(world.b.tenant):
        assert first != blind_index(world.b.tenant, "contact.email", "pat.synthetic@example.com")


def test_the_batch_blind_indexer_gives_blind_index_values(world):
    with tenant_context(world.a.tenant):
        indexer = BlindIndexer(world.a.tenant)
        for field, value in (("contact.email", " Pat@Example.COM"), ("contact.external_id", "P-1"), ("f", "")):
            assert indexer(field, value) == blind_index(world.a.tenant, field, value)


def test_batch_encryption_decrypts_per_value_and_counts_every_use(world, monkeypatch):
    monkeypatch.setattr(keyring, "USE_BLOCK", 4)
    monkeypatch.setattr(keyring, "MAX_USES_PER_VERSION", 8)
    rows = [FieldContext("t", "f", f"row-{n}") for n in range(3)]
    with tenant_context(world.a.tenant):
        sealed = encrypt_texts(world.a.tenant, [(row, f"value {n}") for n, row in enumerate(rows)])
        assert [decrypt_text(world.a.tenant, row, value) for row, value in zip(rows, sealed, strict=True)] == [
            "value 0",
            "value 1",
            "value 2",
        ]
        with pytest.raises(DecryptionFailed):  # each value is bound to its own row
            decrypt_text(world.a.tenant, rows[1], sealed[0])
        assert len({value[5 : 5 + NONCE_BYTES] for value in sealed}) == 3
        # 3 + 3 + 3 uses: the third batch no longer fits in version 1's 8 and starts version 2.
        encrypt_texts(world.a.tenant, [(row, "x") for row in rows])
        third = encrypt_texts(world.a.tenant, [(row, "y") for row in rows])
        assert {value[1:5] for value in third} == {(2).to_bytes(4, "big")}
        with pytest.raises(ValueError, match="between 1 and 4"):
            encrypt_texts(world.a.tenant, [(row, "z") for row in rows * 2])


def test_secret_key_hides_its_material():
    assert str(SecretKey(b"x" * 32)) == "SecretKey(<redacted>)"
