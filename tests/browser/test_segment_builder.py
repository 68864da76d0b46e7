from __future__ import annotations

import pytest
from playwright.sync_api import expect

from segments.models import Segment
from tenants.context import tenant_context
from tenants.roles import Role
from tests.browser.flows import sign_in
from tests.factories import make_contact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_marketer_builds_a_segment_sees_the_count_change_and_saves_it(world, page, relying_party, authenticator):
    for n in range(2):
        make_contact(world.a.tenant, first_name="Zelda", last_name=f"Quill{n}", tags={"vip": True})
    make_contact(world.a.tenant, first_name="Other", last_name="Person")
    user = world.a.users[Role.MARKETER]
    sign_in(page, relying_party.url, user.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Segments").click()
    page.get_by_role("link", name="New segment").click()
    count = page.locator("[data-segment-count]")
    expect(count).to_have_text("3")  # the empty rule tree matches everyone

    page.get_by_label("Name").fill("VIP patients")
    page.get_by_role("button", name="Add condition").click()
    expect(page.locator("#segment-preview")).to_contain_text("Choose a field")  # shown beside the node too
    expect(page.locator(".rule-condition .rule-error")).to_have_text("Choose a field.")
    page.get_by_label("Field").select_option("tag")
    page.get_by_label("Tag").fill("vip")
    expect(count).to_have_text("2")
    sample = page.locator("#segment-preview table")
    expect(sample).to_contain_text("Z. Q.")
    expect(sample).not_to_contain_text("Zelda")

    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("VIP patients")
    with tenant_context(world.a.tenant):
        segment = Segment.objects.for_tenant(world.a.tenant).get()
    assert segment.rules == {"all": [{"field": "tag", "op": "has_tag", "value": "vip"}]}
    page.get_by_role("link", name="Segments").first.click()
    expect(page.get_by_role("table")).to_contain_text("VIP patients")
