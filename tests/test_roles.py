"""Every route declares who may reach it, and each role reaches exactly what the map allows."""

from __future__ import annotations

from functools import partial

import pytest
from django.http import HttpResponse
from django.urls import reverse

from authn.scopes import SCOPES
from tenants.permissions import PERMISSIONS, role_has_permission
from tenants.roles import Role
from tests.factories import make_token
from tests.urlwalk import is_api, view_marker, walk


def test_every_route_declares_its_access():
    undeclared = [route.name for route in walk() if view_marker(route.callback)[0] == "none"]
    assert undeclared == [], f"Routes without require_permission/public_view/login_only: {undeclared}"


def test_every_declared_permission_is_in_the_map():
    codes = {view_marker(route.callback)[1] for route in walk()} - {None}
    assert codes <= set(PERMISSIONS)


def _list_routes_with_permission():
    return [route for route in walk() if not route.takes_object_id and view_marker(route.callback)[0] == "permission"]


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
def test_each_role_reaches_what_it_may_and_gets_403_elsewhere(world, login, role):
    client = login(world.a.users[role], world.a.tenant, step_up=True)
    checked = 0
    for route in _list_routes_with_permission():
        if is_api(route):
            continue
        _, code = view_marker(route.callback)
        response = client.get(reverse(route.name))
        if response.status_code == 405:
            continue  # POST-only routes are covered by the object-route tests
        expected = 200 if role_has_permission(role, code) else 403
        assert response.status_code == expected, (route.name, role, response.status_code)
        checked += 1
    assert checked >= 4


def _required_scope(route):
    view_class = getattr(route.callback, "view_class", None) or getattr(route.callback, "cls", None)
    return getattr(view_class, "required_scope", None)


def test_every_api_view_declares_a_registered_scope():
    """Tokens act with approved scopes only: an API view without ``required_scope`` (or with one
    not in authn.scopes) would be closed to every token, so it fails here first."""
    api_routes = [route for route in walk() if is_api(route) and view_marker(route.callback)[0] == "permission"]
    undeclared = [route.name for route in api_routes if _required_scope(route) not in SCOPES]
    assert undeclared == [], f"API views without a registered required_scope: {undeclared}"
    assert len(api_routes) >= 2


def _ask_api(client, url: str, token: str, *, reads: bool) -> HttpResponse:
    if reads:
        return client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.post(url, "{}", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.mark.django_db
def test_each_api_route_needs_its_scope_whatever_the_role_behind_the_token(world, client):
    admin = world.a.users[Role.ADMIN]
    checked = 0
    for route in _list_routes_with_permission():
        if not is_api(route):
            continue
        scope = _required_scope(route)
        others = [code for code in SCOPES if code != scope]
        # Read routes are asked with GET; a POST-only route (a search, whose value is PHI and
        # so travels in the body) with an empty body, which only a token with the scope gets
        # as far as validating.
        reads = hasattr(route.callback.view_class, "get")  # type: ignore[attr-defined]
        ask = partial(_ask_api, client, reverse(route.name), reads=reads)

        # Made by an admin, whose role reaches every endpoint: a token never falls back to it.
        without = make_token(world.a.tenant, admin, scopes=others)
        response = ask(without.secret)
        assert response.status_code == 403, (route.name, response.status_code)
        assert response.json()["error"]["code"] == "insufficient_scope"
        only = make_token(world.a.tenant, admin, scopes=[scope])
        response = ask(only.secret)
        assert response.status_code == (200 if reads else 400), (route.name, response.status_code)
        checked += 1
    assert checked >= 1


@pytest.mark.django_db
def test_signed_out_visitors_are_sent_to_sign_in(client, world):
    for route in _list_routes_with_permission():
        if is_api(route):
            response = client.get(reverse(route.name))
            assert response.status_code == 401, route.name
            assert response.json()["error"]["code"] == "not_authenticated"
        else:
            response = client.get(reverse(route.name))
            if response.status_code == 405:
                continue
            assert response.status_code == 302, route.name
            assert response["Location"].startswith(reverse("authn:login"))


@pytest.mark.django_db
def test_roles_page_shows_the_map_to_admins(world, login):
    response = login(world.a.users[Role.ADMIN], world.a.tenant).get(reverse("tenants:roles"))
    body = response.content.decode()
    for code in PERMISSIONS:
        assert code in body
