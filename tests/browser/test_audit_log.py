from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conftest import PASSWORD
from tenants.roles import Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_compliance_officer_reviews_and_verifies_the_audit_log(world, page, live_server):
    user = world.a.users[Role.COMPLIANCE_OFFICER]
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email address").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    table = page.get_by_role("table")
    expect(table).to_contain_text("auth.login_succeeded")
    page.get_by_label("Action").select_option("membership")
    page.get_by_role("button", name="Filter").click()
    expect(table).to_contain_text("membership.created")
    expect(table).not_to_contain_text("auth.login_succeeded")
    page.get_by_role("button", name="Verify now").click()
    expect(page.locator("#verification")).to_contain_text("Verified")
