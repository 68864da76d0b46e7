"""The sign-in flow: password then the second step the policy asks for, passkeys with and without
a username, forced enrollment for roles that need a passkey, and conditional access at sign-in
and on every request."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp

from audit.tests.helpers import actions, events, head_seq
from authn.models import AccessPolicy, Factor, Passkey, RequiredFactor, RuleAction, UserSession
from authn.tests.soft_authenticator import SoftAuthenticator
from authn.tests.support import TEST_ORIGIN, current_state, post_json, use_test_client_as_relying_party
from conftest import PASSWORD
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db

ORIGIN = TEST_ORIGIN


@pytest.fixture(autouse=True)
def _relying_party(settings):
    use_test_client_as_relying_party(settings)


def _policy(tenant, **fields) -> AccessPolicy:
    with tenant_context(tenant):
        policy = AccessPolicy.objects.for_tenant(tenant).first() or AccessPolicy(tenant=tenant)
        for name, value in fields.items():
            setattr(policy, name, value)
        policy.save()
    return policy


def _password(client: Client, user):
    return client.post(reverse("authn:login"), {"username": user.email, "password": PASSWORD})


def _register_passkey(user, soft):
    """Register ``user``'s passkey through the real ceremony, from a throwaway session."""
    from authn.tests.support import bind_client_session

    client = Client()
    client.force_login(user)
    bind_client_session(client, user, factor=Factor.PASSWORD)
    Passkey.objects.filter(user=user).delete()
    options = client.post(reverse("authn:passkey_options")).json()["publicKey"]
    credential = soft.create(json.dumps(options))
    response = post_json(client, reverse("authn:passkey_register"), {"name": "Key", "credential": credential})
    assert response.status_code == 200, response.content
    return Passkey.objects.get(user=user)


def _enroll_totp(user):
    from authn.factors import totp_device_begin, totp_device_confirm

    device = totp_device_begin(user=user)
    assert totp_device_confirm(user=user, device=device, code=_code(device))
    device.refresh_from_db()
    return device


def _code(device, drift: int = 0) -> str:
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=drift)
    return f"{code:0{device.digits}d}"


def _next_code(device) -> str:
    """A code the device has not used yet (enrollment spent the current one): the next time
    step's, within django-otp's tolerance of one step."""
    from authn.tests.test_factors import unthrottle

    unthrottle(device)
    return _code(device, drift=1)


# --- Password and the second step -------------------------------------------------------------


def test_an_admin_without_a_passkey_is_held_on_enrollment(world):
    admin = world.a.users[Role.ADMIN]
    client = Client()
    assert _password(client, admin).status_code == 302
    assert current_state(client).factor == Factor.PASSWORD
    for path in (reverse("tenants:dashboard"), reverse("tenants:member_list"), reverse("audit:event_list")):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"] == reverse("authn:enroll"), path
    assert client.get(reverse("authn:enroll")).status_code == 200
    assert client.get(reverse("authn:passkey_list")).status_code == 200
    # The API refuses too, with a structured error.
    api = client.get("/api/v1/contacts/")
    assert api.status_code == 403 and api.json()["error"]["code"] == "factor_required"


def test_an_admin_with_a_passkey_must_use_it_after_the_password(world):
    admin = world.a.users[Role.ADMIN]
    soft = SoftAuthenticator(rp_id="testserver", origin=ORIGIN)
    _register_passkey(admin, soft)
    _enroll_totp(admin)  # a fallback factor is never enough for an admin
    client = Client()
    response = _password(client, admin)
    assert response.status_code == 302 and response["Location"] == reverse("authn:verify")
    page = client.get(reverse("authn:verify"))
    assert page.context["acceptable"] == ("passkey",)
    assert not client.get(reverse("tenants:dashboard")).wsgi_request.user.is_authenticated
    options = client.post(reverse("authn:passkey_sign_in_options")).json()["publicKey"]
    assert [c["id"] for c in options["allowCredentials"]]  # only this user's credentials
    result = post_json(client, reverse("authn:passkey_sign_in_verify"), soft.get(json.dumps(options)))
    assert result.status_code == 200, result.content
    assert client.get(reverse("tenants:dashboard")).status_code == 200
    assert current_state(client).factor == Factor.PASSKEY


def test_a_marketer_confirms_with_an_authenticator_code(world):
    marketer = world.a.users[Role.MARKETER]
    device = _enroll_totp(marketer)
    client = Client()
    assert _password(client, marketer)["Location"] == reverse("authn:verify")
    seq = head_seq(world.a.tenant)
    from authn.tests.test_factors import wrong_code

    wrong = client.post(reverse("authn:verify"), {"method": "totp", "code": wrong_code(device)})
    assert wrong.status_code == 400 and "not valid" in wrong.content.decode()
    assert "auth.second_factor_failed" in actions(world.a.tenant, seq)
    device.refresh_from_db()
    right = client.post(reverse("authn:verify"), {"method": "totp", "code": _next_code(device)})
    assert right.status_code == 302
    assert client.get(reverse("tenants:dashboard")).status_code == 200
    assert current_state(client).factor == Factor.TOTP
    login_events = [d for a, d in events(world.a.tenant, seq) if a == "auth.login_succeeded"]
    assert login_events and login_events[-1]["factor"] == "totp"


def test_a_recovery_code_works_once(world):
    from authn.factors import recovery_codes_generate

    marketer = world.a.users[Role.MARKETER]
    _enroll_totp(marketer)
    code = recovery_codes_generate(user=marketer)[0]
    first = Client()
    _password(first, marketer)
    assert first.post(reverse("authn:verify"), {"method": "recovery", "code": code}).status_code == 302
    assert current_state(first).factor == Factor.RECOVERY
    second = Client()
    _password(second, marketer)
    again = second.post(reverse("authn:verify"), {"method": "recovery", "code": code})
    assert again.status_code == 400


def test_fallback_factors_are_refused_where_the_policy_forbids_them(world):
    marketer = world.a.users[Role.MARKETER]
    _enroll_totp(marketer)
    _policy(world.a.tenant, allow_fallback_factors=False)
    client = Client()
    response = _password(client, marketer)
    # No acceptable second step: signed in only to enroll a passkey.
    assert response.status_code == 302 and response["Location"] != reverse("authn:verify")
    assert client.get(reverse("tenants:dashboard"))["Location"] == reverse("authn:enroll")
    forged = client.post(reverse("authn:verify"), {"method": "totp", "code": "123456"})
    assert forged.status_code == 302 and current_state(client).factor == Factor.PASSWORD


def test_password_alone_where_the_policy_allows_it_for_marketers(world):
    _policy(world.a.tenant, marketer_factor=RequiredFactor.PASSWORD)
    client = Client()
    assert _password(client, world.a.users[Role.MARKETER])["Location"] == reverse("tenants:dashboard")
    assert client.get(reverse("tenants:dashboard")).status_code == 200


def test_the_second_step_expires(world, monkeypatch):
    marketer = world.a.users[Role.MARKETER]
    _enroll_totp(marketer)
    client = Client()
    _password(client, marketer)
    import time as real_time

    later = real_time.time() + 10 * 60
    monkeypatch.setattr("authn.signin_flow.time.time", lambda: later)
    assert client.get(reverse("authn:verify"))["Location"] == reverse("authn:login")


# --- Passkeys without a username ----------------------------------------------------------------


def test_sign_in_with_a_passkey_and_no_username(world):
    user = world.a.users[Role.COMPLIANCE_OFFICER]
    soft = SoftAuthenticator(rp_id="testserver", origin=ORIGIN)
    passkey = _register_passkey(user, soft)
    client = Client()
    options = client.post(reverse("authn:passkey_sign_in_options")).json()["publicKey"]
    assert options.get("allowCredentials", []) == [] and options["userVerification"] == "required"
    seq = head_seq(world.a.tenant)
    result = post_json(client, reverse("authn:passkey_sign_in_verify"), soft.get(json.dumps(options)))
    assert result.status_code == 200 and result.json()["redirect"] == reverse("tenants:dashboard")
    assert client.get(reverse("tenants:dashboard")).status_code == 200
    state = current_state(client)
    assert state.factor == Factor.PASSKEY and state.passkey_id == passkey.pk
    recorded = events(world.a.tenant, seq)
    assert ("auth.login_succeeded", {"user_id": user.pk, "factor": "passkey"}) in recorded
    assert any(action == "auth.access_decision" and d["outcome"] == "allow" for action, d in recorded)


def test_a_passkey_whose_user_handle_does_not_match_is_refused(world):
    user = world.a.users[Role.COMPLIANCE_OFFICER]
    soft = SoftAuthenticator(rp_id="testserver", origin=ORIGIN)
    _register_passkey(user, soft)
    client = Client()
    options = client.post(reverse("authn:passkey_sign_in_options")).json()["publicKey"]
    forged = soft.get(json.dumps(options), user_handle=b"someone-else-entirely-32-bytes!!")
    response = post_json(client, reverse("authn:passkey_sign_in_verify"), forged)
    assert response.status_code == 400
    assert not client.get(reverse("tenants:dashboard")).wsgi_request.user.is_authenticated


def test_a_disabled_users_passkey_does_not_sign_in(world):
    user = world.a.users[Role.COMPLIANCE_OFFICER]
    soft = SoftAuthenticator(rp_id="testserver", origin=ORIGIN)
    _register_passkey(user, soft)
    user.is_active = False
    user.save()
    client = Client()
    options = client.post(reverse("authn:passkey_sign_in_options")).json()["publicKey"]
    response = post_json(client, reverse("authn:passkey_sign_in_verify"), soft.get(json.dumps(options)))
    assert response.status_code == 400


# --- Conditional access at sign-in and on each request ------------------------------------------


def test_a_sign_in_from_outside_the_allowed_networks_is_blocked_and_audited(world):
    _policy(world.a.tenant, allowed_networks=["10.0.0.0/8"], marketer_factor=RequiredFactor.PASSWORD)
    client = Client()
    seq = head_seq(world.a.tenant)
    response = _password(client, world.a.users[Role.MARKETER])
    assert response.status_code == 403 and "Sign-in refused" in response.content.decode()
    decisions = [d for a, d in events(world.a.tenant, seq) if a == "auth.access_decision"]
    assert decisions[-1]["outcome"] == "block" and decisions[-1]["rule"] == "network"
    assert "127.0.0.1" not in json.dumps(decisions)
    assert not UserSession.objects.filter(user=world.a.users[Role.MARKETER]).exists()


def test_a_new_device_needs_the_second_step(world):
    marketer = world.a.users[Role.MARKETER]
    _policy(world.a.tenant, marketer_factor=RequiredFactor.PASSWORD, new_device_action=RuleAction.STEP_UP)
    device = _enroll_totp(marketer)
    known = Client()
    assert _password(known, marketer)["Location"] == reverse("tenants:dashboard")  # first sign-in: no baseline
    known.post(reverse("authn:logout"))
    assert _password(known, marketer)["Location"] == reverse("tenants:dashboard")  # same browser
    stranger = Client()
    assert _password(stranger, marketer)["Location"] == reverse("authn:verify")
    device.refresh_from_db()
    assert stranger.post(reverse("authn:verify"), {"method": "totp", "code": _next_code(device)}).status_code == 302
    assert stranger.get(reverse("tenants:dashboard")).status_code == 200


def test_a_new_device_can_be_blocked(world):
    marketer = world.a.users[Role.MARKETER]
    _policy(world.a.tenant, marketer_factor=RequiredFactor.PASSWORD, new_device_action=RuleAction.BLOCK)
    _password(Client(), marketer)
    response = _password(Client(), marketer)
    assert response.status_code == 403


def test_a_policy_change_applies_to_open_sessions_at_their_next_request(world, login):
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    assert client.get(reverse("tenants:dashboard")).status_code == 200
    _policy(world.a.tenant, allowed_networks=["10.0.0.0/8"])
    seq = head_seq(world.a.tenant)
    blocked = client.get(reverse("tenants:dashboard"))
    assert blocked.status_code == 403 and "Access blocked" in blocked.content.decode()
    assert events(world.a.tenant, seq)[-1][1]["stage"] == "request"
    assert client.post(reverse("authn:logout")).status_code == 302


def test_the_organisation_with_a_blocking_policy_does_not_block_another(world, login):
    from tenants.models import Membership

    user = world.a.users[Role.MARKETER]
    with tenant_context(world.b.tenant):
        Membership(tenant=world.b.tenant, user=user, role=Role.MARKETER).save()
    _policy(world.a.tenant, allowed_networks=["10.0.0.0/8"])
    client = login(user, world.b.tenant)
    assert client.get(reverse("tenants:dashboard")).status_code == 200
