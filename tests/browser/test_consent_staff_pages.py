"""Consent staff pages in a real browser: the remuneration statement is marked required while
"Involves remuneration" is ticked (CSS only, no script), and publishing names what is missing."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tenants.roles import Role
from tests.browser.flows import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_publishing_a_text_marks_and_names_the_remuneration_statement(world, page, relying_party, authenticator):
    sign_in(page, relying_party.url, world.a.users[Role.COMPLIANCE_OFFICER].email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Authorisation texts").click()
    page.get_by_role("link", name="New text").click()
    marker = page.locator(".required-with-remuneration .required-marker")
    expect(marker).to_be_hidden()
    page.get_by_label("Involves remuneration").check()
    expect(marker).to_be_visible()
    page.get_by_label("Involves remuneration").uncheck()
    expect(marker).to_be_hidden()

    page.get_by_label("Name", exact=True).fill("Newsletter")
    page.get_by_label("Involves remuneration").check()
    page.get_by_role("button", name="Publish").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The authorisation lacks who will receive the information.")
    expect(alert).to_contain_text("financial remuneration from a third party")
    expect(marker).to_be_visible()  # still ticked on the returned form
