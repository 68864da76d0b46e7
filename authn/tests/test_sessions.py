from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from audit.tests.helpers import actions, head_seq
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch):
    """A clock the test moves: seconds since the session began."""
    import authn.sessions

    state = {"now": 1_000_000.0}
    monkeypatch.setattr(authn.sessions, "_now", lambda: state["now"])

    def advance(seconds: float) -> None:
        state["now"] += seconds

    return advance


def test_an_idle_session_is_signed_out_and_told_why(world, login, clock):
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    assert client.get(reverse("tenants:dashboard")).status_code == 200
    start = head_seq(world.a.tenant)
    clock(15 * 60 + 1)
    response = client.get(reverse("tenants:dashboard"), follow=True)
    assert response.redirect_chain[0][0].startswith(reverse("authn:login"))
    assert "signed out after 15 minutes without activity" in response.content.decode()
    assert actions(world.a.tenant, start) == ["auth.session_expired", "auth.logout"]
    with tenant_context(world.a.tenant):
        expired = AuditEvent.objects.get(chain_id=world.a.tenant.pk, action="auth.session_expired")
    assert '"reason":"idle"' in expired.details


def test_activity_keeps_a_session_alive(world, login, clock):
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    for _ in range(5):
        clock(10 * 60)
        assert client.get(reverse("tenants:dashboard")).status_code == 200


def test_a_session_ends_at_its_absolute_lifetime_whatever_the_activity(world, login, clock, settings):
    settings.SESSION_COOKIE_AGE = 30 * 60
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    for _ in range(3):
        clock(10 * 60)
        assert client.get(reverse("tenants:dashboard")).status_code == 200
    clock(60 + 1)
    assert client.get(reverse("tenants:dashboard")).status_code == 302
    with tenant_context(world.a.tenant):
        expired = AuditEvent.objects.get(chain_id=world.a.tenant.pk, action="auth.session_expired")
    assert '"reason":"absolute"' in expired.details


def test_an_expired_session_on_the_api_gets_a_structured_401(world, login, clock):
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    clock(16 * 60)
    response = client.get(reverse("api:segments_api:contact_list"))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "session_expired"


def test_disabling_a_user_ends_their_sessions_at_once(world, login):
    user = world.a.users[Role.MARKETER]
    client = login(user, world.a.tenant)
    assert client.get(reverse("tenants:dashboard")).status_code == 200
    user.is_active = False
    user.save(update_fields=["is_active"])
    response = client.get(reverse("tenants:dashboard"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("authn:login"))
