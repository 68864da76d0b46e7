"""Fallback factors as services: authenticator-app (TOTP) codes and one-time recovery codes."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.tests.helpers import actions, events, head_seq
from authn.factors import (
    FactorNotAllowed,
    ReauthenticationFailed,
    fallback_factors_allowed,
    password_reauthenticate,
    recovery_code_use,
    recovery_codes_generate,
    recovery_codes_left,
    totp_device_begin,
    totp_device_confirm,
    totp_device_of,
    totp_device_remove,
    totp_provisioning_uri,
    totp_verify,
    user_has_totp,
)
from authn.models import AccessPolicy, RecoveryCode
from conftest import PASSWORD
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def steady_clock(monkeypatch):
    """Half-way through a 30-second time step, so no code rolls over during a test."""
    import time

    real = time.time()
    frozen = real - real % 30 + 15
    monkeypatch.setattr(time, "time", lambda: frozen)


def code_for(device: TOTPDevice, steps_ahead: int = 0) -> str:
    """The app's code for the current time step (or one ``steps_ahead``, within tolerance)."""
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=steps_ahead):0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    right = {code_for(device, n) for n in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in right)


def unthrottle(device: TOTPDevice) -> None:
    """As if django-otp's back-off delay had passed."""
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=timezone.now() - timedelta(hours=1))


def enroll(user) -> TOTPDevice:
    device = totp_device_begin(user=user)
    assert totp_device_confirm(user=user, device=device, code=code_for(device))
    device.refresh_from_db()
    return device


def forbid_fallback(tenant) -> None:
    with tenant_context(tenant):
        AccessPolicy.objects.create(tenant=tenant, allow_fallback_factors=False)


def add_membership(tenant, user, role=Role.MARKETER) -> None:
    from tenants.services import membership_create

    with tenant_context(tenant):
        membership_create(tenant=tenant, actor=None, user=user, role=role)


# --- TOTP ----------------------------------------------------------------------------------------


def test_begin_creates_an_unconfirmed_device_that_does_not_count(world):
    user = world.a.users[Role.MARKETER]
    device = totp_device_begin(user=user)
    assert device.confirmed is False
    assert not user_has_totp(user)
    # An unconfirmed device's codes do not sign in.
    assert totp_verify(user=user, code=code_for(device)) is False
    # Beginning again replaces the unconfirmed device (a new secret).
    again = totp_device_begin(user=user)
    assert list(TOTPDevice.objects.filter(user=user).values_list("pk", flat=True)) == [again.pk]
    assert again.key != device.key


def test_confirm_needs_the_right_code_and_is_audited(world):
    user = world.a.users[Role.MARKETER]
    seq = head_seq(world.a.tenant)
    device = totp_device_begin(user=user)
    assert totp_device_confirm(user=user, device=device, code=wrong_code(device)) is False
    assert not user_has_totp(user)
    assert actions(world.a.tenant, seq) == []
    unthrottle(device)
    assert totp_device_confirm(user=user, device=device, code=code_for(device)) is True
    assert user_has_totp(user)
    assert events(world.a.tenant, seq) == [
        ("auth.totp_enrolled", {"user_id": user.pk, "device_id": device.pk, "replaced": False})
    ]


def test_right_wrong_and_reused_codes(world):
    user = world.a.users[Role.MARKETER]
    device = enroll(user)
    # The code that confirmed the device is spent.
    assert totp_verify(user=user, code=code_for(device)) is False
    unthrottle(device)
    # The next step's code is within tolerance and works, once.
    nxt = code_for(device, 1)
    assert totp_verify(user=user, code=nxt) is True
    assert totp_verify(user=user, code=nxt) is False
    unthrottle(device)
    assert totp_verify(user=user, code=wrong_code(device)) is False
    # Spaces are ignored; letters or wrong lengths are refused before django-otp.
    unthrottle(device)
    assert totp_verify(user=user, code="12 34") is False
    assert totp_verify(user=user, code="abcdef") is False


def test_an_earlier_step_is_refused_after_a_later_one_was_used(world):
    user = world.a.users[Role.MARKETER]
    device = totp_device_begin(user=user)
    assert totp_device_confirm(user=user, device=device, code=code_for(device, 1))
    # The current step is now in the past of the last one verified: refused.
    assert totp_verify(user=user, code=code_for(device)) is False


def test_failures_are_throttled_by_django_otp(world):
    user = world.a.users[Role.MARKETER]
    device = enroll(user)
    assert totp_verify(user=user, code=wrong_code(device)) is False
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    # Even the right code is refused during the back-off...
    assert totp_verify(user=user, code=code_for(device, 1)) is False
    # ...and accepted after it.
    unthrottle(device)
    assert totp_verify(user=user, code=code_for(device, 1)) is True
    device.refresh_from_db()
    assert device.throttling_failure_count == 0


def test_a_user_cannot_confirm_or_use_another_users_device(world):
    mine, theirs = world.a.users[Role.MARKETER], world.b.users[Role.MARKETER]
    device = totp_device_begin(user=theirs)
    assert totp_device_confirm(user=mine, device=device, code=code_for(device)) is False
    assert not user_has_totp(mine) and not user_has_totp(theirs)
    enrolled = enroll(theirs)
    assert totp_verify(user=mine, code=code_for(enrolled, 1)) is False


def test_confirming_a_new_device_replaces_the_old_one(world):
    user = world.a.users[Role.MARKETER]
    old = enroll(user)
    new = totp_device_begin(user=user)
    # Until the new one is confirmed, the old one still works.
    assert totp_device_of(user).pk == old.pk
    seq = head_seq(world.a.tenant)
    assert totp_device_confirm(user=user, device=new, code=code_for(new))
    assert list(TOTPDevice.objects.filter(user=user).values_list("pk", flat=True)) == [new.pk]
    assert events(world.a.tenant, seq) == [
        ("auth.totp_enrolled", {"user_id": user.pk, "device_id": new.pk, "replaced": True})
    ]


def test_remove_is_audited_and_stops_codes(world):
    user = world.a.users[Role.MARKETER]
    device = enroll(user)
    seq = head_seq(world.a.tenant)
    totp_device_remove(user=user)
    assert not user_has_totp(user)
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert totp_verify(user=user, code=code_for(device, 1)) is False
    assert events(world.a.tenant, seq) == [("auth.totp_removed", {"user_id": user.pk, "device_id": device.pk})]
    # Removing when there is nothing to remove records nothing.
    totp_device_remove(user=user)
    assert actions(world.a.tenant, seq) == ["auth.totp_removed"]


def test_user_level_events_go_to_each_organisation(world):
    user = world.a.users[Role.MARKETER]
    add_membership(world.b.tenant, user)
    a_seq, b_seq = head_seq(world.a.tenant), head_seq(world.b.tenant)
    enroll(user)
    assert actions(world.a.tenant, a_seq) == ["auth.totp_enrolled"]
    assert actions(world.b.tenant, b_seq) == ["auth.totp_enrolled"]


def test_the_secret_never_reaches_the_audit_log(world):
    user = world.a.users[Role.MARKETER]
    seq = head_seq(world.a.tenant)
    device = enroll(user)
    totp_device_remove(user=user)
    stored = repr(events(world.a.tenant, seq))
    assert device.key not in stored
    assert "secret" not in stored


def test_provisioning_uri(world):
    user = world.a.users[Role.MARKETER]
    device = totp_device_begin(user=user)
    uri = totp_provisioning_uri(device, account=user.email)
    assert uri.startswith("otpauth://totp/Sealpost%3A")
    import base64

    secret = re.search(r"secret=([A-Z2-7]+)", uri).group(1)
    assert base64.b32decode(secret + "=" * (-len(secret) % 8)) == device.bin_key
    assert "issuer=Sealpost" in uri and "digits=6" in uri and "period=30" in uri


# --- Recovery codes ------------------------------------------------------------------------------


def test_generate_gives_ten_80_bit_codes_stored_hashed(world):
    user = world.a.users[Role.MARKETER]
    seq = head_seq(world.a.tenant)
    codes = recovery_codes_generate(user=user)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){3}", code) for code in codes)  # 16 x 5 bits
    stored = list(RecoveryCode.objects.filter(user=user).values_list("code_hash", flat=True))
    assert len(stored) == 10
    assert not any(code.replace("-", "") in "".join(stored) for code in codes)
    assert recovery_codes_left(user) == 10
    assert events(world.a.tenant, seq) == [("auth.recovery_codes_generated", {"user_id": user.pk, "count": 10})]


def test_a_recovery_code_works_once(world):
    user = world.a.users[Role.MARKETER]
    code = recovery_codes_generate(user=user)[3]
    seq = head_seq(world.a.tenant)
    assert recovery_code_use(user=user, code=code) is True
    assert recovery_code_use(user=user, code=code) is False
    assert recovery_codes_left(user) == 9
    assert events(world.a.tenant, seq) == [("auth.recovery_code_used", {"user_id": user.pk, "codes_left": 9})]


def test_recovery_codes_are_normalised(world):
    user = world.a.users[Role.MARKETER]
    codes = recovery_codes_generate(user=user)
    assert recovery_code_use(user=user, code=codes[0].lower()) is True
    assert recovery_code_use(user=user, code=" " + codes[1].replace("-", " ") + "\n") is True
    assert recovery_code_use(user=user, code=codes[2].replace("-", "")) is True
    assert recovery_code_use(user=user, code=codes[3][:-1]) is False
    assert recovery_code_use(user=user, code="") is False
    assert recovery_codes_left(user) == 7


def test_regenerating_invalidates_the_old_codes(world):
    user = world.a.users[Role.MARKETER]
    old = recovery_codes_generate(user=user)
    assert recovery_code_use(user=user, code=old[0])
    new = recovery_codes_generate(user=user)
    assert not set(old) & set(new)
    assert all(recovery_code_use(user=user, code=code) is False for code in old[1:])
    assert recovery_codes_left(user) == 10
    assert recovery_code_use(user=user, code=new[0]) is True


def test_a_code_is_only_good_for_its_owner(world):
    mine, theirs = world.a.users[Role.MARKETER], world.a.users[Role.ADMIN]
    code = recovery_codes_generate(user=theirs)[0]
    assert recovery_code_use(user=mine, code=code) is False
    assert recovery_codes_left(theirs) == 10
    assert recovery_code_use(user=theirs, code=code) is True


def race(racers: int, attempt) -> list[bool]:
    """Run ``attempt`` in ``racers`` threads released at the same moment, each on its own
    database connection; the results, after checking none raised."""
    barrier = threading.Barrier(racers)
    results: list[bool] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=30)
            results.append(attempt())
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    return results


@pytest.mark.django_db(transaction=True)
def test_a_code_presented_concurrently_is_claimed_once(world):
    user = world.a.users[Role.MARKETER]
    code = recovery_codes_generate(user=user)[0]
    racers = 6
    results = race(racers, lambda: recovery_code_use(user=user, code=code))
    assert sorted(results) == [False] * (racers - 1) + [True]
    assert recovery_codes_left(user) == 9
    assert actions(world.a.tenant).count("auth.recovery_code_used") == 1


@pytest.mark.django_db(transaction=True)
def test_a_totp_code_presented_concurrently_is_accepted_once(world):
    user = world.a.users[Role.MARKETER]
    device = enroll(user)
    code = code_for(device, 1)
    results = race(4, lambda: totp_verify(user=user, code=code))
    assert results.count(True) == 1


# --- Policy ----------------------------------------------------------------------------------------


def test_no_policy_row_allows_fallback_factors(world):
    assert fallback_factors_allowed(world.a.users[Role.MARKETER]) is True


def test_any_organisation_forbidding_fallback_wins(world):
    user = world.a.users[Role.MARKETER]
    add_membership(world.b.tenant, user)
    with tenant_context(world.a.tenant):
        AccessPolicy.objects.create(tenant=world.a.tenant, allow_fallback_factors=True)
    assert fallback_factors_allowed(user) is True
    forbid_fallback(world.b.tenant)
    assert fallback_factors_allowed(user) is False
    # Others in organisation A alone are unaffected.
    assert fallback_factors_allowed(world.a.users[Role.ADMIN]) is True


def test_an_inactive_membership_does_not_count(world):
    user = world.a.users[Role.MARKETER]
    add_membership(world.b.tenant, user)
    forbid_fallback(world.b.tenant)
    assert fallback_factors_allowed(user) is False
    from tenants.models import Membership

    with tenant_context(world.b.tenant):
        Membership.objects.for_tenant(world.b.tenant).filter(user=user).update(is_active=False)
    assert fallback_factors_allowed(user) is True


def test_policy_forbidding_fallback_refuses_enrolment_and_use(world):
    user = world.a.users[Role.MARKETER]
    device = enroll(user)
    codes = recovery_codes_generate(user=user)
    forbid_fallback(world.a.tenant)
    seq = head_seq(world.a.tenant)
    with pytest.raises(FactorNotAllowed):
        totp_device_begin(user=user)
    with pytest.raises(FactorNotAllowed):
        recovery_codes_generate(user=user)
    assert totp_verify(user=user, code=code_for(device, 1)) is False
    assert recovery_code_use(user=user, code=codes[0]) is False
    assert recovery_codes_left(user) == 10  # refused, not spent
    assert actions(world.a.tenant, seq) == []


def test_policy_change_during_setup_refuses_confirmation(world):
    user = world.a.users[Role.MARKETER]
    device = totp_device_begin(user=user)
    forbid_fallback(world.a.tenant)
    with pytest.raises(FactorNotAllowed):
        totp_device_confirm(user=user, device=device, code=code_for(device))
    assert not user_has_totp(user)


# --- Re-authentication with the password ------------------------------------------------------------


def test_password_reauthentication_is_throttled_and_audited(world):
    user = world.a.users[Role.MARKETER]
    seq = head_seq(world.a.tenant)
    password_reauthenticate(user=user, password=PASSWORD, ip="192.0.2.1")
    for _ in range(5):
        with pytest.raises(ReauthenticationFailed, match="not right"):
            password_reauthenticate(user=user, password="wrong-password-1", ip="192.0.2.1")
    # Locked now, even with the right password.
    with pytest.raises(ReauthenticationFailed, match="Too many attempts"):
        password_reauthenticate(user=user, password=PASSWORD, ip="192.0.2.1")
    recorded = actions(world.a.tenant, seq)
    assert recorded[:6] == ["auth.reauthentication_failed"] * 5 + ["auth.locked_out"]
    # (The lockout may also raise a suspicious-sign-in alert; nothing else is recorded.)
    assert set(recorded[6:]) <= {"auth.suspicious_sign_in"}
