"""Passkey ceremonies checked on the server with a software authenticator that makes otherwise
valid responses wrong in one way at a time. The browser tests (tests/browser/test_passkeys.py)
run the same ceremonies through Chromium's virtual authenticator."""

from __future__ import annotations

import json
import time

import pytest
from django.urls import reverse

from audit.tests.helpers import actions, events, head_seq
from authn.models import Factor, Passkey, UserSession
from authn.tests.soft_authenticator import SoftAuthenticator
from authn.tests.support import TEST_ORIGIN, current_state, post_json, use_test_client_as_relying_party
from tenants.roles import Role

pytestmark = pytest.mark.django_db

ORIGIN = TEST_ORIGIN


@pytest.fixture(autouse=True)
def _relying_party(settings):
    use_test_client_as_relying_party(settings)


@pytest.fixture
def soft():
    return SoftAuthenticator(rp_id="testserver", origin=ORIGIN)


def _options(client, url):
    response = client.post(url)
    assert response.status_code == 200, response.content
    return json.dumps(response.json()["publicKey"])


def register(client, soft, name="Laptop", **kwargs):
    options = _options(client, reverse("authn:passkey_options"))
    credential = soft.create(options, **kwargs)
    return post_json(client, reverse("authn:passkey_register"), {"name": name, "credential": credential})


def step_up(client, soft, credential=None, **kwargs):
    options = _options(client, reverse("authn:step_up_options"))
    return post_json(client, reverse("authn:step_up_verify"), soft.get(options, credential, **kwargs))


@pytest.fixture
def marketer_with_passkey(world, login, soft):
    """A marketer signed in with a password who registers a passkey (their first: no step-up)."""
    user = world.a.users[Role.MARKETER]
    client = login(user, world.a.tenant, factor=Factor.PASSWORD)
    Passkey.objects.filter(user=user).delete()
    response = register(client, soft)
    assert response.status_code == 200, response.content
    return client, user


def test_registration_stores_the_passkey_with_its_name_and_audits_it(world, login, soft):
    user = world.a.users[Role.MARKETER]
    client = login(user, world.a.tenant, factor=Factor.PASSWORD)
    Passkey.objects.filter(user=user).delete()
    seq = head_seq(world.a.tenant)
    response = register(client, soft, name="Work laptop")
    assert response.status_code == 200 and response.json()["redirect"].startswith(reverse("authn:passkey_list"))
    passkey = Passkey.objects.get(user=user)
    assert passkey.name == "Work laptop" and bytes(passkey.credential_id) == soft.credentials[0].credential_id
    assert bytes(passkey.user_handle) == soft.credentials[0].user_handle and len(passkey.user_handle) == 32
    assert actions(world.a.tenant, seq) == ["auth.passkey_added"]


def test_registration_challenges_are_random_32_bytes_and_require_user_verification(world, login):
    client = login(world.a.users[Role.MARKETER], world.a.tenant, factor=Factor.PASSWORD)
    Passkey.objects.filter(user=world.a.users[Role.MARKETER]).delete()
    first = json.loads(_options(client, reverse("authn:passkey_options")))
    second = json.loads(_options(client, reverse("authn:passkey_options")))
    from webauthn.helpers import base64url_to_bytes

    assert len(base64url_to_bytes(first["challenge"])) == 32 and first["challenge"] != second["challenge"]
    assert first["authenticatorSelection"]["userVerification"] == "required"
    assert first["authenticatorSelection"]["residentKey"] == "required"
    assert first["rp"]["id"] == "testserver"
    assert world.a.users[Role.MARKETER].email not in json.dumps(first["user"]["id"])


@pytest.mark.parametrize(
    "kwargs",
    [{"user_verified": False}, {"origin": "https://evil.example"}, {"cross_origin": True}],
    ids=["no-user-verification", "wrong-origin", "cross-origin"],
)
def test_registration_is_refused_when_one_check_fails(world, login, soft, kwargs):
    user = world.a.users[Role.MARKETER]
    client = login(user, world.a.tenant, factor=Factor.PASSWORD)
    Passkey.objects.filter(user=user).delete()
    response = register(client, soft, **kwargs)
    assert response.status_code == 400 and response.json()["error"]
    assert not Passkey.objects.filter(user=user).exists()


def test_a_registration_response_cannot_be_replayed(world, login, soft):
    user = world.a.users[Role.MARKETER]
    client = login(user, world.a.tenant, factor=Factor.PASSWORD)
    Passkey.objects.filter(user=user).delete()
    options = _options(client, reverse("authn:passkey_options"))
    credential = soft.create(options)
    url = reverse("authn:passkey_register")
    assert post_json(client, url, {"name": "A", "credential": credential}).status_code == 200
    # With a step-up (so adding is allowed) the same response is still refused: its challenge is used.
    from authn.tests.support import give_step_up

    give_step_up(client)
    again = post_json(client, url, {"name": "B", "credential": credential})
    assert again.status_code == 400 and Passkey.objects.filter(user=user).count() == 1


def test_adding_a_second_passkey_needs_a_fresh_assertion_of_the_first(marketer_with_passkey, soft):
    client, user = marketer_with_passkey
    response = client.post(reverse("authn:passkey_options"))
    assert response.status_code == 403
    assert step_up(client, soft).status_code == 200
    assert register(client, soft, name="Phone").status_code == 200
    assert Passkey.objects.filter(user=user).count() == 2


def test_step_up_with_the_users_passkey_cycles_the_session_and_is_audited(world, marketer_with_passkey, soft):
    client, _user = marketer_with_passkey
    before_key = client.session.session_key
    seq = head_seq(world.a.tenant)
    response = step_up(client, soft)
    assert response.status_code == 200, response.content
    state = current_state(client)
    assert state.factor == Factor.PASSKEY and state.step_up_at and time.time() - state.step_up_at < 5
    assert client.session.session_key != before_key
    assert actions(world.a.tenant, seq) == ["auth.step_up_succeeded"]
    # The session stays usable after its id changed.
    assert client.get(reverse("authn:session_list")).status_code == 200


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"bad_signature": True}, "bad_signature"),
        ({"user_verified": False}, "no_user_verification"),
        ({"origin": "https://evil.example"}, "wrong_origin"),
        ({"cross_origin": True}, "cross_origin"),
        ({"rp_id": "evil.example"}, "wrong_rp_id"),
    ],
    ids=["bad-signature", "no-user-verification", "wrong-origin", "cross-origin", "wrong-rp-id"],
)
def test_step_up_is_refused_when_one_check_fails(world, marketer_with_passkey, soft, kwargs, reason):
    client, _user = marketer_with_passkey
    seq = head_seq(world.a.tenant)
    response = step_up(client, soft, **kwargs)
    assert response.status_code == 400
    assert current_state(client).step_up_at is None
    recorded = events(world.a.tenant, seq)
    assert [action for action, _ in recorded] == ["auth.passkey_refused", "auth.step_up_failed"]
    assert recorded[0][1]["reason"] == reason


def test_a_replayed_assertion_is_refused(world, marketer_with_passkey, soft):
    client, _user = marketer_with_passkey
    options = _options(client, reverse("authn:step_up_options"))
    assertion = soft.get(options)
    url = reverse("authn:step_up_verify")
    assert post_json(client, url, assertion).status_code == 200
    # The challenge was used up: the same signed response cannot be presented again, even after
    # new options were requested.
    _options(client, reverse("authn:step_up_options"))
    assert post_json(client, url, assertion).status_code == 400


def test_an_expired_challenge_is_refused(world, marketer_with_passkey, soft, settings, monkeypatch):
    client, _user = marketer_with_passkey
    options = _options(client, reverse("authn:step_up_options"))
    assertion = soft.get(options)
    later = time.time() + settings.WEBAUTHN_CHALLENGE_SECONDS + 1
    monkeypatch.setattr("authn.passkeys.time.time", lambda: later)
    response = post_json(client, reverse("authn:step_up_verify"), assertion)
    assert response.status_code == 400 and "expired" in response.json()["error"]


def test_another_users_credential_is_refused_for_step_up(world, login, soft, marketer_with_passkey):
    _client, _owner = marketer_with_passkey
    other = world.a.users[Role.COMPLIANCE_OFFICER]
    other_client = login(other, world.a.tenant)  # has a stored passkey of its own
    options = _options(other_client, reverse("authn:step_up_options"))
    response = post_json(other_client, reverse("authn:step_up_verify"), soft.get(options))
    assert response.status_code == 400 and "another account" in response.json()["error"]


def test_a_sign_counter_that_goes_back_is_refused_and_flagged(world, marketer_with_passkey, soft):
    client, user = marketer_with_passkey
    assert step_up(client, soft, sign_count=10).status_code == 200
    seq = head_seq(world.a.tenant)
    response = step_up(client, soft, sign_count=7)
    assert response.status_code == 400 and "copied" in response.json()["error"]
    passkey = Passkey.objects.get(user=user)
    assert passkey.counter_regressed_at is not None and passkey.sign_count == 10
    assert "auth.passkey_counter_regressed" in actions(world.a.tenant, seq)


def test_credential_ids_are_unique(world, login, soft, marketer_with_passkey):
    _client, owner = marketer_with_passkey
    taken = bytes(Passkey.objects.get(user=owner).credential_id)
    other = world.a.users[Role.ADMIN]
    other_client = login(other, world.a.tenant, factor=Factor.PASSWORD)
    Passkey.objects.filter(user=other).delete()
    options = _options(other_client, reverse("authn:passkey_options"))
    credential = SoftAuthenticator(rp_id="testserver", origin=ORIGIN).create(options, credential_id=taken)
    response = post_json(other_client, reverse("authn:passkey_register"), {"name": "X", "credential": credential})
    assert response.status_code == 400 and "already registered" in response.json()["error"]
    assert list(Passkey.objects.filter(credential_id=taken).values_list("user_id", flat=True)) == [owner.pk]


def test_removing_a_passkey_needs_step_up_and_ends_sessions_opened_with_it(world, marketer_with_passkey, soft):
    client, user = marketer_with_passkey
    passkey = Passkey.objects.get(user=user)
    url = reverse("authn:passkey_remove", args=[passkey.pk])
    response = client.post(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("authn:step_up"))
    assert Passkey.objects.filter(pk=passkey.pk).exists()
    assert step_up(client, soft).status_code == 200  # the session is now opened with this passkey
    seq = head_seq(world.a.tenant)
    response = client.post(url)
    assert not Passkey.objects.filter(pk=passkey.pk).exists()
    assert "auth.passkey_removed" in actions(world.a.tenant, seq)
    # The session confirmed with the removed passkey has ended.
    assert UserSession.objects.get(pk=current_state(client).session_id).ended_at is not None
    assert client.get(reverse("tenants:dashboard")).status_code == 302


def test_an_admin_cannot_remove_their_last_passkey(world, login, soft):
    admin = world.a.users[Role.ADMIN]
    client = login(admin, world.a.tenant, step_up=True)
    passkey = Passkey.objects.get(user=admin)
    response = client.post(reverse("authn:passkey_remove", args=[passkey.pk]), follow=True)
    assert Passkey.objects.filter(pk=passkey.pk).exists()
    assert "add another one" in response.content.decode()


def test_passkeys_of_another_user_are_not_found(world, login, marketer_with_passkey):
    _client, owner = marketer_with_passkey
    passkey = Passkey.objects.get(user=owner)
    intruder = login(world.b.users[Role.ADMIN], world.b.tenant, step_up=True)
    assert intruder.post(reverse("authn:passkey_rename", args=[passkey.pk]), {"name": "Mine"}).status_code == 404
    assert intruder.post(reverse("authn:passkey_remove", args=[passkey.pk])).status_code == 404
    assert Passkey.objects.get(pk=passkey.pk).name == "Laptop"


def test_renaming_a_passkey_is_audited(world, marketer_with_passkey, soft):
    client, user = marketer_with_passkey
    passkey = Passkey.objects.get(user=user)
    assert step_up(client, soft).status_code == 200  # the session now meets the marketer's factor rule
    seq = head_seq(world.a.tenant)
    client.post(reverse("authn:passkey_rename", args=[passkey.pk]), {"name": "Desk key"})
    assert Passkey.objects.get(pk=passkey.pk).name == "Desk key"
    assert events(world.a.tenant, seq) == [("auth.passkey_renamed", {"user_id": user.pk, "passkey_id": passkey.pk})]
