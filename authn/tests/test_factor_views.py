"""The authenticator-app and recovery-code pages: setup with a QR code, confirmation, removal
with re-authentication, no-store pages, audit events, policy refusals, and only ever the
signed-in user's own factors."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.tests.helpers import actions, head_seq
from authn.factor_views import SETUP_SESSION_KEY
from authn.factors import recovery_code_use, recovery_codes_generate, recovery_codes_left, totp_secret_text
from authn.models import Factor, RecoveryCode
from authn.tests.support import bind_client_session, give_step_up
from authn.tests.test_factors import (  # steady_clock: the autouse fixture, applied here too
    code_for,
    enroll,
    forbid_fallback,
    steady_clock,  # noqa: F401
    unthrottle,
    wrong_code,
)
from conftest import PASSWORD
from tenants.resolution import SESSION_TENANT_KEY
from tenants.roles import Role

pytestmark = pytest.mark.django_db

TOTP_URL = "/accounts/authenticator/"
RECOVERY_URL = "/accounts/recovery-codes/"


def signed_in(user, tenant, *, factor=Factor.TOTP, step_up=False) -> Client:
    """A separate browser for ``user``. ``factor=Factor.PASSKEY`` also gives them a passkey."""
    client = Client()
    client.force_login(user)
    bind_client_session(client, user, factor=factor, step_up=step_up)
    session = client.session
    session[SESSION_TENANT_KEY] = tenant.pk
    session.save()
    return client


def step_up_redirect(page: str) -> str:
    return f"{reverse('authn:step_up')}?{urlencode({'next': page})}"


def begin(client, password=PASSWORD):
    return client.post(TOTP_URL, {"action": "begin", "password": password})


def pending_device(user) -> TOTPDevice:
    return TOTPDevice.objects.get(user=user, confirmed=False)


def test_urls():
    assert reverse("authn:totp_setup") == TOTP_URL
    assert reverse("authn:recovery_codes") == RECOVERY_URL


# --- Authenticator app: setup --------------------------------------------------------------------


def test_setup_with_qr_code_and_confirmation(world, caplog):
    caplog.set_level(logging.DEBUG)
    user = world.a.users[Role.MARKETER]
    client = signed_in(user, world.a.tenant, factor=Factor.PASSWORD)
    seq = head_seq(world.a.tenant)

    start = client.get(TOTP_URL)
    assert start.status_code == 200
    assert "no-store" in start["Cache-Control"]
    assert 'name="password"' in start.content.decode()  # no passkey: the password re-authenticates

    started = begin(client)
    assert started.status_code == 302 and started["Location"] == TOTP_URL
    device = pending_device(user)

    page = client.get(TOTP_URL)
    body = page.content.decode()
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    assert re.search(r'<img class="qr-code" src="data:image/svg\+xml;[^"]+"', body)
    assert totp_secret_text(device) in body  # for typing in by hand
    assert 'style="' not in body and "<script>" not in body  # CSP: no inline styles or scripts

    wrong = client.post(TOTP_URL, {"action": "confirm", "code": wrong_code(device)})
    assert wrong.status_code == 400 and "not right" in wrong.content.decode()
    assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    unthrottle(device)

    right = client.post(TOTP_URL, {"action": "confirm", "code": code_for(device)})
    assert right.status_code == 302 and right["Location"] == f"{TOTP_URL}?changed=1"
    assert TOTPDevice.objects.get(user=user).confirmed
    assert SETUP_SESSION_KEY not in client.session

    done = client.get(right["Location"])
    body = done.content.decode()
    assert "no-store" in done["Cache-Control"]
    assert "Your authenticator app is set up." in body
    assert f'action="{reverse("authn:session_end_others")}"' in body  # offer to end the other sessions
    assert totp_secret_text(device) not in body and "qr-code" not in body  # the secret is not shown again

    assert actions(world.a.tenant, seq) == ["auth.totp_enrolled"]
    device.refresh_from_db()
    assert device.key not in caplog.text
    assert totp_secret_text(device).replace(" ", "") not in caplog.text


def test_setup_needs_the_password_when_the_user_has_no_passkey(world):
    user = world.a.users[Role.MARKETER]
    client = signed_in(user, world.a.tenant)
    seq = head_seq(world.a.tenant)
    refused = begin(client, password="wrong-password-1")
    assert refused.status_code == 400
    assert "That password is not right." in refused.content.decode()
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert begin(client, password="").status_code == 400
    assert actions(world.a.tenant, seq) == ["auth.reauthentication_failed"]


def test_setup_needs_a_fresh_step_up_when_the_user_has_a_passkey(world):
    admin = world.a.users[Role.ADMIN]
    client = signed_in(admin, world.a.tenant, factor=Factor.PASSKEY)
    page = client.get(TOTP_URL).content.decode()
    assert 'name="password"' not in page
    assert step_up_redirect(TOTP_URL).replace("&", "&amp;") in page or step_up_redirect(TOTP_URL) in page
    # Without a fresh step-up the request goes to the step-up page and changes nothing, password or not.
    response = begin(client)
    assert response.status_code == 302 and response["Location"] == step_up_redirect(TOTP_URL)
    assert not TOTPDevice.objects.filter(user=admin).exists()
    give_step_up(client)
    assert client.post(TOTP_URL, {"action": "begin"}).status_code == 302
    assert pending_device(admin)


def test_a_pending_setup_belongs_to_the_session_that_started_it(world):
    user = world.a.users[Role.MARKETER]
    first = signed_in(user, world.a.tenant)
    begin(first)
    device = pending_device(user)
    # Someone holding another session of the same account neither sees the secret nor confirms it.
    other = signed_in(user, world.a.tenant)
    page = other.get(TOTP_URL).content.decode()
    assert totp_secret_text(device) not in page
    response = other.post(TOTP_URL, {"action": "confirm", "code": code_for(device)})
    assert response.status_code == 302 and response["Location"] == TOTP_URL
    device.refresh_from_db()
    assert not device.confirmed


def test_a_later_setup_in_another_session_is_not_shown_to_the_first(world):
    user = world.a.users[Role.MARKETER]
    first, second = signed_in(user, world.a.tenant), signed_in(user, world.a.tenant)
    begin(first)
    begin(second)  # replaces the first session's unconfirmed device
    device = pending_device(user)
    assert totp_secret_text(device) in second.get(TOTP_URL).content.decode()
    assert totp_secret_text(device) not in first.get(TOTP_URL).content.decode()
    response = first.post(TOTP_URL, {"action": "confirm", "code": code_for(device)})
    assert response["Location"] == TOTP_URL
    device.refresh_from_db()
    assert not device.confirmed


def test_a_pending_setup_expires(world, monkeypatch):
    import time

    user = world.a.users[Role.MARKETER]
    client = signed_in(user, world.a.tenant)
    begin(client)
    device = pending_device(user)
    later = time.time() + 11 * 60
    monkeypatch.setattr("authn.factor_views.time.time", lambda: later)
    assert totp_secret_text(device) not in client.get(TOTP_URL).content.decode()
    response = client.post(TOTP_URL, {"action": "confirm", "code": code_for(device)})
    assert response["Location"] == TOTP_URL
    device.refresh_from_db()
    assert not device.confirmed


def test_setup_is_refused_when_the_policy_forbids_fallback_factors(world):
    user = world.a.users[Role.MARKETER]
    forbid_fallback(world.a.tenant)
    client = signed_in(user, world.a.tenant, factor=Factor.PASSWORD)
    seq = head_seq(world.a.tenant)
    page = client.get(TOTP_URL)
    assert page.status_code == 200
    assert "does not allow authenticator apps" in page.content.decode()
    assert 'value="begin"' not in page.content.decode()
    refused = begin(client)
    assert refused.status_code == 403
    assert "does not allow authenticator apps" in refused.content.decode()
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert actions(world.a.tenant, seq) == []


def test_a_policy_in_another_organisation_of_the_user_also_refuses(world):
    from tenants.context import tenant_context
    from tenants.services import membership_create

    user = world.a.users[Role.MARKETER]
    with tenant_context(world.b.tenant):
        membership_create(tenant=world.b.tenant, actor=None, user=user, role=Role.MARKETER)
    forbid_fallback(world.b.tenant)
    client = signed_in(user, world.a.tenant)  # acting for A, which allows them
    assert begin(client).status_code == 403
    assert not TOTPDevice.objects.filter(user=user).exists()


def test_a_policy_change_during_setup_refuses_the_confirmation(world):
    user = world.a.users[Role.MARKETER]
    client = signed_in(user, world.a.tenant)
    begin(client)
    device = pending_device(user)
    forbid_fallback(world.a.tenant)
    response = client.post(TOTP_URL, {"action": "confirm", "code": code_for(device)})
    assert response.status_code == 403
    assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()


# --- Authenticator app: removal -------------------------------------------------------------------


def _allow_password_only_for_marketers(tenant) -> None:
    from authn.models import AccessPolicy, RequiredFactor
    from tenants.context import tenant_context

    with tenant_context(tenant):
        AccessPolicy.objects.create(tenant=tenant, marketer_factor=RequiredFactor.PASSWORD)


def test_the_only_second_factor_the_policy_requires_cannot_be_removed(world):
    user = world.a.users[Role.MARKETER]  # the default policy asks marketers for a second factor
    device = enroll(user)
    client = signed_in(user, world.a.tenant)
    response = client.post(TOTP_URL, {"action": "remove", "password": PASSWORD}, follow=True)
    assert "add a passkey before removing it" in response.content.decode()
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


def test_status_and_removal_with_the_password(world):
    user = world.a.users[Role.MARKETER]
    _allow_password_only_for_marketers(world.a.tenant)
    device = enroll(user)
    client = signed_in(user, world.a.tenant)
    page = client.get(TOTP_URL).content.decode()
    assert "On</span>" in page and 'value="remove"' in page
    assert totp_secret_text(device) not in page  # a confirmed device's secret is never shown

    seq = head_seq(world.a.tenant)
    refused = client.post(TOTP_URL, {"action": "remove"})
    assert refused.status_code == 400
    assert TOTPDevice.objects.filter(pk=device.pk).exists()
    refused = client.post(TOTP_URL, {"action": "remove", "password": "wrong-password-1"})
    assert refused.status_code == 400 and "That password is not right." in refused.content.decode()
    assert TOTPDevice.objects.filter(pk=device.pk).exists()

    removed = client.post(TOTP_URL, {"action": "remove", "password": PASSWORD})
    assert removed.status_code == 302 and removed["Location"] == f"{TOTP_URL}?changed=1"
    assert not TOTPDevice.objects.filter(user=user).exists()
    after = client.get(removed["Location"]).content.decode()
    assert f'action="{reverse("authn:session_end_others")}"' in after
    assert actions(world.a.tenant, seq) == ["auth.reauthentication_failed", "auth.totp_removed"]


def test_removal_needs_a_fresh_step_up_when_the_user_has_a_passkey(world):
    admin = world.a.users[Role.ADMIN]
    device = enroll(admin)
    client = signed_in(admin, world.a.tenant, factor=Factor.PASSKEY)
    seq = head_seq(world.a.tenant)
    response = client.post(TOTP_URL, {"action": "remove", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == step_up_redirect(TOTP_URL)
    assert TOTPDevice.objects.filter(pk=device.pk).exists()
    give_step_up(client)
    assert client.post(TOTP_URL, {"action": "remove"}).status_code == 302
    assert not TOTPDevice.objects.filter(user=admin).exists()
    assert actions(world.a.tenant, seq) == ["auth.totp_removed"]


def test_setting_up_again_replaces_the_app_only_when_confirmed(world):
    user = world.a.users[Role.MARKETER]
    old = enroll(user)
    client = signed_in(user, world.a.tenant)
    assert begin(client).status_code == 302
    new = pending_device(user)
    assert TOTPDevice.objects.filter(pk=old.pk, confirmed=True).exists()  # still works meanwhile
    assert client.post(TOTP_URL, {"action": "confirm", "code": code_for(new)}).status_code == 302
    assert list(TOTPDevice.objects.filter(user=user).values_list("pk", flat=True)) == [new.pk]


def test_unknown_action_is_a_bad_request(world):
    client = signed_in(world.a.users[Role.MARKETER], world.a.tenant)
    assert client.post(TOTP_URL, {"action": "other"}).status_code == 400


# --- Recovery codes --------------------------------------------------------------------------------


def test_generating_recovery_codes_shows_them_once(world, caplog):
    caplog.set_level(logging.DEBUG)
    user = world.a.users[Role.MARKETER]
    client = signed_in(user, world.a.tenant)
    page = client.get(RECOVERY_URL)
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    assert page.context["left"] == 0

    seq = head_seq(world.a.tenant)
    response = client.post(RECOVERY_URL, {"password": PASSWORD})
    body = response.content.decode()
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    codes = re.findall(r"\b[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}\b", body)
    assert len(codes) == 10
    assert "will not be shown again" in body
    assert f'action="{reverse("authn:session_end_others")}"' in body
    assert actions(world.a.tenant, seq) == ["auth.recovery_codes_generated"]
    assert not any(code in caplog.text for code in codes)

    again = client.get(RECOVERY_URL).content.decode()
    assert not any(code in again for code in codes)
    assert recovery_codes_left(user) == 10
    assert recovery_code_use(user=user, code=codes[0])
    assert client.get(RECOVERY_URL).context["left"] == 9


def test_regenerating_from_the_page_invalidates_old_codes(world):
    user = world.a.users[Role.MARKETER]
    old = recovery_codes_generate(user=user)
    client = signed_in(user, world.a.tenant)
    assert client.post(RECOVERY_URL, {"password": PASSWORD}).status_code == 200
    assert not any(recovery_code_use(user=user, code=code) for code in old)


def test_recovery_codes_need_reauthentication(world):
    marketer = world.a.users[Role.MARKETER]
    client = signed_in(marketer, world.a.tenant)
    seq = head_seq(world.a.tenant)
    refused = client.post(RECOVERY_URL, {"password": "wrong-password-1"})
    assert refused.status_code == 400 and "That password is not right." in refused.content.decode()
    assert not RecoveryCode.objects.filter(user=marketer).exists()
    assert actions(world.a.tenant, seq) == ["auth.reauthentication_failed"]

    admin = world.a.users[Role.ADMIN]
    admin_client = signed_in(admin, world.a.tenant, factor=Factor.PASSKEY)
    response = admin_client.post(RECOVERY_URL, {"password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == step_up_redirect(RECOVERY_URL)
    assert not RecoveryCode.objects.filter(user=admin).exists()
    give_step_up(admin_client)
    assert admin_client.post(RECOVERY_URL).status_code == 200
    assert recovery_codes_left(admin) == 10


def test_recovery_codes_are_refused_when_the_policy_forbids_fallback_factors(world):
    user = world.a.users[Role.MARKETER]
    forbid_fallback(world.a.tenant)
    client = signed_in(user, world.a.tenant)
    page = client.get(RECOVERY_URL).content.decode()
    assert "does not allow recovery codes" in page
    seq = head_seq(world.a.tenant)
    response = client.post(RECOVERY_URL, {"password": PASSWORD})
    assert response.status_code == 403
    assert not RecoveryCode.objects.filter(user=user).exists()
    assert actions(world.a.tenant, seq) == []


# --- Only ever the signed-in user's own factors ------------------------------------------------


def test_another_organisations_admin_cannot_touch_my_factors(world):
    mine = world.a.users[Role.MARKETER]
    my_device = enroll(mine)
    my_codes = recovery_codes_generate(user=mine)
    intruder = world.b.users[Role.ADMIN]
    client = signed_in(intruder, world.b.tenant, step_up=True, factor=Factor.PASSKEY)
    a_seq = head_seq(world.a.tenant)

    page = client.get(TOTP_URL)
    assert page.status_code == 200 and page.context["device"] is None  # they see their own state only
    assert client.get(RECOVERY_URL).context["left"] == 0

    # Naming my device or my account in the form changes nothing of mine.
    client.post(TOTP_URL, {"action": "remove", "device_id": my_device.pk, "user": mine.pk})
    client.post(TOTP_URL, {"action": "confirm", "device_id": my_device.pk, "code": code_for(my_device, 1)})
    client.post(RECOVERY_URL, {"user": mine.pk})
    assert TOTPDevice.objects.get(pk=my_device.pk).confirmed
    assert recovery_codes_left(mine) == 10
    assert recovery_code_use(user=mine, code=my_codes[0])
    assert actions(world.a.tenant, a_seq) == ["auth.recovery_code_used"]  # only my own use above

    # What they did act on was their own account.
    assert recovery_codes_left(intruder) == 10
    assert not TOTPDevice.objects.filter(user=intruder, confirmed=True).exists()


def test_a_session_bound_setup_cannot_be_confirmed_by_another_user(world):
    mine = world.a.users[Role.MARKETER]
    mine_client = signed_in(mine, world.a.tenant)
    begin(mine_client)
    my_pending = pending_device(mine)
    other = world.b.users[Role.MARKETER]
    other_client = signed_in(other, world.b.tenant)
    # Even with my pending device's id planted in their session, it is not theirs.
    session = other_client.session
    session[SETUP_SESSION_KEY] = dict(mine_client.session[SETUP_SESSION_KEY])
    session.save()
    assert totp_secret_text(my_pending) not in other_client.get(TOTP_URL).content.decode()
    other_client.post(TOTP_URL, {"action": "confirm", "code": code_for(my_pending)})
    my_pending.refresh_from_db()
    assert not my_pending.confirmed


def test_signed_out_visitors_are_sent_to_sign_in(world):
    client = Client()
    for url in (TOTP_URL, RECOVERY_URL):
        response = client.post(url, {"action": "begin", "password": PASSWORD})
        assert response.status_code == 302 and response["Location"].startswith(reverse("authn:login"))
