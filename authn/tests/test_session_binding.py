"""Sessions are bound to the browser (device cookie) and network that opened them; users see and
end their sessions, admins end members' sessions, disabling a user ends theirs at once."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from audit.tests.helpers import actions, events, head_seq
from authn.models import UserSession
from authn.tests.support import current_state
from tenants.roles import Role

pytestmark = pytest.mark.django_db


def _signed_in(login, world, role=Role.MARKETER):
    client = login(world.a.users[role], world.a.tenant)
    assert client.get(reverse("tenants:dashboard")).status_code == 200
    return client


def _copy_cookies(source: Client, names: list[str], **client_kwargs) -> Client:
    thief = Client(**client_kwargs)
    for name in names:
        thief.cookies[name] = source.cookies[name].value
    return thief


def test_the_session_cookie_alone_in_another_browser_is_refused_and_the_session_ends(world, login):
    client = _signed_in(login, world)
    session_id = current_state(client).session_id
    seq = head_seq(world.a.tenant)
    thief = _copy_cookies(client, [settings.SESSION_COOKIE_NAME])
    response = thief.get(reverse("tenants:dashboard"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("authn:login"))
    assert events(world.a.tenant, seq) == [
        (
            "auth.session_refused",
            {"user_id": world.a.users[Role.MARKETER].pk, "reason": "other_device", "session_id": session_id},
        )
    ]
    assert UserSession.objects.get(pk=session_id).end_reason == "other_device"
    # The stolen session is over for its owner too.
    assert client.get(reverse("tenants:dashboard")).status_code == 302


def test_both_cookies_replayed_from_another_network_are_refused(world, login):
    client = _signed_in(login, world)
    session_id = current_state(client).session_id
    thief = _copy_cookies(
        client, [settings.SESSION_COOKIE_NAME, settings.DEVICE_COOKIE_NAME], REMOTE_ADDR="203.0.113.9"
    )
    response = thief.get(reverse("tenants:dashboard"))
    assert response.status_code == 302
    assert UserSession.objects.get(pk=session_id).end_reason == "other_network"


def test_the_same_network_and_device_keep_working(world, login):
    client = _signed_in(login, world)
    # Another address in the same /24 is the same network (a NAT pool, DHCP renewal).
    client.defaults["REMOTE_ADDR"] = "127.0.0.77"
    assert client.get(reverse("tenants:dashboard")).status_code == 200


def test_api_calls_with_a_replayed_session_get_a_structured_401(world, login):
    client = _signed_in(login, world)
    thief = _copy_cookies(client, [settings.SESSION_COOKIE_NAME])
    response = thief.get("/api/v1/contacts/")
    assert response.status_code == 401 and response.json()["error"]["code"] == "session_refused"


def test_users_see_their_sessions_and_end_one(world, login):
    user = world.a.users[Role.MARKETER]
    first = _signed_in(login, world)
    second = Client()
    login_second = _bind(second, user, world)
    other_id = current_state(login_second).session_id
    page = first.get(reverse("authn:session_list"))
    assert page.status_code == 200 and str(other_id) in page.content.decode()
    seq = head_seq(world.a.tenant)
    assert first.post(reverse("authn:session_end", args=[other_id])).status_code == 302
    assert actions(world.a.tenant, seq) == ["auth.session_ended"]
    assert second.get(reverse("tenants:dashboard")).status_code == 302
    assert first.get(reverse("tenants:dashboard")).status_code == 200


def _bind(client: Client, user, world):
    from authn.tests.support import bind_client_session
    from tenants.resolution import SESSION_TENANT_KEY

    client.force_login(user)
    bind_client_session(client, user)
    session = client.session
    session[SESSION_TENANT_KEY] = world.a.tenant.pk
    session.save()
    return client


def test_end_all_other_sessions_keeps_this_one(world, login):
    user = world.a.users[Role.MARKETER]
    mine = _signed_in(login, world)
    others = [_bind(Client(), user, world) for _ in range(2)]
    response = mine.post(reverse("authn:session_end_others"), follow=True)
    assert "Ended 2 other sessions" in response.content.decode()
    for other in others:
        assert other.get(reverse("tenants:dashboard")).status_code == 302
    assert mine.get(reverse("tenants:dashboard")).status_code == 200


def test_a_user_cannot_end_someone_elses_session(world, login):
    victim = _bind(Client(), world.a.users[Role.COMPLIANCE_OFFICER], world)
    victim_session = current_state(victim).session_id
    attacker = _signed_in(login, world)
    assert attacker.post(reverse("authn:session_end", args=[victim_session])).status_code == 404
    assert victim.get(reverse("tenants:dashboard")).status_code == 200


def test_admins_see_and_end_members_sessions_but_not_other_organisations(world, login):
    member = _bind(Client(), world.a.users[Role.MARKETER], world)
    member_session = current_state(member).session_id
    admin = login(world.a.users[Role.ADMIN], world.a.tenant)
    page = admin.get(reverse("authn:member_session_list"))
    assert page.status_code == 200 and world.a.users[Role.MARKETER].display_name in page.content.decode()
    other_admin = login(world.b.users[Role.ADMIN], world.b.tenant)
    assert other_admin.post(reverse("authn:member_session_end", args=[member_session])).status_code == 404
    assert member.get(reverse("tenants:dashboard")).status_code == 200

    admin = login(world.a.users[Role.ADMIN], world.a.tenant)
    seq = head_seq(world.a.tenant)
    assert admin.post(reverse("authn:member_session_end", args=[member_session])).status_code == 302
    assert events(world.a.tenant, seq)[0][0] == "auth.session_ended"
    assert events(world.a.tenant, seq)[0][1]["reason"] == "ended_by_admin"
    assert member.get(reverse("tenants:dashboard")).status_code == 302


def test_marketers_cannot_list_members_sessions(world, login):
    client = _signed_in(login, world)
    assert client.get(reverse("authn:member_session_list")).status_code == 403


def test_disabling_a_user_ends_their_sessions_at_once(world, login):
    user = world.a.users[Role.MARKETER]
    client = _signed_in(login, world)
    session_id = current_state(client).session_id
    user.is_active = False
    user.save()
    session = UserSession.objects.get(pk=session_id)
    assert session.ended_at is not None and session.end_reason == "user_disabled"
