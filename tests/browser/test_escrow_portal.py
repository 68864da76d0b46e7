"""The escrow pickup portal in Debian's Chromium: from the notice's link, a one-time code mailed
through the delivery pipeline to a real SMTP server, reading the message and replying; expired
and withdrawn messages; the lock after wrong codes; another browser having to prove it again;
a returning recipient's passkey (virtual authenticator)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from encryption.escrow import escrow_notice, escrow_retract
from encryption.models import EscrowedMessage, EscrowReply, RecipientPasskey
from encryption.portal import MAX_FAILED_ATTEMPTS
from encryption.tests.escrow_support import make_escrowed
from templates.tests.pipeline_mail import FROM_DOMAIN, TLS_DOMAIN, TestMail, ca, mx_cert, servers  # noqa: F401
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ADDRESS = f"quilla@{TLS_DOMAIN}"


class Outbox:
    """Code tasks queued by the portal, run by "the worker" (this thread) on demand: the live
    server's request thread only enqueues them, as in production."""

    def __init__(self, test_mail) -> None:
        self.queued: list[tuple] = []
        self.test_mail = test_mail

    def deliver(self) -> None:
        from encryption.portal_tasks import send_portal_code_task

        while self.queued:
            send_portal_code_task.apply(args=self.queued.pop(0))

    def latest_code(self) -> str:
        self.deliver()
        delivered = [m for m in self.test_mail.received if ADDRESS in m.rcpt_tos]
        assert delivered, "no code email arrived"
        found = re.search(r"\b(\d{6})\b", delivered[-1].body)
        assert found is not None
        return found.group(1)


@pytest.fixture
def codes(world, settings, ca, servers, monkeypatch, live_server):  # noqa: F811
    """Real SMTP servers for the recipients' domains (as ``templates.tests.pipeline_mail``; a
    code email carries no PHI, so no BAA is needed) and the code tasks held for ``Outbox``."""
    from delivery.testing import FakeResolver, use_resolver
    from delivery.tests.support import make_verified_sending_domain
    from delivery.transport import SmtpTransport

    tls, plain = servers
    settings.SITE_URL = live_server.url
    settings.DELIVERY_TLS_CA_FILE = str(ca.ca_file)
    settings.DELIVERY_PROBE_TIMEOUT_SECONDS = 5
    settings.DELIVERY_MX_OVERRIDES = {TLS_DOMAIN: tls.route()}
    settings.DELIVERY_MTA_STS_OVERRIDES = {}
    make_verified_sending_domain(world.a, FROM_DOMAIN)
    transport = SmtpTransport(timeout=5, data_timeout=3)
    monkeypatch.setattr("delivery.pipeline._transport", transport)
    outbox = Outbox(TestMail(tls, plain, None))
    monkeypatch.setattr("encryption.portal_tasks.send_portal_code_task.delay", lambda *args: outbox.queued.append(args))
    with use_resolver(FakeResolver()):
        yield outbox
    transport.close()


def notice_link(world, stored) -> str:
    """The link exactly as the notice email carries it."""
    with tenant_context(world.a.tenant):
        notice = escrow_notice(tenant=world.a.tenant, escrow=stored.escrow, token=stored.token)
    (url,) = {u for u in re.findall(r"https?://\S+", notice.text) if "/secure/" in u}
    return url


def same_address_again(world, email: str):
    """Another escrowed message to an address that already has a contact."""
    from encryption.escrow import escrow_store

    with tenant_context(world.a.tenant):
        return escrow_store(
            tenant=world.a.tenant,
            recipient_email=email,
            from_name="Sunrise Family Clinic",
            from_address="news@org-a.example.com",
            subject="Your lab results from Dr. Rowan Demoway",
            html="<p>Your HbA1c was 6.9%.</p>",
            text="Your HbA1c was 6.9%.",
            level="phi",
        )


def verify_with_code(page, codes) -> None:
    page.get_by_role("button", name="Send me a code").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
    page.get_by_label("One-time code").fill(codes.latest_code())
    page.get_by_role("button", name="Open my message").click()


def test_notice_code_read_and_reply(world, page, live_server, codes):
    stored = make_escrowed(world.a, email=ADDRESS)
    link = notice_link(world, stored)
    assert urlsplit(link).path == f"/secure/{stored.token}/"
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("You have a secure message from Sunrise Family Clinic")
    expect(page.get_by_text("q•••@p•••.example")).to_be_visible()
    assert ADDRESS not in page.content()

    verify_with_code(page, codes)
    expect(page.get_by_role("heading", level=1)).to_have_text("Your lab results from Dr. Rowan Demoway")
    expect(page.get_by_text("HbA1c was 7.9%")).to_be_visible()
    # No remote image was even requested; the link goes through the warning page.
    assert page.locator("img[src*='tracker']").count() == 0
    page.get_by_role("link", name="Lab guide").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are leaving the secure message centre")
    expect(page.get_by_role("link", name="Continue to clinic.example.org")).to_have_attribute(
        "href", "https://clinic.example.org/labs"
    )
    page.get_by_role("link", name="Back to my message").click()
    # Printable: the print style sheet keeps the message and drops the forms.
    expect(page.get_by_role("button", name="Print this message")).to_be_visible()
    page.emulate_media(media="print")
    expect(page.get_by_role("heading", name="Reply securely")).to_be_hidden()
    expect(page.get_by_text("HbA1c was 7.9%")).to_be_visible()
    page.emulate_media(media="screen")

    page.get_by_label("Your reply to Org A").fill("Thank you. Should I change my dose before the next test?")
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_role("status")).to_contain_text("Your reply was sent securely")
    with tenant_context(world.a.tenant):
        reply = EscrowReply.objects.for_tenant(world.a.tenant).get(escrow_id=stored.escrow.pk)
        assert reply.body.startswith("Thank you. Should I change my dose")
        assert EscrowedMessage.objects.for_tenant(world.a.tenant).get(pk=stored.escrow.pk).read_at is not None


def test_expired_and_withdrawn_messages_show_a_clear_page(world, page, live_server, codes):
    from django.utils import timezone

    expired = make_escrowed(world.a, email=ADDRESS)
    with tenant_context(world.a.tenant):
        EscrowedMessage.objects.for_tenant(world.a.tenant).filter(pk=expired.escrow.pk).update(
            expires_at=timezone.now()
        )
    page.goto(notice_link(world, expired))
    expect(page.get_by_role("heading", level=1)).to_have_text("This message has expired")
    expect(page.get_by_role("button", name="Send me a code")).to_have_count(0)

    withdrawn = make_escrowed(world.a, email=f"other@{TLS_DOMAIN}")
    with tenant_context(world.a.tenant):
        escrow_retract(tenant=world.a.tenant, user=world.a.users[Role.MARKETER], escrow=withdrawn.escrow)
    page.goto(notice_link(world, withdrawn))
    expect(page.get_by_role("heading", level=1)).to_have_text("This message was withdrawn")
    assert "HbA1c" not in page.content()

    page.goto(f"{live_server.url}/secure/{withdrawn.token[:-2]}xy/")
    expect(page.get_by_role("heading", level=1)).to_have_text("This link is not valid")


def test_wrong_codes_lock_the_message(world, page, live_server, codes):
    stored = make_escrowed(world.a, email=ADDRESS)
    page.goto(notice_link(world, stored))
    page.get_by_role("button", name="Send me a code").click()
    right = codes.latest_code()
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for _ in range(MAX_FAILED_ATTEMPTS - 1):
        page.get_by_label("One-time code").fill(wrong)
        page.get_by_role("button", name="Open my message").click()
        expect(page.get_by_role("alert")).to_contain_text("That code is not right")
    page.get_by_label("One-time code").fill(wrong)
    page.get_by_role("button", name="Open my message").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("This message is locked")
    page.goto(notice_link(world, stored))
    expect(page.get_by_role("heading", level=1)).to_have_text("This message is locked")


def test_another_browser_must_prove_it_again(world, page, browser, live_server, codes):
    stored = make_escrowed(world.a, email=ADDRESS)
    page.goto(notice_link(world, stored))
    verify_with_code(page, codes)
    expect(page.get_by_text("HbA1c was 7.9%")).to_be_visible()

    other = browser.new_context()
    try:
        elsewhere = other.new_page()
        elsewhere.goto(f"{live_server.url}/secure/{stored.token}/message/")
        expect(elsewhere.get_by_role("heading", level=1)).to_have_text(
            "You have a secure message from Sunrise Family Clinic"
        )
        expect(elsewhere.get_by_role("button", name="Send me a code")).to_be_visible()
        assert "HbA1c" not in elsewhere.content()
    finally:
        other.close()


def test_a_returning_recipient_uses_a_passkey_instead_of_a_code(
    world, page, live_server, codes, relying_party, authenticator
):
    first = make_escrowed(world.a, email=ADDRESS)
    page.goto(notice_link(world, first))
    verify_with_code(page, codes)
    page.get_by_role("button", name="Register a passkey").click()
    expect(page.get_by_role("status")).to_contain_text("Your passkey is ready")
    with tenant_context(world.a.tenant):
        assert RecipientPasskey.objects.for_tenant(world.a.tenant).count() == 1
    assert len(authenticator.credentials()) == 1

    # A later message to the same address, opened in the same browser profile's authenticator.
    page.context.clear_cookies()
    second = same_address_again(world, ADDRESS.upper())
    page.goto(notice_link(world, second))
    page.get_by_role("button", name="Use your passkey").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your lab results from Dr. Rowan Demoway")
    assert codes.queued == []  # no code was needed

    # Another address's message does not offer it.
    third = make_escrowed(world.a, email=f"someone.else@{TLS_DOMAIN}")
    page.goto(notice_link(world, third))
    expect(page.get_by_role("button", name="Use your passkey")).to_have_count(0)


def test_the_portal_fits_a_phone_screen(world, browser, live_server, codes):
    stored = make_escrowed(world.a, email=ADDRESS)
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    try:
        phone = context.new_page()
        phone.goto(notice_link(world, stored))
        expect(phone.locator("html")).to_have_attribute("lang", "en")
        send = phone.get_by_role("button", name="Send me a code")
        expect(send).to_be_visible()
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        box = send.bounding_box()
        assert box is not None and box["height"] >= 44  # a comfortable touch target
        send.click()
        code_input = phone.get_by_label("One-time code")
        expect(code_input).to_have_attribute("inputmode", "numeric")
        expect(code_input).to_have_attribute("autocomplete", "one-time-code")
    finally:
        context.close()
