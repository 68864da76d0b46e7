from __future__ import annotations

import pytest
from django.urls import reverse

from conftest import PASSWORD
from tenants.roles import Role

pytestmark = pytest.mark.django_db


def test_a_user_sees_their_own_sign_ins_and_failures_only(world, client):
    me, other = world.a.users[Role.MARKETER], world.a.users[Role.ADMIN]
    client.post(reverse("authn:login"), {"username": me.email, "password": "wrong-password-1"})
    client.post(reverse("authn:login"), {"username": other.email, "password": PASSWORD})
    client.post(reverse("authn:logout"))
    client.post(reverse("authn:login"), {"username": me.email, "password": PASSWORD})
    page = client.get(reverse("authn:sign_in_history"), HTTP_USER_AGENT="SyntheticBrowser/1.0")
    events = list(page.context["events"])
    assert [event.action for event in events] == ["auth.login_succeeded", "auth.login_failed"]
    assert {event.actor_id for event in events} == {str(me.pk)}
    assert "Failed attempt" in page.content.decode()
