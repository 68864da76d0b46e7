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
