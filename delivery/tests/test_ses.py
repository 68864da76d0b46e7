"""SesTransport against moto's SES, and SES bounce/complaint notifications through SNS with
signatures checked against a self-made signing certificate."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from moto import mock_aws

from delivery.dkim_signing import DkimKey, generate_dkim_key
from delivery.mime import build_message
from delivery.ses import (
    SesTransport,
    SnsError,
    is_sns_cert_url,
    parse_ses_event,
    parse_sns_envelope,
    ses_event_from_sns,
    string_to_sign,
)
from delivery.smtp_replies import Status
from delivery.transport import Envelope

REGION = "us-east-1"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000.pem"
TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-feedback"


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def dkim_key():
    return DkimKey("clinic.example", "sp1", generate_dkim_key()[0])


def envelope(dkim_key, tls="verified", to="pat@patients.example"):
    raw = build_message(
        from_name="Clinic",
        from_address="news@clinic.example",
        to_address=to,
        subject="Reminder",
        html="<p>Hi</p>",
        text="Hi",
        message_id="<m1@clinic.example>",
        list_unsubscribe_url="https://sealpost.example/u/1",
    )
    return Envelope("bounces@clinic.example", to, dkim_key.sign(raw), tls, "patients.example", ref=1)


@pytest.fixture
def ses():
    with mock_aws():
        client = boto3.client("sesv2", region_name=REGION)
        client.create_email_identity(EmailIdentity="clinic.example")
        boto3.client("ses", region_name=REGION).verify_domain_identity(Domain="clinic.example")
        client.create_configuration_set(ConfigurationSetName="tls-required", DeliveryOptions={"TlsPolicy": "REQUIRE"})
        client.create_configuration_set(ConfigurationSetName="tls-optional", DeliveryOptions={"TlsPolicy": "OPTIONAL"})
        yield client


def sent_messages():
    from moto.backends import get_backend
    from moto.core import DEFAULT_ACCOUNT_ID

    return get_backend("ses")[DEFAULT_ACCOUNT_ID][REGION].sent_messages


def test_ses_sends_the_raw_message_with_a_tls_requiring_configuration_set(ses, dkim_key):
    handed_off = []
    transport = SesTransport(client=ses, configuration_set="tls-required")
    [outcome] = transport.send_batch([envelope(dkim_key)], on_handed_off=handed_off.append)
    assert outcome.status == Status.SENT
    assert outcome.provider_message_id
    assert len(handed_off) == 1
    [sent] = sent_messages()
    assert "DKIM-Signature" in sent.raw_data
    assert "pat@patients.example" in sent.destinations


def test_verified_envelope_without_tls_required_by_ses_is_not_sent(ses, dkim_key):
    for transport in (SesTransport(client=ses), SesTransport(client=ses, configuration_set="tls-optional")):
        assert transport.send(envelope(dkim_key)).status == Status.TLS_FAILED
    assert sent_messages() == []
    opportunistic = SesTransport(client=ses).send(envelope(dkim_key, tls="opportunistic"))
    assert opportunistic.status == Status.SENT


def test_ses_rejection_is_a_bounce_and_throttling_is_deferred(ses, dkim_key):
    transport = SesTransport(client=ses, configuration_set="tls-required")
    unverified = Envelope(
        "bounces@other.example",
        "pat@patients.example",
        envelope(dkim_key).data.replace(b"news@clinic.example", b"news@unverified.example"),
        "verified",
        "patients.example",
    )
    outcome = transport.send(unverified)
    assert (outcome.status, outcome.detail) == (Status.BOUNCED, "SES: MessageRejected")

    class Throttled:
        def get_configuration_set(self, **kwargs):
            return {"DeliveryOptions": {"TlsPolicy": "REQUIRE"}}

        def send_email(self, **kwargs):
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "slow down"}}, "SendEmail")

    outcome = SesTransport(client=Throttled(), configuration_set="x").send(envelope(dkim_key))
    assert outcome.status == Status.DEFERRED


def test_read_timeout_after_the_request_is_unknown(dkim_key):
    from botocore.exceptions import ReadTimeoutError

    class Slow:
        def get_configuration_set(self, **kwargs):
            return {"DeliveryOptions": {"TlsPolicy": "REQUIRE"}}

        def send_email(self, **kwargs):
            raise ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com")

    assert SesTransport(client=Slow(), configuration_set="x").send(envelope(dkim_key)).status == Status.UNKNOWN


# --- Notifications ------------------------------------------------------------------------------

BOUNCE = {
    "notificationType": "Bounce",
    "bounce": {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [{"emailAddress": "gone@patients.example", "status": "5.1.1", "action": "failed"}],
        "timestamp": "2026-01-01T00:00:00.000Z",
    },
    "mail": {"messageId": "0100-ses-id", "commonHeaders": {"messageId": "<m1@clinic.example>"}},
}
TRANSIENT = {
    "notificationType": "Bounce",
    "bounce": {
        "bounceType": "Transient",
        "bounceSubType": "MailboxFull",
        "bouncedRecipients": [{"emailAddress": "full@patients.example", "status": "4.2.2"}],
    },
    "mail": {"messageId": "0100-ses-id-2"},
}
COMPLAINT = {
    "notificationType": "Complaint",
    "complaint": {
        "complainedRecipients": [{"emailAddress": "angry@patients.example"}],
        "complaintFeedbackType": "abuse",
    },
    "mail": {"messageId": "0100-ses-id-3"},
}


def test_permanent_bounce_suppresses():
    event = parse_ses_event(json.dumps(BOUNCE))
    assert (event.kind, event.bounce_type, event.ses_message_id, event.message_id_header) == (
        "bounce",
        "Permanent",
        "0100-ses-id",
        "<m1@clinic.example>",
    )
    assert [(r.address, r.status, r.suppress) for r in event.recipients] == [("gone@patients.example", "5.1.1", True)]
    assert event.suppress


def test_transient_bounce_does_not_suppress_and_complaint_does():
    assert not parse_ses_event(TRANSIENT).suppress
    complaint = parse_ses_event({**COMPLAINT})
    assert (complaint.kind, complaint.complaint_type, complaint.suppress) == ("complaint", "abuse", True)
    assert parse_ses_event(
        {"eventType": "Bounce", **{k: v for k, v in BOUNCE.items() if k != "notificationType"}}
    ).suppress


@pytest.fixture(scope="module")
def signing_cert():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


def sns(signing_cert, message, *, version="2", cert_url=CERT_URL, kind="Notification"):
    key, _ = signing_cert
    envelope = {
        "Type": kind,
        "MessageId": "sns-1",
        "TopicArn": TOPIC,
        "Message": json.dumps(message),
        "Timestamp": "2026-01-01T00:00:00.000Z",
        "SignatureVersion": version,
        "SigningCertURL": cert_url,
    }
    if kind != "Notification":
        envelope.update(Token="tok", SubscribeURL="https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription")
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303
    envelope["Signature"] = base64.b64encode(key.sign(string_to_sign(envelope), padding.PKCS1v15(), algorithm)).decode()
    return envelope


def fetcher(signing_cert, calls=None):
    def fetch(url):
        if calls is not None:
            calls.append(url)
        return signing_cert[1]

    return fetch


@pytest.mark.parametrize("version", ["1", "2"])
def test_signed_sns_notification_is_accepted(signing_cert, version):
    body = json.dumps(sns(signing_cert, BOUNCE, version=version))
    event = ses_event_from_sns(body, fetch_cert=fetcher(signing_cert), topic_arns=[TOPIC])
    assert event is not None and event.kind == "bounce" and event.suppress


def test_tampered_notification_is_refused(signing_cert):
    envelope = sns(signing_cert, BOUNCE)
    envelope["Message"] = envelope["Message"].replace("gone@", "someone-else@")
    with pytest.raises(SnsError, match="does not verify"):
        parse_sns_envelope(envelope, fetch_cert=fetcher(signing_cert))


def test_signing_certificate_must_come_from_sns(signing_cert):
    calls = []
    for url in (
        "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
        "http://sns.us-east-1.amazonaws.com/cert.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
    ):
        assert not is_sns_cert_url(url)
        with pytest.raises(SnsError, match="not an SNS https URL"):
            parse_sns_envelope(sns(signing_cert, BOUNCE, cert_url=url), fetch_cert=fetcher(signing_cert, calls))
    assert calls == []  # never fetched


def test_other_topics_and_subscriptions(signing_cert):
    with pytest.raises(SnsError, match="topic"):
        parse_sns_envelope(sns(signing_cert, BOUNCE), fetch_cert=fetcher(signing_cert), topic_arns=["arn:aws:sns:x"])
    confirmation = sns(signing_cert, {"x": 1}, kind="SubscriptionConfirmation")
    assert ses_event_from_sns(confirmation, fetch_cert=fetcher(signing_cert)) is None
    with pytest.raises(SnsError):
        parse_sns_envelope(b"not json", fetch_cert=fetcher(signing_cert))
