from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from conftest import PASSWORD
from tenants.roles import Role
from tests.browser.conftest import VirtualAuthenticator
from tests.browser.flows import password_sign_in, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page, live_server, email, password=PASSWORD):
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    if password != PASSWORD:
        password_sign_in(page, live_server.url, email, password)
    else:
        sign_in(page, live_server.url, email)


def test_a_user_signs_in_and_sees_the_dashboard(world, page, relying_party, authenticator):
    live_server = relying_party
    _sign_in(page, live_server, world.a.users[Role.ADMIN].email)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Welcome, {world.a.users[Role.ADMIN].full_name}")
    navigation = page.get_by_role("navigation", name="Main")
    for label in ("Dashboard", "Contacts", "Members", "API applications", "Roles"):
        expect(navigation.get_by_role("link", name=label)).to_be_visible()


def test_navigation_follows_the_role(world, page, relying_party, authenticator):
    live_server = relying_party
    _sign_in(page, live_server, world.a.users[Role.MARKETER].email)
    navigation = page.get_by_role("navigation", name="Main")
    expect(navigation.get_by_role("link", name="Contacts")).to_be_visible()
    expect(navigation.get_by_role("link", name="Members")).to_have_count(0)
    expect(navigation.get_by_role("link", name="Roles")).to_have_count(0)


def test_a_wrong_password_shows_a_clear_error_and_no_csp_violations(world, page, live_server):
    violations = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )
    _sign_in(page, live_server, world.a.users[Role.ADMIN].email, "not-the-password")
    expect(page.get_by_role("alert")).to_contain_text("do not match an active account")
    assert violations == []


def test_contact_search_updates_in_place(world, page, relying_party, authenticator):
    live_server = relying_party
    from tests.factories import make_contact

    make_contact(world.a.tenant, first_name="Findable", last_name="Person", email="findable.person@example.com")
    make_contact(world.a.tenant, first_name="Other", last_name="Someone")
    _sign_in(page, live_server, world.a.users[Role.MARKETER].email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Contacts").click()
    # Masked until the user confirms with their passkey (just done at sign-in, so no prompt).
    expect(page.get_by_role("link", name="O. S.")).to_be_visible()
    expect(page.get_by_role("link", name="Other Someone")).to_have_count(0)
    page.get_by_role("link", name="Show names and emails").click()
    expect(page.get_by_role("link", name="Other Someone")).to_be_visible()
    page.get_by_label("Search contacts").fill("findable.person@example.com")
    expect(page.get_by_role("link", name="Findable Person")).to_be_visible()
    expect(page.get_by_role("link", name="Other Someone")).to_have_count(0)
    # The address bar says a search is on, never what was searched for (PHI).
    expect(page).to_have_url(re.compile(r"search=on"))
    assert "findable" not in page.url
    page.get_by_role("link", name="Clear the search").click()
    expect(page.get_by_role("link", name="Other Someone")).to_be_visible()


def test_pages_fit_a_phone_screen(world, browser, relying_party):
    live_server = relying_party
    from tests.factories import make_contact

    make_contact(world.a.tenant, email="a.very.long.synthetic.address.for.layout@long-domain-name.example.com")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    VirtualAuthenticator(page)
    try:
        _sign_in(page, live_server, world.a.users[Role.ADMIN].email)
        paths = (
            "/", "/contacts/", "/members/", "/audit/", "/roles/", "/accounts/api-applications/",
            "/accounts/security/", "/accounts/passkeys/", "/accounts/sessions/", "/accounts/member-sessions/",
            "/accounts/access-policy/", "/accounts/emergency-access/", "/accounts/authenticator/",
            "/accounts/recovery-codes/", "/accounts/sign-ins/",
        )  # fmt: skip
        for path in paths:
            page.goto(f"{live_server.url}{path}")
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (path, overflow)
    finally:
        context.close()
