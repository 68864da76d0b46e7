from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tenants.roles import Role
from tests.browser.flows import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_compliance_officer_reviews_and_verifies_the_audit_log(world, page, relying_party, authenticator):
    user = world.a.users[Role.COMPLIANCE_OFFICER]
    sign_in(page, relying_party.url, user.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    table = page.get_by_role("table")
    expect(table).to_contain_text("auth.login_succeeded")
    page.get_by_label("Action").select_option("membership")
    page.get_by_role("button", name="Filter").click()
    expect(table).to_contain_text("membership.created")
    expect(table).not_to_contain_text("auth.login_succeeded")
    page.get_by_role("button", name="Verify now").click()
    expect(page.locator("#verification")).to_contain_text("Verified")
