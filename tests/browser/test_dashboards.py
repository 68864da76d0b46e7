"""The dashboards in a real browser: a marketer opens the sending overview from the navigation,
follows a campaign to its dashboard, and neither page logs a console error (a CSP violation
included) or fails a request; the SVG charts render with their accessible names."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from reporting.tests.dashboard_support import launched_campaign
from tenants.roles import Role
from tests.browser.conftest import ARTIFACTS
from tests.browser.flows import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_marketer_reads_the_overview_and_a_campaign_dashboard(world, page, relying_party, authenticator):
    campaign = launched_campaign(world.a, name="Flu shot reminders", messages=200, first_message_id=9_000_000)
    user = world.a.users[Role.MARKETER]
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda request: errors.append(f"failed: {request.url}"))
    sign_in(page, relying_party.url, user.email)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sending overview")
    expect(page.get_by_role("img", name="Sending volume per day, last 30 days")).to_be_visible()
    expect(page.get_by_role("img", name="Messages per campaign in the period")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reporting_overview.png"), full_page=True)
    page.get_by_role("link", name="90 days").click()
    expect(page.get_by_role("img", name="Sending volume per day, last 90 days")).to_be_visible()

    page.get_by_role("link", name="Flu shot reminders").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Flu shot reminders")
    for name in ("Delivery per day", "Opens and clicks per day", "Unique clicks per link"):
        expect(page.get_by_role("img", name=name)).to_be_visible()
    expect(page.locator("#domain-table tbody tr").first).to_be_visible()
    box = page.locator("#chart-delivery").bounding_box()
    assert box is not None and 600 < box["width"] <= 1200 and box["height"] > 150  # scaled to its card
    page.screenshot(path=str(ARTIFACTS / "reporting_campaign_dashboard.png"), full_page=True)
    page.get_by_role("link", name="Campaign", exact=True).click()
    expect(page.locator("#main").get_by_role("link", name="Results")).to_be_visible()
    assert campaign.name in page.content()
    assert errors == []
