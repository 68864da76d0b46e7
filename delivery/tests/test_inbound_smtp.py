"""The inbound SMTP listener, for real: an aiosmtpd server in-process (and the management command
as a subprocess) that takes DSNs and ARF reports over SMTP, stores them, queues their
processing by id, refuses other domains, survives garbage, and offers STARTTLS."""

from __future__ import annotations

import os
import signal
import smtplib
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from campaigns.models import MessageStatus
from delivery.inbound_smtp import DROPPED_REPLY, RETRY_REPLY, STORED_REPLY, start_inbound_listener
from delivery.inbound_tasks import inbound_report_process_task
from delivery.models import InboundReport, InboundReportOutcome
from delivery.testing import LOOPBACK, CertificateAuthority, _free_port, server_context
from delivery.tests.test_inbound_support import FROM_DOMAIN, PATIENT, arf, dsn, sent_message
from tenants.context import tenant_context

BOUNCE_DOMAIN = f"bounce.{FROM_DOMAIN}"
BOUNCE_ADDRESS = f"bounces@{BOUNCE_DOMAIN}"


@pytest.fixture
def listener():
    port = _free_port()
    controller = start_inbound_listener(LOOPBACK, port, domains=[BOUNCE_DOMAIN])
    try:
        yield controller, port
    finally:
        controller.stop()


@pytest.fixture
def queued(monkeypatch):
    """The task's arguments instead of a broker: what the listener queued, in order."""
    calls: list[tuple] = []
    monkeypatch.setattr(inbound_report_process_task, "delay", lambda *args: calls.append(args))
    return calls


def send(port: int, raw: bytes, rcpt: str = BOUNCE_ADDRESS) -> tuple[int, bytes]:
    with smtplib.SMTP(LOOPBACK, port, timeout=10) as client:
        client.ehlo("mx.example.test")
        client.mail("<>")
        code, reply = client.rcpt(rcpt)
        if code != 250:
            return code, reply
        return client.data(raw)


def reports(tenant) -> list[InboundReport]:
    with tenant_context(tenant):
        return list(InboundReport.objects.for_tenant(tenant).order_by("received_at"))


@pytest.mark.django_db(transaction=True)
def test_a_dsn_over_smtp_is_stored_queued_by_id_and_bounces_its_message(world, listener, queued):
    controller, port = listener
    sent = sent_message(world.a)
    code, reply = send(port, dsn(sent.message_id, [(PATIENT, "failed", "5.1.1", "550 5.1.1 unknown user")]))
    assert f"{code} {reply.decode()}" == STORED_REPLY
    (report,) = reports(world.a.tenant)
    assert report.kind == "dsn" and report.outcome == InboundReportOutcome.PENDING
    assert queued == [(world.a.tenant.pk, str(report.pk))]  # ids only: the report is PHI
    assert inbound_report_process_task.run(*queued[0]) == InboundReportOutcome.APPLIED
    assert sent.refresh().status == MessageStatus.BOUNCED
    assert reports(world.b.tenant) == []
    code, reply = send(port, arf(sent.message_id))
    assert code == 250 and len(queued) == 2
    assert inbound_report_process_task.run(*queued[1]) == InboundReportOutcome.APPLIED
    assert controller.handler.counts == {"stored": 2}


@pytest.mark.django_db(transaction=True)
def test_other_domains_are_refused_and_garbage_or_foreign_reports_are_accepted_and_dropped(world, listener, queued):
    controller, port = listener
    code, _ = send(port, b"Subject: x\r\n\r\nhello\r\n", rcpt=PATIENT)
    assert code == 550
    for raw in (
        b"\x00\xff garbage\r\n\r\n\x80",
        dsn("<x.1@elsewhere.example.test>", [(PATIENT, "failed", "5.1.1", "")]),
    ):
        code, reply = send(port, raw)
        assert f"{code} {reply.decode()}" == DROPPED_REPLY
    # Still serving after the garbage.
    sent = sent_message(world.a)
    code, reply = send(port, dsn(sent.message_id, [(PATIENT, "delayed", "4.4.1", "")]))
    assert f"{code} {reply.decode()}" == STORED_REPLY
    assert dict(controller.handler.counts) == {"refused_domain": 1, "dropped_no_message_ref": 2, "stored": 1}
    assert len(queued) == 1


def test_a_report_that_cannot_be_stored_gets_a_temporary_failure():
    def broken_intake(raw: bytes):
        raise RuntimeError("database unavailable")

    port = _free_port()
    controller = start_inbound_listener(LOOPBACK, port, intake=broken_intake)
    try:
        code, reply = send(port, b"Subject: x\r\n\r\nhello\r\n", rcpt="anyone@any.example.test")
    finally:
        controller.stop()
    assert f"{code} {reply.decode()}" == RETRY_REPLY
    assert controller.handler.counts == {"failed": 1}


def test_starttls_is_offered_with_a_certificate(tmp_path):
    ca = CertificateAuthority(tmp_path)
    issued = ca.issue("sealpost-inbound.localhost")
    received: list[bytes] = []

    def intake(raw: bytes):
        from delivery.inbound_services import Intake

        received.append(raw)
        return Intake(False, "no_message_ref")

    port = _free_port()
    controller = start_inbound_listener(LOOPBACK, port, tls_context=server_context(issued), intake=intake)
    try:
        with smtplib.SMTP(LOOPBACK, port, timeout=10) as client:
            client.ehlo("mx.example.test")
            assert client.has_extn("starttls")
        context = ssl.create_default_context(cafile=str(ca.ca_file))
        context.check_hostname = False  # we dial 127.0.0.1; the chain is still verified
        with smtplib.SMTP(LOOPBACK, port, timeout=10) as client:
            client.ehlo("mx.example.test")
            client.starttls(context=context)
            client.ehlo("mx.example.test")
            assert client.sock.version() in ("TLSv1.2", "TLSv1.3")
            client.sendmail("", [BOUNCE_ADDRESS], b"Subject: x\r\n\r\nover TLS\r\n")
    finally:
        controller.stop()
    assert received and b"over TLS" in received[0]


def test_the_management_command_listens_counts_and_stops_on_sigterm():
    port = _free_port()
    env = {**os.environ, "INBOUND_SMTP_DOMAINS": BOUNCE_DOMAIN, "PYTHONUNBUFFERED": "1"}
    manage = Path(__file__).resolve().parents[2] / "manage.py"
    process = subprocess.Popen(
        [sys.executable, str(manage), "inbound_smtp", "--host", LOOPBACK, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        first = process.stdout.readline().decode()
        assert f"listener on {LOOPBACK}:{port} for {BOUNCE_DOMAIN}" in first, first
        assert send(port, b"Subject: x\r\n\r\nhello\r\n", rcpt="someone@elsewhere.example.test")[0] == 550
        assert send(port, b"Subject: not a report\r\n\r\nhello\r\n")[0] == 250
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err.decode()[-2000:]
    assert "'dropped_no_message_ref': 1" in out.decode() and "'refused_domain': 1" in out.decode()
    assert b"hello" not in out + err  # nothing of the message is printed or logged


def test_the_management_command_refuses_half_a_tls_configuration():
    env = {**os.environ, "INBOUND_SMTP_TLS_CERT_FILE": "/nonexistent/cert.pem"}
    manage = Path(__file__).resolve().parents[2] / "manage.py"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(manage), "inbound_smtp", "--port", str(_free_port())],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0 and b"INBOUND_SMTP_TLS_KEY_FILE" in result.stderr
    assert time.monotonic() - started < 60
