from __future__ import annotations

import pytest
from playwright.sync_api import expect

from templates.models import TemplateContent
from templates.tests.support import make_template
from tenants.context import tenant_context
from tenants.roles import Role
from tests.browser.flows import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HTML = (
    '<html lang="en"><body>\n'
    "<h1>Hello {{ contact.first_name|name }}</h1>\n"
    "<p>See {{ event.provider_name }} soon.</p>\n"
    '<p><a href="{{ links.preferences }}">Preferences</a></p>\n'
    "</body></html>"
)


def test_a_marketer_types_and_the_preview_follows_in_desktop_mobile_and_text(world, page, relying_party, authenticator):
    tenant = world.a.tenant
    user = world.a.users[Role.MARKETER]
    version = make_template(tenant, user, name="Visit reminder", html=HTML)
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )
    sign_in(page, relying_party.url, user.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Templates").click()
    page.get_by_role("link", name="Visit reminder").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Visit reminder")

    frame = page.frame_locator("iframe.preview-frame")
    expect(frame.get_by_role("heading", level=1)).to_have_text("Hello Avery")
    iframe = page.locator("iframe.preview-frame")
    assert iframe.get_attribute("sandbox") == ""

    # Typing re-renders the preview (debounced) without leaving the page.
    editor = page.get_by_label("HTML body (en)")
    expect(page.locator(".code-gutter").first).to_contain_text("5")  # line numbers beside the code
    editor.fill(HTML.replace("Hello", "Good morning"))
    expect(frame.get_by_role("heading", level=1)).to_have_text("Good morning Avery")
    expect(frame.get_by_text("See Dr. Rowan Demoway soon.")).to_be_visible()

    # A merge field inserted at the cursor of the subject shows in the preview's subject.
    subject = page.get_by_label("Subject (en)")
    subject.fill("News for ")
    subject.press("End")
    page.get_by_role("button", name="Insert contact.first_name").click()
    expect(subject).to_have_value("News for {{ contact.first_name }}")
    expect(page.locator("[data-preview-subject]")).to_have_text("News for Avery")

    # A broken template explains itself in place.
    editor.fill("<p>{{ contact.ssn }}</p>")
    expect(page.locator(".preview-problems")).to_contain_text("Unknown merge field “contact.ssn”")
    editor.fill(HTML.replace("Hello", "Good morning").replace("{{ links.preferences }}", "#"))
    expect(page.locator(".check-list")).to_contain_text("placeholder")

    # Desktop and mobile widths.
    expect(iframe).to_have_css("width", "640px")
    page.locator("label[for=preview-width-mobile]").click()
    expect(iframe).to_have_css("width", "375px")
    page.locator("label[for=preview-width-desktop]").click()
    expect(iframe).to_have_css("width", "640px")

    # The plain-text view, generated from the HTML.
    page.locator("label[for=preview-view-text]").click()
    expect(iframe).to_be_hidden()
    text = page.locator("[data-preview-text]")
    expect(text).to_be_visible()
    expect(text).to_contain_text("Good morning Avery")
    expect(text).to_contain_text("See Dr. Rowan Demoway soon.")
    page.locator("label[for=preview-view-html]").click()
    expect(iframe).to_be_visible()

    editor.fill(HTML.replace("Hello", "Good morning"))
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status")).to_contain_text("Saved draft version 1.")
    with tenant_context(tenant):
        saved = TemplateContent.objects.for_tenant(tenant).get(version=version)
    assert "Good morning" in saved.html_body
    assert saved.subject == "News for {{ contact.first_name }}"
    assert violations == []  # no inline script or style on the page


def test_a_template_from_a_starter_previews_with_its_inline_styles(world, page, relying_party, authenticator):
    tenant = world.a.tenant
    user = world.a.users[Role.MARKETER]
    sign_in(page, relying_party.url, user.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Templates").click()
    page.get_by_role("link", name="New template").click()
    page.get_by_label("Name").fill("Statements")
    page.get_by_label("Purpose").select_option("billing")
    page.get_by_label("Bill ready").check()
    page.get_by_role("button", name="Create template").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Statements")
    frame = page.frame_locator("iframe.preview-frame")
    heading = frame.get_by_role("heading", level=1)
    expect(heading).to_have_text("Your statement is ready")
    # The frame's own CSP lets the email's inline CSS apply (the editor page's would not).
    expect(heading).to_have_css("font-size", "24px")
    expect(frame.get_by_text("Office visit")).to_be_visible()
    expect(frame.get_by_text("$42.50")).to_be_visible()
    expect(page.locator(".check-ok")).to_be_visible()
    with tenant_context(tenant):
        assert TemplateContent.objects.for_tenant(tenant).get().text_generated is False


def test_languages_are_tabs_and_the_preview_follows_the_tab(world, page, relying_party, authenticator):
    tenant = world.a.tenant
    user = world.a.users[Role.MARKETER]
    make_template(tenant, user, name="Bilingual", html=HTML)
    sign_in(page, relying_party.url, user.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Templates").click()
    page.get_by_role("link", name="Bilingual").click()
    page.get_by_label("Add a language").fill("es")
    page.get_by_role("button", name="Add language").click()
    tabs = page.get_by_role("tablist", name="Languages")
    expect(tabs.get_by_role("tab")).to_have_count(2)
    # The new language opens, as a copy of the default one to translate.
    spanish = page.get_by_label("HTML body (es)")
    expect(spanish).to_be_visible()
    expect(spanish).to_have_value(HTML)
    expect(page.get_by_label("HTML body (en)")).to_be_hidden()
    tabs.get_by_role("tab", name="en").click()
    expect(page.get_by_label("HTML body (en)")).to_be_visible()
    expect(spanish).to_be_hidden()
    expect(page.locator("[data-preview-language]")).to_have_text("en")
    tabs.get_by_role("tab", name="es").click()
    expect(spanish).to_be_visible()
    spanish.fill(HTML.replace("Hello", "Hola"))
    expect(page.locator("[data-preview-language]")).to_have_text("es")
    expect(page.frame_locator("iframe.preview-frame").get_by_role("heading", level=1)).to_have_text("Hola Avery")
    page.get_by_label("Subject (es)").fill("Su cita en {{ org.name }}")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status")).to_contain_text("Saved draft version 1.")
    with tenant_context(tenant):
        saved = {c.language: c for c in TemplateContent.objects.for_tenant(tenant)}
    assert sorted(saved) == ["en", "es"] and "Hola" in saved["es"].html_body and "Hola" not in saved["en"].html_body
