"""Sensitive actions need a passkey assertion made in the last STEP_UP_SECONDS."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from authn.auth_state import AUTH_STATE_KEY
from tenants.roles import Role
from tests.urlwalk import walk

pytestmark = pytest.mark.django_db

# (route name, method, role, URL kwargs maker)
SENSITIVE = [
    ("audit:export_csv", "get", Role.COMPLIANCE_OFFICER, None),
    ("audit:export_json", "get", Role.COMPLIANCE_OFFICER, None),
    ("encryption:rotate", "post", Role.ADMIN, None),
    ("encryption:destroy", "post", Role.ADMIN, None),
    ("tenants:member_edit", "post", Role.ADMIN, lambda world: {"membership_id": world.a.memberships[Role.MARKETER].pk}),
    ("authn:access_policy", "post", Role.ADMIN, None),
    ("authn:break_glass_list", "post", Role.ADMIN, None),
    ("authn:api_application_create", "post", Role.ADMIN, None),
    ("authn:api_application_scopes", "post", Role.ADMIN, lambda world: _application(world)),
    ("authn:api_token_rotate", "post", Role.ADMIN, lambda world: _application(world)),
    ("authn:api_application_revoke", "post", Role.ADMIN, lambda world: _application(world)),
]


def _application(world):
    from tests.factories import make_token

    return {"application_id": make_token(world.a.tenant, world.a.users[Role.ADMIN]).application.pk}


def _url(world, name, kwargs_maker):
    return reverse(name, kwargs=kwargs_maker(world) if kwargs_maker else None)


def _carries_step_up(callback) -> bool:
    while callback is not None:
        if getattr(callback, "sealpost_step_up", False):
            return True
        callback = getattr(callback, "__wrapped__", None)
    return False


def test_the_sensitive_routes_are_guarded_by_step_up():
    guarded = {route.name for route in walk() if _carries_step_up(route.callback)}
    assert {name for name, *_ in SENSITIVE} <= guarded


@pytest.mark.parametrize(("name", "method", "role", "kwargs_maker"), SENSITIVE, ids=[s[0] for s in SENSITIVE])
def test_without_a_fresh_assertion_the_action_goes_to_step_up(world, login, name, method, role, kwargs_maker):
    client = login(world.a.users[role], world.a.tenant)
    url = _url(world, name, kwargs_maker)
    response = getattr(client, method)(url, HTTP_REFERER=f"http://testserver{reverse('tenants:dashboard')}")
    assert response.status_code == 302 and response["Location"].startswith(reverse("authn:step_up"))


@pytest.mark.parametrize(("name", "method", "role", "kwargs_maker"), SENSITIVE, ids=[s[0] for s in SENSITIVE])
def test_an_assertion_older_than_the_window_no_longer_counts(world, login, settings, name, method, role, kwargs_maker):
    client = login(world.a.users[role], world.a.tenant, step_up=True)
    session = client.session
    state = dict(session[AUTH_STATE_KEY])
    state["step_up_at"] = time.time() - settings.STEP_UP_SECONDS - 1
    session[AUTH_STATE_KEY] = state
    session.save()
    response = getattr(client, method)(_url(world, name, kwargs_maker))
    assert response.status_code == 302 and response["Location"].startswith(reverse("authn:step_up"))


def test_with_a_fresh_assertion_the_export_runs(world, login):
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant, step_up=True)
    response = client.get(reverse("audit:export_csv"))
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"


def test_a_post_returns_to_the_page_the_form_was_on(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    response = client.post(reverse("encryption:rotate"), HTTP_REFERER=f"http://testserver{reverse('encryption:keys')}")
    assert response["Location"] == f"{reverse('authn:step_up')}?next=%2Fencryption%2F"


def test_a_foreign_referer_is_not_a_return_address(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    response = client.post(reverse("encryption:rotate"), HTTP_REFERER="https://evil.example/phish")
    assert "evil" not in response["Location"]


def test_htmx_requests_are_sent_to_step_up_with_a_header(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    response = client.post(reverse("encryption:rotate"), HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and response["HX-Redirect"].startswith(reverse("authn:step_up"))
