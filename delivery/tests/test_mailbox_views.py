from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest
from django.urls import reverse

from delivery.sink import start_sink
from tenants.roles import Role
from tests.free_port import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def sink(settings, tmp_path):
    settings.SMTP_SINK_MAILDIR = tmp_path / "mailbox"
    port = free_port()
    controller = start_sink("127.0.0.1", port, settings.SMTP_SINK_MAILDIR)
    yield port
    controller.stop()


def _send(port: int, subject: str, html: str) -> None:
    message = EmailMessage()
    message["From"] = "Sealpost <no-reply@sealpost.localhost>"
    message["To"] = "synthetic.patient@example.com"
    message["Subject"] = subject
    message.set_content("Plain text part")
    message.add_alternative(html, subtype="html")
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.send_message(message)


def test_signed_in_users_read_the_sinks_mail(world, login, sink):
    _send(sink, "Your appointment <b>reminder</b>", '<p onclick="x()">Hello</p><script>alert(1)</script>')
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    listing = client.get(reverse("delivery:mailbox"))
    assert listing.status_code == 200
    message = listing.context["mail"][0]
    assert message.subject == "Your appointment <b>reminder</b>"
    assert "Your appointment &lt;b&gt;reminder&lt;/b&gt;" in listing.content.decode()
    detail = client.get(reverse("delivery:mailbox_message", kwargs={"message_id": message.id}))
    body = detail.content.decode()
    assert detail.status_code == 200
    assert 'sandbox=""' in body and "<script>alert(1)</script>" not in body


def test_the_mailbox_needs_a_sign_in(client, sink):
    response = client.get(reverse("delivery:mailbox"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("authn:login"))


def test_unknown_and_malformed_ids_are_404(world, login, sink):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    for message_id in ["nope", "..%2F..%2Fsecret_key", "a" * 300]:
        assert client.get(f"/dev/mailbox/{message_id}/").status_code == 404


def test_the_mailbox_is_404_when_disabled(world, login, settings, sink):
    settings.DEV_MAILBOX_ENABLED = False
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    assert client.get(reverse("delivery:mailbox")).status_code == 404
