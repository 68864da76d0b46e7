"""The local SMTP sink: a real SMTP conversation in, a Maildir entry out, read back."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from delivery.mailbox import mailbox_get, mailbox_list
from delivery.sink import ENVELOPE_FROM_HEADER, ENVELOPE_TO_HEADER, start_sink
from tests.free_port import free_port

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def maildir(tmp_path: Path) -> Path:
    return tmp_path / "var" / "mailbox"


@pytest.fixture
def sink(maildir: Path) -> Iterator[Controller]:
    controller = start_sink("127.0.0.1", free_port(), maildir)
    yield controller
    controller.stop()


def _message(subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Clinic <reminders@clinic.example>"
    message["To"] = "patient@example.org"
    message["Subject"] = subject
    message.set_content("Your appointment is on Tuesday.\n")
    message.add_alternative("<p>Your appointment is on <b>Tuesday</b>.</p>\n", subtype="html")
    return message


def _send(controller: Controller, message: EmailMessage, *, sender: str, recipients: list[str]) -> None:
    with smtplib.SMTP(controller.hostname, controller.port, timeout=10) as client:
        client.send_message(message, from_addr=sender, to_addrs=recipients)


def test_sink_stores_message_with_envelope_headers(sink: Controller, maildir: Path):
    _send(
        sink,
        _message("Appointment reminder"),
        sender="bounces+42@sealpost.localhost",
        recipients=["patient@example.org", "carer@example.org"],
    )

    listed = mailbox_list(maildir=maildir)
    assert len(listed) == 1
    summary = listed[0]
    assert summary.subject == "Appointment reminder"
    assert summary.sender == "Clinic <reminders@clinic.example>"
    assert summary.recipients == "patient@example.org"
    assert summary.envelope_from == "bounces+42@sealpost.localhost"
    assert summary.envelope_to == "patient@example.org, carer@example.org"
    assert summary.size > 0

    detail = mailbox_get(message_id=summary.id, maildir=maildir)
    assert detail.headers[0] == (ENVELOPE_FROM_HEADER, "bounces+42@sealpost.localhost")
    assert detail.headers[1] == (ENVELOPE_TO_HEADER, "patient@example.org, carer@example.org")
    assert detail.text == "Your appointment is on Tuesday.\n"
    assert detail.html == "<p>Your appointment is on <b>Tuesday</b>.</p>\n"


def test_stored_file_uses_lf_line_endings(sink: Controller, maildir: Path):
    _send(sink, _message("Line endings"), sender="a@sealpost.localhost", recipients=["b@example.org"])

    (stored,) = (maildir / "new").iterdir()
    assert b"\r\n" not in stored.read_bytes()


def test_mailbox_lists_newest_first(sink: Controller, maildir: Path):
    for subject in ("first", "second", "third"):
        _send(sink, _message(subject), sender="a@sealpost.localhost", recipients=["b@example.org"])

    assert [m.subject for m in mailbox_list(maildir=maildir)] == ["third", "second", "first"]
    assert [m.subject for m in mailbox_list(maildir=maildir, limit=2)] == ["third", "second"]


def test_null_sender_is_recorded(sink: Controller, maildir: Path):
    # Bounces are sent with an empty reverse path.
    _send(sink, _message("Delivery status"), sender="", recipients=["b@example.org"])

    (summary,) = mailbox_list(maildir=maildir)
    assert summary.envelope_from == "<>"


def test_sink_never_logs_message_content(sink: Controller, caplog: pytest.LogCaptureFixture):
    caplog.set_level("DEBUG")
    _send(sink, _message("Results for MRN 12345678"), sender="a@sealpost.localhost", recipients=["b@example.org"])

    logged = " ".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert "stored a message" in logged
    assert "12345678" not in logged
    assert "Tuesday" not in logged
    assert "b@example.org" not in logged


def test_management_command_serves_and_stops_cleanly_on_sigterm(tmp_path: Path):
    port = free_port()
    env = {**os.environ, "SEALPOST_VAR_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, str(BASE_DIR / "manage.py"), "smtp_sink", "--port", str(port)],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "listening on 127.0.0.1:" in process.stdout.readline()
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.send_message(_message("From the command"), from_addr="a@sealpost.localhost", to_addrs=["b@x.org"])
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0, stderr
    assert "1 message(s) stored" in stdout
    (summary,) = mailbox_list(maildir=tmp_path / "mailbox")
    assert summary.subject == "From the command"


def test_management_command_reports_a_busy_port(tmp_path: Path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(BASE_DIR / "manage.py"), "smtp_sink", "--port", str(port)],
            cwd=BASE_DIR,
            env={**os.environ, "SEALPOST_VAR_DIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode != 0
    assert f"Cannot listen on 127.0.0.1:{port}" in result.stderr


def test_sink_records_whether_a_message_arrived_over_tls(maildir: Path, tmp_path: Path):
    """The demo's two listeners: the dev mailbox shows TLS version and cipher, or plaintext."""
    import ssl

    from delivery.demo_tls import DEMO_MX_HOST, ensure_demo_tls
    from delivery.sink import TRANSPORT_SECURITY_HEADER, starttls_context

    tls = ensure_demo_tls(tmp_path / "var")
    plain = start_sink("127.0.0.1", free_port(), maildir)
    secure = start_sink("127.0.0.1", free_port(), maildir, tls_context=starttls_context(tls.cert_file, tls.key_file))
    try:
        _send(plain, _message("Over plaintext"), sender="a@clinic.example", recipients=["plain@example.org"])
        # By the name the demo certificate is issued for (it resolves to the loopback address).
        with smtplib.SMTP(DEMO_MX_HOST, secure.port, timeout=10) as client:
            client.starttls(context=ssl.create_default_context(cafile=str(tls.ca_file)))
            client.send_message(_message("Over TLS"), from_addr="a@clinic.example", to_addrs=["tls@example.org"])
    finally:
        secure.stop()
        plain.stop()
    by_subject = {m.subject: m for m in mailbox_list(maildir=maildir)}
    assert by_subject["Over plaintext"].transport_security == "none"
    assert not by_subject["Over plaintext"].over_tls
    protocol, cipher = by_subject["Over TLS"].transport_security.split(" ", 1)
    assert protocol in ("TLSv1.2", "TLSv1.3") and cipher
    assert by_subject["Over TLS"].over_tls
    detail = mailbox_get(message_id=by_subject["Over TLS"].id, maildir=maildir)
    assert (TRANSPORT_SECURITY_HEADER, by_subject["Over TLS"].transport_security) in detail.headers
