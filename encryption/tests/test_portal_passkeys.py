"""Passkeys for returning recipients, checked on the server with authn's software
authenticator: registration only after a full verification, assertions restricted to the
recipient's own passkeys, and the organisation's switch."""

from __future__ import annotations

import json

import pytest

from audit.tests.helpers import actions, head_seq
from authn.tests.soft_authenticator import SoftAuthenticator
from authn.tests.support import TEST_ORIGIN, post_json, use_test_client_as_relying_party
from encryption.escrow import escrow_settings_for
from encryption.models import EscrowAccess, RecipientPasskey
from encryption.tests.escrow_support import make_escrowed
from encryption.tests.test_portal import code_for, opened, start_url, verify
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _relying_party(settings):
    use_test_client_as_relying_party(settings)


@pytest.fixture
def soft():
    return SoftAuthenticator(rp_id="testserver", origin=TEST_ORIGIN)


def _options(client, url: str):
    response = client.post(url)
    return response, (json.dumps(response.json()["publicKey"]) if response.status_code == 200 else "")


def register(client, soft, token: str, **kwargs):
    response, options = _options(client, f"{start_url(token)}passkey/register/options/")
    assert response.status_code == 200, response.content
    credential = soft.create(options, **kwargs)
    return post_json(client, f"{start_url(token)}passkey/register/", {"name": "", "credential": credential})


def assert_with(client, soft, token: str, **kwargs):
    response, options = _options(client, f"{start_url(token)}passkey/options/")
    if response.status_code != 200:
        return response
    return post_json(client, f"{start_url(token)}passkey/verify/", soft.get(options, **kwargs))


def _same_address(world, stored):
    from encryption.escrow import escrow_store

    with tenant_context(world.a.tenant):
        return escrow_store(
            tenant=world.a.tenant,
            recipient_email=stored.escrow.recipient_email.upper(),
            from_name="Sunrise Family Clinic",
            from_address="news@org-a.example.com",
            subject="Second message",
            html="<p>Second synthetic message</p>",
            text="Second synthetic message",
            level="phi",
        )


def test_a_verified_recipient_registers_a_passkey_and_uses_it_next_time(world, client, soft):
    from django.test import Client

    first = make_escrowed(world.a)
    verify(client, world.a, first)
    page = client.get(f"{start_url(first.token)}message/").content.decode()
    assert "Skip codes next time" in page
    seq = head_seq(world.a.tenant)
    response = register(client, soft, first.token)
    assert response.status_code == 200, response.content
    assert response.json()["redirect"] == f"{start_url(first.token)}message/?passkey=1"
    with tenant_context(world.a.tenant):
        passkey = RecipientPasskey.objects.for_tenant(world.a.tenant).get()
    assert "quilla" not in passkey.recipient_index and len(passkey.recipient_index) == 64
    assert actions(world.a.tenant, seq) == ["escrow.passkey_registered"]
    options = client.post(f"{start_url(first.token)}passkey/register/options/").json()["publicKey"]
    assert [c["id"] for c in options["excludeCredentials"]] == [passkey.credential_id]
    assert "quilla@" not in json.dumps(options) and options["user"]["name"] == "q•••@p•••.example"

    second = _same_address(world, first)
    browser = Client()
    page = opened(browser, second.token).content.decode()
    assert "Use your passkey" in page
    seq = head_seq(world.a.tenant)
    response = assert_with(browser, soft, second.token)
    assert response.status_code == 200, response.content
    assert response.json()["redirect"] == f"{start_url(second.token)}message/"
    assert browser.get(f"{start_url(second.token)}message/").status_code == 200
    assert actions(world.a.tenant, seq)[:1] == ["escrow.verified"]
    with tenant_context(world.a.tenant):
        access = EscrowAccess.objects.for_tenant(world.a.tenant).get(escrow_id=second.escrow.pk)
    assert access.method == "passkey"


def test_registration_needs_a_full_verification(world, client, soft):
    stored = make_escrowed(world.a)
    opened(client, stored.token)
    response = client.post(f"{start_url(stored.token)}passkey/register/options/")
    assert response.status_code == 403
    with tenant_context(world.a.tenant):
        assert not RecipientPasskey.objects.for_tenant(world.a.tenant).exists()


def test_another_recipients_passkey_opens_nothing(world, client, soft):
    from django.test import Client

    first = make_escrowed(world.a)
    verify(client, world.a, first)
    assert register(client, soft, first.token).status_code == 200
    other = make_escrowed(world.a, email="someone.else@patients-plain.example")
    browser = Client()
    page = opened(browser, other.token).content.decode()
    assert "Use your passkey" not in page
    response = assert_with(browser, soft, other.token)
    assert response.status_code == 400
    assert browser.get(f"{start_url(other.token)}message/").status_code == 303
    # Even with a challenge obtained for a message that offers passkeys, the credential must be
    # the recipient's own.
    same = _same_address(world, first)
    response, options = _options(browser, f"{start_url(same.token)}passkey/options/")
    assert response.status_code == 200
    forged = post_json(browser, f"{start_url(other.token)}passkey/verify/", soft.get(options))
    assert forged.status_code == 400
    assert browser.get(f"{start_url(other.token)}message/").status_code == 303


def test_a_wrong_signature_or_origin_is_refused(world, client, soft):
    from django.test import Client

    first = make_escrowed(world.a)
    verify(client, world.a, first)
    register(client, soft, first.token)
    second = _same_address(world, first)
    browser = Client()
    opened(browser, second.token)
    assert assert_with(browser, soft, second.token, bad_signature=True).status_code == 400
    assert assert_with(browser, soft, second.token, origin="https://evil.example").status_code == 400
    assert assert_with(browser, soft, second.token, user_verified=False).status_code == 400
    assert browser.get(f"{start_url(second.token)}message/").status_code == 303


def test_passkeys_are_not_offered_when_the_organisation_turns_them_off(world, client, soft):
    from django.test import Client

    first = make_escrowed(world.a)
    verify(client, world.a, first)
    register(client, soft, first.token)
    with tenant_context(world.a.tenant):
        row = escrow_settings_for(tenant=world.a.tenant)
        row.allow_passkeys = False
        row.save()
    second = _same_address(world, first)
    browser = Client()
    assert "Use your passkey" not in opened(browser, second.token).content.decode()
    assert assert_with(browser, soft, second.token).status_code == 400
    code_for(world.a, second.escrow)  # codes still work
