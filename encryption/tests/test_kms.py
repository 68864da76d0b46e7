"""The KMS provider against moto: the one fake that is right here, since there is no AWS."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from encryption.providers import KeyUnavailable, KmsKeyProvider


@pytest.fixture
def kms():
    with mock_aws():
        client = boto3.client("kms", region_name="us-east-1")
        key_id = client.create_key(Description="sealpost test")["KeyMetadata"]["KeyId"]
        yield KmsKeyProvider(key_id, client)


def test_generate_unwrap_and_rewrap(kms):
    generated = kms.generate_data_key(7)
    assert len(generated.plaintext) == 32 and generated.wrapped != generated.plaintext
    assert kms.unwrap(7, generated.wrapped) == generated.plaintext
    assert kms.unwrap(7, kms.rewrap(7, generated.wrapped)) == generated.plaintext


def test_the_tenant_is_bound_in_the_encryption_context(kms):
    generated = kms.generate_data_key(7)
    with pytest.raises(KeyUnavailable, match="KMS refused decrypt"):
        kms.unwrap(8, generated.wrapped)


@pytest.mark.django_db
def test_tenant_data_keys_can_live_in_kms(world, settings):
    from encryption.aead import FieldContext, decrypt_text, encrypt_text
    from encryption.keyring import forget_cached_keys
    from encryption.models import TenantKey
    from encryption.providers import get_key_provider
    from tenants.context import tenant_context

    with mock_aws():
        client = boto3.client("kms", region_name="us-east-1")
        settings.ENCRYPTION_KEY_PROVIDER = "kms"
        settings.KMS_KEY_ID = client.create_key(Description="sealpost tenant keys")["KeyMetadata"]["KeyId"]
        settings.AWS_REGION = "us-east-1"
        get_key_provider.cache_clear()
        context = FieldContext("segments_contact", "email", "row-1")
        with tenant_context(world.a.tenant):
            ciphertext = encrypt_text(world.a.tenant, context, "synthetic@example.com")
            forget_cached_keys()  # the next decryption unwraps through KMS
            assert decrypt_text(world.a.tenant, context, ciphertext) == "synthetic@example.com"
            assert set(TenantKey.objects.for_tenant(world.a.tenant).values_list("provider", flat=True)) == {"kms"}
