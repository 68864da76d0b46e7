"""Inbound reports against what the pipeline really sent: a DSN that returns the exact message an
MX received bounces that message (and only it); and the pipeline's own 5.1.1 suppression says it
came from the delivery system."""

from __future__ import annotations

import email

import pytest

from campaigns.models import MessageStatus
from consent.models import ConsentSource, Suppression, SuppressionReason
from delivery.inbound_services import inbound_report_process, inbound_report_receive
from delivery.models import InboundReportOutcome
from delivery.tests import test_pipeline_support as support
from delivery.tests.test_pipeline_support import TLS_DOMAIN, consenting_contacts, launch, received, rows, run
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db
ca, mx_cert, servers, pipeline_env, needs_baa = (
    support.ca,
    support.mx_cert,
    support.servers,
    support.pipeline_env,
    support.needs_baa,
)
S = MessageStatus


def dsn_returning(original: bytes, recipient: str) -> bytes:
    boundary = "dsn-boundary-1"
    head = (
        "From: MAILER-DAEMON@mx.example.test\r\nTo: bounces@bounce.example.test\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n\r\n'
    )
    status = (
        "Reporting-MTA: dns; mx.example.test\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 mailbox unavailable\r\n"
    )
    return (
        head.encode()
        + f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n".encode()
        + f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n{status}".encode()
        + f"--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n".encode()
        + original
        + f"\r\n--{boundary}--\r\n".encode()
    )


def test_a_dsn_returning_the_sent_message_bounces_exactly_that_message(pipeline_env):
    env = pipeline_env
    bouncing, fine = consenting_contacts(env.fixture, TLS_DOMAIN, 2)
    campaign = launch(env)
    assert run(env, campaign).counts["sent"] == 2
    by_recipient = {str(email.message_from_bytes(c)["To"]): c for c in received(env.tls)}
    original = next(content for to, content in by_recipient.items() if bouncing.email in to)
    intake = inbound_report_receive(dsn_returning(original, bouncing.email), enqueue=False)
    assert intake.stored and intake.tenant_id == env.tenant.pk
    with tenant_context(env.tenant):
        report = inbound_report_process(tenant=env.tenant, report_id=str(intake.report_id))
    assert report is not None and report.outcome == InboundReportOutcome.APPLIED
    statuses = {m.contact_id: m.status for m in rows(env, campaign)}
    assert statuses == {bouncing.pk: S.BOUNCED, fine.pk: S.SENT}
    # The same returned message, but naming the other patient: refused.
    other = inbound_report_receive(dsn_returning(original, fine.email), enqueue=False)
    with tenant_context(env.tenant):
        refused = inbound_report_process(tenant=env.tenant, report_id=str(other.report_id))
        assert refused is not None and refused.outcome == InboundReportOutcome.RECIPIENT_MISMATCH
        assert list(Suppression.objects.for_tenant(env.tenant).values_list("email_index", "source")) == [
            (bouncing.email_index, ConsentSource.DELIVERY)
        ]


def test_the_pipelines_own_hard_bounce_suppression_comes_from_the_delivery_system(pipeline_env):
    env = pipeline_env
    (bad,) = consenting_contacts(env.fixture, TLS_DOMAIN, 1)
    campaign = launch(env)
    env.tls.recorder.rcpt_replies = {bad.email: "550 5.1.1 No such user"}
    assert run(env, campaign).counts["suppressed"] == 1
    with tenant_context(env.tenant):
        suppressed = list(Suppression.objects.for_tenant(env.tenant).values_list("reason", "source"))
    assert suppressed == [(SuppressionReason.HARD_BOUNCE, ConsentSource.DELIVERY)]
