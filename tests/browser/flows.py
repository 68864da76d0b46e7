"""Steps the browser tests share: signing in with a password and, for a user whose role needs a
stronger factor, enrolling a passkey in the page's virtual authenticator and confirming with it."""

from __future__ import annotations

from playwright.sync_api import expect

from conftest import PASSWORD


def password_sign_in(page, base_url: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in with password").click()


def enroll_first_passkey(page, base_url: str, name: str = "Virtual laptop") -> None:
    """From the enrollment page a user is held on: create a passkey, then confirm with it."""
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up a stronger sign-in")
    page.get_by_role("link", name="Add a passkey").first.click()
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create passkey").click()
    expect(page.get_by_role("textbox", name="Name of passkey")).to_have_value(name)
    page.goto(f"{base_url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm with your passkey")
    page.get_by_role("button", name="Confirm with passkey").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")


def sign_in(page, base_url: str, email: str) -> None:
    """A first sign-in as a person would do it: password, then the passkey the role requires
    (the page needs a virtual authenticator and the ``relying_party`` fixture)."""
    password_sign_in(page, base_url, email)
    enroll_first_passkey(page, base_url)
