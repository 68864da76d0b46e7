from __future__ import annotations

import pytest
from django.urls import reverse

from audit.tests.helpers import actions, head_seq
from authn import throttle
from conftest import PASSWORD
from tenants.roles import Role

pytestmark = pytest.mark.django_db

WRONG = "not-the-password-1"


@pytest.fixture
def clock(monkeypatch):
    state = {"now": 2_000_000.0}
    monkeypatch.setattr(throttle, "_now", lambda: state["now"])

    def advance(seconds: float) -> None:
        state["now"] += seconds

    return advance


def _sign_in(client, email, password):
    return client.post(reverse("authn:login"), {"username": email, "password": password})


def _error(response) -> str:
    return " ".join(response.context["form"].non_field_errors())


def test_repeated_failures_lock_the_address_even_for_the_right_password(world, client, clock):
    email = world.a.users[Role.ADMIN].email
    start = head_seq(world.a.tenant)
    for _ in range(throttle.ACCOUNT_FAILURES):
        assert "do not match" in _error(_sign_in(client, email, WRONG))
    locked = _sign_in(client, email, PASSWORD)
    assert locked.status_code == 200 and "Too many sign-in attempts" in _error(locked)
    assert actions(world.a.tenant, start).count("auth.locked_out") == 1
    # Another account is not affected.
    other = _sign_in(client, world.a.users[Role.MARKETER].email, PASSWORD)
    assert other.status_code == 302
    client.logout()
    clock(throttle.LOCK_SECONDS + 1)
    assert _sign_in(client, email, PASSWORD).status_code == 302


def test_locking_reveals_nothing_about_whether_an_account_exists(world, client, clock):
    unknown = "nobody.synthetic@example.com"
    known = world.a.users[Role.ADMIN].email
    messages = {}
    for email in (unknown, known):
        for _ in range(throttle.ACCOUNT_FAILURES):
            _sign_in(client, email, WRONG)
        messages[email] = _error(_sign_in(client, email, WRONG))
    assert messages[unknown] == messages[known]
    assert "Too many sign-in attempts" in messages[unknown]


def test_many_failures_from_one_ip_lock_the_ip(world, client, clock):
    for n in range(throttle.IP_FAILURES):
        _sign_in(client, f"someone{n}@example.com", WRONG)
    assert "Too many sign-in attempts" in _error(_sign_in(client, world.a.users[Role.ADMIN].email, PASSWORD))


def test_a_success_resets_the_count(world, client, clock):
    email = world.a.users[Role.ADMIN].email
    for _ in range(throttle.ACCOUNT_FAILURES - 1):
        _sign_in(client, email, WRONG)
    assert _sign_in(client, email, PASSWORD).status_code == 302
    client.post(reverse("authn:logout"))  # the same browser: its device cookie stays
    for _ in range(throttle.ACCOUNT_FAILURES - 1):
        _sign_in(client, email, WRONG)
    assert _sign_in(client, email, PASSWORD).status_code == 302
