"""Passkeys end to end in Debian's Chromium with a virtual authenticator (DevTools protocol):
enrollment forced on an admin, sign-in without a username, step-up, and refusals."""

from __future__ import annotations

import base64
import json
import re

import pytest
from playwright.sync_api import expect

from authn.models import Passkey, UserSession
from tenants.roles import Role
from tests.browser.flows import enroll_first_passkey, password_sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def test_admin_must_enroll_a_passkey_then_signs_in_without_a_username(world, page, relying_party, authenticator):
    admin = world.a.users[Role.ADMIN]
    password_sign_in(page, relying_party.url, admin.email)
    # Held on enrollment: other pages send them back.
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up a stronger sign-in")
    page.goto(f"{relying_party.url}/members/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up a stronger sign-in")
    enroll_first_passkey(page, relying_party.url)
    passkey = Passkey.objects.get(user=admin)
    assert passkey.name == "Virtual laptop" and len(authenticator.credentials()) == 1
    assert authenticator.credentials()[0]["isResidentCredential"] is True

    _sign_out(page)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
    session = UserSession.objects.filter(user=admin, ended_at=None).latest("created_at")
    assert session.factor == "passkey" and session.passkey_id == passkey.pk
    assert Passkey.objects.get(pk=passkey.pk).last_used_at is not None


def _admin_with_passkey(world, page, relying_party):
    admin = world.a.users[Role.ADMIN]
    password_sign_in(page, relying_party.url, admin.email)
    enroll_first_passkey(page, relying_party.url)
    _sign_out(page)
    return admin


def test_a_tampered_signature_is_refused(world, page, relying_party, authenticator):
    _admin_with_passkey(world, page, relying_party)

    def flip_signature(route):
        body = json.loads(route.request.post_data)
        signature = bytearray(base64.urlsafe_b64decode(body["response"]["signature"] + "=="))
        signature[-1] ^= 0x01
        body["response"]["signature"] = base64.urlsafe_b64encode(bytes(signature)).decode().rstrip("=")
        route.continue_(post_data=json.dumps(body))

    page.route("**/accounts/login/passkey/verify/", flip_signature)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.locator("#passkey-error")).to_contain_text("could not be verified")
    page.goto(f"{relying_party.url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def test_an_authenticator_without_user_verification_cannot_sign_in(world, page, relying_party, authenticator):
    _admin_with_passkey(world, page, relying_party)
    authenticator.set_user_verified(False)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.locator("#passkey-error")).to_be_visible()
    page.goto(f"{relying_party.url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def test_a_replayed_assertion_is_refused(world, page, relying_party, authenticator):
    _admin_with_passkey(world, page, relying_party)
    captured = {}
    page.on(
        "request",
        lambda request: (
            captured.setdefault("body", request.post_data)
            if request.url.endswith("/accounts/login/passkey/verify/")
            else None
        ),
    )
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
    _sign_out(page)
    csrf = json.loads(page.locator("body").get_attribute("hx-headers"))["X-CSRFToken"]
    replay = page.request.post(
        f"{relying_party.url}/accounts/login/passkey/verify/",
        data=captured["body"],
        headers={"Content-Type": "application/json", "X-CSRFToken": csrf},
    )
    assert replay.status == 400
    page.goto(f"{relying_party.url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def test_an_assertion_made_for_another_origin_is_refused(world, page, relying_party, authenticator, settings):
    _admin_with_passkey(world, page, relying_party)
    settings.WEBAUTHN_ORIGINS = ["https://sealpost.example"]  # the browser is on the live server's origin
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.locator("#passkey-error")).to_contain_text("could not be verified")


def test_a_session_cookie_copied_into_another_browser_is_refused(world, browser, page, relying_party, authenticator):
    _admin_with_passkey(world, page, relying_party)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
    stolen = [c for c in page.context.cookies() if c["name"] == "sealpost_session"]
    assert stolen
    thief = browser.new_context()
    try:
        thief.add_cookies(stolen)
        thief_page = thief.new_page()
        thief_page.goto(f"{relying_party.url}/")
        expect(thief_page).to_have_url(re.compile(r"/accounts/login/"))
        expect(thief_page.get_by_role("status")).to_contain_text("belongs to another browser")
    finally:
        thief.close()
    # The replay ended the session for its owner too: the cookie is known to be stolen.
    page.goto(f"{relying_party.url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
