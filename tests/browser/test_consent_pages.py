"""Recipients' pages in a real browser: the hosted opt-in form, the confirmation link from the
email (confirmed in one navigation: the page posts itself), and the preference centre."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from authn.tests.mail import inbox  # noqa: F401 - fixture, used through ``mail``
from consent.links import preference_centre_url
from consent.models import ConsentStatus, ContactPreferences, OptInRequest, Suppression
from consent.tests.public_support import grant, links_in, make_form, status_of
from tenants.context import tenant_context
from tests.factories import make_contact
from tests.free_port import free_port

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ADDRESS = "browser.patient@patients.example.net"


@pytest.fixture
def mail(request):
    """The in-process SMTP server (``authn.tests.mail.inbox``), with Celery eager."""
    return request.getfixturevalue("inbox")


def test_a_person_subscribes_with_the_hosted_form_and_confirms_from_the_email(world, page, live_server, settings, mail):
    settings.SITE_URL = live_server.url
    tenant = world.a.tenant
    form = make_form(tenant, purposes=("appointment_reminders", "billing"))

    page.goto(f"{live_server.url}/r/optin/{tenant.slug}/{form.public_id}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hear from Synthetic Clinic")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("alert")).to_contain_text("Please correct the fields marked below")
    expect(page.get_by_text("Enter your email address.")).to_be_visible()

    page.get_by_label("Email address", exact=True).fill(ADDRESS)
    page.get_by_label("Billing and payment", exact=True).check()
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")

    (message,) = mail.to(ADDRESS)
    (link,) = links_in(message.body)
    assert link.startswith(f"{live_server.url}/r/confirm/")
    page.goto(link)  # one navigation: the page's script posts the confirmation itself
    expect(page.get_by_role("heading", level=1)).to_have_text("Subscription confirmed")
    expect(page.get_by_role("list")).to_contain_text("Billing and payment")

    with tenant_context(tenant):
        request = OptInRequest.objects.select_related("contact").get()
        assert request.confirmed_at is not None
    assert status_of(tenant, request.contact, "billing") == ConsentStatus.GRANTED
    assert status_of(tenant, request.contact, "appointment_reminders") is None

    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Already confirmed")


def test_a_recipient_changes_preferences_and_then_unsubscribes_from_everything(world, page, live_server, settings):
    settings.SITE_URL = live_server.url
    tenant = world.a.tenant
    contact = make_contact(tenant, first_name="Zelda", last_name="Quill")
    grant(tenant, contact, "appointment_reminders", "marketing")

    page.goto(preference_centre_url(tenant=tenant, contact=contact))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your email preferences")
    expect(page.locator("main")).not_to_contain_text("Zelda")
    page.get_by_label("Marketing", exact=True).uncheck()
    page.get_by_label("Billing and payment", exact=True).check()
    page.get_by_label("At most one a month").check()
    page.get_by_label("By ordinary email, even when it is not encrypted").check()
    page.get_by_role("button", name="Save my choices").click()
    expect(page.locator("#warning-error")).to_contain_text("tick the box to confirm you have read the warning")
    assert status_of(tenant, contact, "marketing") == ConsentStatus.GRANTED  # nothing saved yet

    page.get_by_label("I have read the warning above and accept the risk of ordinary email.").check()
    page.get_by_role("button", name="Save my choices").click()
    expect(page.get_by_role("status")).to_contain_text("Your choices are saved")
    expect(page.get_by_label("Billing and payment", exact=True)).to_be_checked()
    assert status_of(tenant, contact, "marketing") == ConsentStatus.REVOKED
    assert status_of(tenant, contact, "billing") == ConsentStatus.GRANTED
    with tenant_context(tenant):
        preferences = ContactPreferences.objects.get(contact=contact)
        assert (preferences.frequency, preferences.accepts_unencrypted_phi) == ("monthly", True)

    page.get_by_role("button", name="Unsubscribe from everything").click()
    expect(page.get_by_role("status")).to_contain_text("You are unsubscribed from everything")
    for purpose in ("appointment_reminders", "billing", "marketing"):
        assert status_of(tenant, contact, purpose) == ConsentStatus.REVOKED
    with tenant_context(tenant):
        assert Suppression.objects.filter(email_index=contact.email_index, reason="unsubscribed").exists()


@contextmanager
def host_site(html: str) -> Iterator[str]:
    """Another website, on its own loopback origin, serving one page (a real server: Chromium
    refuses to let a public page frame a loopback one, and it treats intercepted routes as
    public)."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_opt_in_form_works_inside_an_allowed_sites_iframe_and_nowhere_else(world, page, live_server, settings):
    """Embedded in another site's page the form still submits (no cookies needed: the origin
    check and the signed ticket stand in for Django's CSRF cookie); a site that frame-ancestors
    does not allow gets nothing."""
    settings.SITE_URL = live_server.url
    tenant = world.a.tenant
    form = make_form(tenant, purposes=("appointment_reminders",))
    src = f"{live_server.url}/r/optin/{tenant.slug}/{form.public_id}/"
    html = f'<!doctype html><title>Clinic</title><h1>Clinic</h1><iframe src="{src}" title="Sign up" width="600" height="700"></iframe>'
    with host_site(html) as allowed, host_site(html) as elsewhere:
        settings.CONSENT_OPTIN_FRAME_ANCESTORS = [allowed]
        page.goto(f"{allowed}/")
        frame = page.frame_locator("iframe[title='Sign up']")
        expect(frame.get_by_role("heading", level=1)).to_have_text("Hear from Synthetic Clinic")
        frame.get_by_label("Email address", exact=True).fill(ADDRESS)
        frame.get_by_label("Appointment reminders", exact=True).check()
        frame.get_by_role("button", name="Subscribe").click()
        expect(frame.get_by_role("heading", level=1)).to_have_text("Check your email")
        with tenant_context(tenant):
            assert OptInRequest.objects.filter(form=form).count() == 1

        blocked = []
        page.on("console", lambda message: blocked.append(message.text))
        page.goto(f"{elsewhere}/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Clinic")
        expect(page.frame_locator("iframe[title='Sign up']").get_by_role("heading", level=1)).to_have_count(0)
        assert any("frame-ancestors" in text for text in blocked)
