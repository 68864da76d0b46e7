"""RelayTransport: verified STARTTLS to the smart host, AUTH only after it, never plaintext."""

from __future__ import annotations

import pytest

from delivery.dkim_signing import DkimKey, generate_dkim_key
from delivery.mime import build_message
from delivery.smtp_replies import Status
from delivery.testing import CertificateAuthority, FakeResolver, server_context, use_resolver
from delivery.tests.smtp_servers import MX_NAME, recording_server
from delivery.transport import Envelope, RelayTransport


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return CertificateAuthority(tmp_path_factory.mktemp("relay-ca"))


@pytest.fixture(autouse=True)
def trust(settings, ca):
    settings.DELIVERY_TLS_CA_FILE = str(ca.ca_file)
    with use_resolver(FakeResolver()):
        yield


@pytest.fixture(scope="module")
def signed():
    key = DkimKey("clinic.example", "sp1", generate_dkim_key()[0])
    return key.sign(
        build_message(
            from_name="Clinic",
            from_address="news@clinic.example",
            to_address="pat@patients.example",
            subject="Reminder",
            html="<p>Hi</p>",
            text="Hi",
            message_id="<r1@clinic.example>",
            list_unsubscribe_url="https://sealpost.example/u/1",
        )
    )


def envelopes(signed, tls="opportunistic"):
    return [Envelope("bounces@clinic.example", "pat@patients.example", signed, tls, "patients.example")]


def relay(server, password="relay-secret", **kwargs):  # noqa: S107
    return RelayTransport(host=MX_NAME, port=server.port, username="relay-user", password=password, timeout=5, **kwargs)


def test_relay_authenticates_after_verified_starttls(ca, signed):
    with recording_server(tls_context=server_context(ca.issue(MX_NAME)), auth=True) as server:
        transport = relay(server)
        [outcome] = transport.send_batch(envelopes(signed))  # even an opportunistic envelope
        transport.close()
        assert outcome.status == Status.SENT and outcome.tls_version in ("TLSv1.2", "TLSv1.3")
        assert [c for c, _ in server.recorder.commands] == ["AUTH", "MAIL", "RCPT", "DATA"]
        assert all(tls for _, tls in server.recorder.commands)


def test_relay_without_starttls_gets_neither_credentials_nor_mail(signed):
    with recording_server(auth=False) as server:
        transport = relay(server)
        [outcome] = transport.send_batch(envelopes(signed))
        assert outcome.status == Status.TLS_FAILED
        assert server.recorder.commands == []


def test_relay_with_an_untrusted_certificate_gets_nothing(tmp_path, signed):
    other_ca = CertificateAuthority(tmp_path, name="Someone else's CA")
    with recording_server(tls_context=server_context(other_ca.issue(MX_NAME)), auth=True) as server:
        [outcome] = relay(server).send_batch(envelopes(signed))
        assert outcome.status == Status.TLS_FAILED
        assert server.recorder.commands == []


def test_wrong_relay_password_defers_without_sending(ca, signed):
    with recording_server(tls_context=server_context(ca.issue(MX_NAME)), auth=True) as server:
        [outcome] = relay(server, password="wrong").send_batch(envelopes(signed))
        assert (outcome.status, outcome.code) == (Status.DEFERRED, 535)
        assert {c for c, _ in server.recorder.commands} == {"AUTH"}  # smtplib tries PLAIN, then LOGIN
        assert all(tls for _, tls in server.recorder.commands)


def test_relay_needs_a_host(settings):
    settings.DELIVERY_RELAY_HOST = None
    with pytest.raises(ValueError, match="DELIVERY_RELAY_HOST"):
        RelayTransport()
