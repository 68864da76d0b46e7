"""Suspicious sign-in alerts: recorded in the organisation's audit log, and emailed (through a real
SMTP server) to the user ("was this you?") and to the organisation's admins, without PHI or IP
addresses. A lockout after repeated failures raises one in each of the account's organisations."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from audit.tests.helpers import events, head_seq
from authn import throttle
from authn.notifications import suspicious_sign_in_alert
from authn.tests.mail import inbox  # noqa: F401 - fixture
from tenants.context import tenant_context
from tenants.models import Membership
from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db

WRONG = "not-the-password-1"
ATTACKER_IP = "203.0.113.77"


def _alert(fixture, user, reasons, rule=""):
    with tenant_context(fixture.tenant):
        suspicious_sign_in_alert(tenant=fixture.tenant, user=user, reasons=reasons, decision_rule=rule)


def _fail_until_locked(client, email):
    for _ in range(throttle.ACCOUNT_FAILURES):
        client.post(reverse("authn:login"), {"username": email, "password": WRONG}, REMOTE_ADDR=ATTACKER_IP)


def test_the_alert_is_recorded_and_mailed_to_the_user_and_the_admins(
    world,
    inbox,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    marketer = world.a.users[Role.MARKETER]
    admin = world.a.users[Role.ADMIN]
    start = head_seq(world.a.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        _alert(world.a, marketer, ["new_country", "impossible_travel"], rule="impossible_travel")
    assert events(world.a.tenant, start) == [
        (
            "auth.suspicious_sign_in",
            {"user_id": marketer.pk, "reasons": ["new_country", "impossible_travel"], "rule": "impossible_travel"},
        )
    ]
    assert inbox.recipients() == sorted([marketer.email, admin.email])

    (to_user,) = inbox.to(marketer.email)
    assert to_user.subject == "Sealpost: was this you? Unusual sign-in to your account"
    assert "Was this you?" in to_user.body
    assert "country this account has not signed in from before" in to_user.body
    assert "too far from the previous sign-in" in to_user.body
    assert f"{settings.SITE_URL}/accounts/sessions/" in to_user.body
    assert "tell your admin" in to_user.body

    (to_admin,) = inbox.to(admin.email)
    assert to_admin.subject == "Sealpost: unusual sign-in for a member of Org A"
    assert marketer.email in to_admin.body
    assert "/accounts/member-sessions/" in to_admin.body
    # One message per recipient: nobody sees who else was told.
    assert all(len(message.rcpt_tos) == 1 for message in inbox.received)


def test_an_admin_is_told_once_and_other_organisations_not_at_all(
    world,
    inbox,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    second_admin = _member(world.a, "admin2", Role.ADMIN)
    _member(world.a, "admin3", Role.ADMIN, is_active=False)
    admin = world.a.users[Role.ADMIN]
    with django_capture_on_commit_callbacks(execute=True):
        _alert(world.a, admin, ["new_country"])
    assert inbox.recipients() == sorted([admin.email, second_admin.email])
    assert "was this you?" in inbox.to(admin.email)[0].subject
    assert not any(world.b.tenant.slug in address for address in inbox.recipients())


def test_unknown_reasons_are_refused(world):
    start = head_seq(world.a.tenant)
    with pytest.raises(ValueError, match="reasons"):
        _alert(world.a, world.a.users[Role.MARKETER], ["bad_vibes"])
    with pytest.raises(ValueError, match="reasons"):
        _alert(world.a, world.a.users[Role.MARKETER], [])
    assert head_seq(world.a.tenant) == start


def test_a_lockout_alerts_the_user_and_admins_of_each_organisation(
    world,
    client,
    inbox,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    marketer = world.a.users[Role.MARKETER]
    with tenant_context(world.b.tenant):
        Membership(tenant=world.b.tenant, user=marketer, role=Role.MARKETER).save()
    starts = head_seq(world.a.tenant), head_seq(world.b.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        _fail_until_locked(client, marketer.email)

    for tenant, start in zip((world.a.tenant, world.b.tenant), starts, strict=True):
        recorded = [(action, details) for action, details in events(tenant, start) if action != "auth.login_failed"]
        assert recorded == [
            ("auth.locked_out", {"user_id": marketer.pk}),
            ("auth.suspicious_sign_in", {"user_id": marketer.pk, "reasons": ["many_failures"]}),
        ]
    # The user once per organisation; each organisation's admins.
    assert inbox.recipients() == sorted(
        [marketer.email, marketer.email, world.a.users[Role.ADMIN].email, world.b.users[Role.ADMIN].email]
    )
    for message in inbox.to(marketer.email):
        assert "sign-in to the account was locked" in message.body


def test_a_lockout_of_an_unknown_address_alerts_nobody(
    world,
    client,
    inbox,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    starts = head_seq(world.a.tenant), head_seq(world.b.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        _fail_until_locked(client, "nobody.synthetic@example.com")
    assert inbox.received == []
    assert (head_seq(world.a.tenant), head_seq(world.b.tenant)) == starts


def test_alert_emails_hold_no_phi_and_no_ip_address(
    world,
    client,
    inbox,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    contact = make_contact(world.a.tenant, first_name="Zebulon", last_name="Quixotic-Synthetic")
    with django_capture_on_commit_callbacks(execute=True):
        _fail_until_locked(client, world.a.users[Role.COMPLIANCE_OFFICER].email)
        _alert(world.a, world.a.users[Role.MARKETER], ["new_country", "impossible_travel"], rule="new_country")
    assert len(inbox.received) == 4
    for message in inbox.received:
        raw = message.message.as_string()
        for forbidden in (ATTACKER_IP, "127.0.0.1", contact.email, "Zebulon", "Quixotic", contact.external_id):
            assert forbidden not in raw, forbidden
        assert message.message.get_content_type() == "text/plain"
        assert str(message.message["From"]) == settings.DEFAULT_FROM_EMAIL


def _member(fixture, name, role, *, is_active=True):
    from authn.models import User

    user = User.objects.create_user(email=f"{name}@{fixture.tenant.slug}.example.com", password="x-synthetic-pass-1")
    with tenant_context(fixture.tenant):
        Membership(tenant=fixture.tenant, user=user, role=role, is_active=is_active).save()
    return user
