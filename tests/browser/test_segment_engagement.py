from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from reporting.models import ContactEngagement
from segments.models import Segment
from tenants.context import tenant_context
from tenants.roles import Role
from tests.browser.flows import sign_in
from tests.factories import make_contact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_marketer_builds_opened_in_the_last_n_days_and_its_negation(world, page, relying_party, authenticator):
    now = timezone.now()
    for n, days_ago in enumerate((1, 3, 20)):
        contact = make_contact(world.a.tenant, first_name="Zelda", last_name=f"Quill{n}")
        with tenant_context(world.a.tenant):
            ContactEngagement.objects.create(
                tenant=world.a.tenant, contact_id=contact.pk, last_opened_at=now - timedelta(days=days_ago)
            )
    make_contact(world.a.tenant, first_name="Other", last_name="Person")  # never opened
    sign_in(page, relying_party.url, world.a.users[Role.MARKETER].email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Segments").click()
    page.get_by_role("link", name="New segment").click()
    count = page.locator("[data-segment-count]")
    expect(count).to_have_text("4")

    page.get_by_label("Name").fill("Opened this week")
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Field").select_option("engagement.opened")
    expect(page.get_by_label("Operator")).to_have_value("within_last_days")
    page.get_by_label("Number of days").fill("7")
    expect(count).to_have_text("2")
    page.get_by_label("Number of days").fill("-1")
    expect(page.locator(".rule-condition .rule-error")).to_contain_text("whole number of days")
    page.get_by_label("Number of days").fill("30")
    expect(count).to_have_text("3")
    page.get_by_label("Group").first.select_option("none")  # not opened in the last 30 days
    expect(count).to_have_text("1")

    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Opened this week")
    with tenant_context(world.a.tenant):
        segment = Segment.objects.for_tenant(world.a.tenant).get()
    assert segment.rules == {"none": [{"field": "engagement.opened", "op": "within_last_days", "value": 30}]}
