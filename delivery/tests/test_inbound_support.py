"""Shared set-up for the inbound report tests (``test_inbound*.py``; no tests in here): realistic
DSN (RFC 3464) and ARF (RFC 5965) samples with synthetic addresses, and a campaign message
that was sent to a contact, with the Message-ID the pipeline gives it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from campaigns.models import Message, MessageStatus
from campaigns.tests.support import make_campaign
from delivery.mime import message_id_for
from tenants.context import tenant_context
from tests.factories import make_contact

FROM_DOMAIN = "clinic-a.example.com"
PATIENT = "patient@example.test"


@dataclass
class Sent:
    """A campaign message of ``fixture``'s tenant that went to ``email`` (status ``sent``)."""

    fixture: Any
    message: Message
    email: str
    message_id: str

    @property
    def tenant(self) -> Any:
        return self.fixture.tenant

    def refresh(self) -> Message:
        with tenant_context(self.tenant):
            return Message.objects.for_tenant(self.tenant).get(pk=self.message.pk)


def sent_message(fixture: Any, email: str = PATIENT, status: str = MessageStatus.SENT, campaign: Any = None) -> Sent:
    campaign = campaign or make_campaign(fixture)
    contact = make_contact(fixture.tenant, email=email)
    with tenant_context(fixture.tenant):
        message = Message(
            tenant=fixture.tenant,
            campaign=campaign,
            contact=contact,
            status=status,
            send_after=campaign.created_at,
            smtp_code=250 if status == MessageStatus.SENT else None,
        )
        message.save()
    message_id = message_id_for(tenant_id=fixture.tenant.pk, message_row_id=message.pk, domain=FROM_DOMAIN)
    return Sent(fixture, message, email, message_id)


def original_headers(message_id: str, to: str = PATIENT) -> str:
    return (
        f"Return-Path: <news@{FROM_DOMAIN}>\n"
        f"From: Clinic A <news@{FROM_DOMAIN}>\n"
        f"To: {to}\n"
        "Subject: Your appointment reminder\n"
        "Date: Mon, 02 Nov 2026 09:00:00 +0000\n"
        f"Message-ID: {message_id}\n"
        "MIME-Version: 1.0\n"
    )


def dsn(
    message_id: str,
    recipients: list[tuple[str, str, str, str]],
    *,
    original: str = "headers",
    to: str = PATIENT,
) -> bytes:
    """A Postfix-style DSN. ``recipients``: (final recipient, action, status, diagnostic code).
    ``original``: ``headers`` (text/rfc822-headers), ``message`` (message/rfc822) or ``none``."""
    blocks = []
    for final, action, status, diagnostic in recipients:
        lines = [f"Final-Recipient: rfc822; {final}", f"Original-Recipient: rfc822;{final}", f"Action: {action}"]
        lines.append(f"Status: {status}")
        lines.append("Remote-MTA: dns; mx.example.test")
        if diagnostic:
            lines.append(f"Diagnostic-Code: smtp; {diagnostic}")
        blocks.append("\n".join(lines))
    human = "I'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients.\n"
    parts = [
        'Content-Description: Notification\nContent-Type: text/plain; charset="us-ascii"\n\n' + human,
        "Content-Description: Delivery report\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.test\n"
        "X-Postfix-Queue-ID: 4ABCDEF123\n"
        "Arrival-Date: Mon,  2 Nov 2026 09:00:01 +0000 (UTC)\n\n" + "\n\n".join(blocks) + "\n",
    ]
    headers = original_headers(message_id, to)
    if original == "headers":
        parts.append(
            "Content-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers\n\n" + headers
        )
    elif original == "message":
        body = "Hello Avery, your appointment with cardiology is on Tuesday.\n"
        parts.append(
            "Content-Description: Undelivered Message\nContent-Type: message/rfc822\n\n"
            + headers
            + 'Content-Type: text/plain; charset="utf-8"\n\n'
            + body
        )
    boundary = "4ABCDEF123.1762074001/mx.example.test"
    head = (
        "Return-Path: <>\n"
        "From: MAILER-DAEMON@mx.example.test (Mail Delivery System)\n"
        f"To: bounces@bounce.{FROM_DOMAIN}\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "Date: Mon,  2 Nov 2026 09:00:02 +0000 (UTC)\n"
        "Message-Id: <20261102090002.4ABCDEF123@mx.example.test>\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type=delivery-status;\n\tboundary="{boundary}"\n\n'
        "This is a MIME-encapsulated message.\n\n"
    )
    body = "".join(f"--{boundary}\n{part}\n" for part in parts) + f"--{boundary}--\n"
    return (head + body).replace("\n", "\r\n").encode("ascii")


def arf(
    message_id: str,
    *,
    feedback_type: str = "abuse",
    rcpt_to: str | None = PATIENT,
    to: str = PATIENT,
) -> bytes:
    """An ARF report as a mailbox provider's feedback loop sends it (RFC 5965 §3)."""
    boundary = "part1_13d.2e68ed54_boundary"
    report = [
        f"Feedback-Type: {feedback_type}",
        "User-Agent: SomeGenerator/1.0",
        "Version: 1",
        "Original-Mail-From: <news@clinic-a.example.com>",
        "Arrival-Date: Mon, 2 Nov 2026 09:00:03 +0000",
        "Reported-Domain: clinic-a.example.com",
        "Source-IP: 192.0.2.1",
    ]
    if rcpt_to is not None:
        report.append(f"Original-Rcpt-To: <{rcpt_to}>")
    original = original_headers(message_id, to) + "Content-Type: text/plain\n\nHello Avery, your results are ready.\n"
    text = (
        "From: <abusedesk@mailbox.example.test>\n"
        "Date: Mon, 2 Nov 2026 10:00:00 +0000\n"
        "Subject: FW: Your appointment reminder\n"
        f"To: <fbl@bounce.{FROM_DOMAIN}>\n"
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type=feedback-report;\n\tboundary="{boundary}"\n\n'
        f"--{boundary}\n"
        'Content-Type: text/plain; charset="US-ASCII"\nContent-Transfer-Encoding: 7bit\n\n'
        "This is an email abuse report for an email message received from IP 192.0.2.1.\n\n"
        f"--{boundary}\n"
        "Content-Type: message/feedback-report\n\n" + "\n".join(report) + "\n\n"
        f"--{boundary}\n"
        "Content-Type: message/rfc822\nContent-Disposition: inline\n\n" + original + f"\n--{boundary}--\n"
    )
    return text.replace("\n", "\r\n").encode("ascii")


def inbound_report_rows(fixture: Any) -> None:
    """One stored inbound report in the tenant, about the tenant's existing message and contact
    (tests/test_rls.py counts contacts; call after campaign_rows_in_every_table)."""
    from delivery.inbound_services import inbound_report_receive

    with tenant_context(fixture.tenant):
        message = Message.objects.for_tenant(fixture.tenant).select_related("contact").order_by("id")[0]
        email = message.contact.email  # type: ignore[union-attr]
    message_id = message_id_for(tenant_id=fixture.tenant.pk, message_row_id=message.pk, domain=FROM_DOMAIN)
    intake = inbound_report_receive(
        dsn(message_id, [(email, "failed", "5.1.1", "550 5.1.1 unknown user")]), enqueue=False
    )
    assert intake.stored
