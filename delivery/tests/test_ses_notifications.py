"""The SNS endpoint for SES notifications (``POST /delivery/ses/notifications/``): a signed bounce
from an allowed topic is recorded on the message its Message-ID names; a forged, foreign,
oversized or otherwise untrusted POST is refused and changes nothing; a subscription is
confirmed only through its topic's own SNS URL. Signatures use a self-made key whose
certificate the (injected) certificate fetcher returns."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.urls import reverse

from audit.tests.helpers import events, head_seq
from campaigns.models import MessageStatus
from consent.models import Suppression, SuppressionReason
from delivery import ses_views
from delivery.ses import is_sns_subscribe_url, string_to_sign
from delivery.tests import test_ses
from delivery.tests.test_inbound_support import PATIENT, sent_message
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db
S = MessageStatus
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-feedback"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
SUBSCRIBE_URL = (
    "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"
    f"&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3"
)
URL = "/delivery/ses/notifications/"


# A self-signed "SNS" key and certificate (shared with test_ses.py), used here by this name.
signing_key = test_ses.signing_cert


@pytest.fixture
def fetched(settings, monkeypatch, signing_key):
    """Topics allowed; the certificate and subscribe-URL fetchers replaced by recorders."""
    settings.DELIVERY_SES_SNS_TOPIC_ARNS = [TOPIC]
    calls: dict[str, list[str]] = {"cert": [], "subscribe": []}

    def fetch_cert(url):
        calls["cert"].append(url)
        return signing_key[1]

    def fetch_subscribe(url):
        calls["subscribe"].append(url)

    monkeypatch.setattr("delivery.ses.fetch_signing_cert", fetch_cert)
    monkeypatch.setattr("delivery.ses.fetch_subscribe_url", fetch_subscribe)
    return calls


def signed(key, message, *, kind="Notification", topic=TOPIC, cert_url=CERT_URL, message_id="sns-1", **extra):
    envelope = {
        "Type": kind,
        "MessageId": message_id,
        "TopicArn": topic,
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": "2026-11-02T09:00:00.000Z",
        "SignatureVersion": "2",
        "SigningCertURL": cert_url,
        **extra,
    }
    envelope["Signature"] = base64.b64encode(
        key.sign(string_to_sign(envelope), padding.PKCS1v15(), hashes.SHA256())
    ).decode()
    return envelope


def bounce(message_id: str, address: str = PATIENT, bounce_type: str = "Permanent", status: str = "5.1.1") -> dict:
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": address, "status": status, "action": "failed"}],
        },
        "mail": {"messageId": "0102018f-ses-id", "commonHeaders": {"messageId": message_id}},
    }


def post(client, envelope, **extra):
    body = envelope if isinstance(envelope, (bytes, str)) else json.dumps(envelope)
    return client.post(URL, data=body, content_type="text/plain; charset=UTF-8", **extra)


def suppressions(tenant):
    with tenant_context(tenant):
        return list(Suppression.objects.for_tenant(tenant).values_list("reason", flat=True))


def test_the_route_is_public():
    assert reverse("delivery:ses_notifications") == URL
    assert ses_views.ses_notifications.sealpost_public is True


def test_a_signed_bounce_is_recorded_on_its_message(world, client, fetched, signing_key, caplog):
    sent = sent_message(world.a)
    with caplog.at_level(logging.DEBUG):
        response = post(client, signed(signing_key[0], bounce(sent.message_id)))
    assert response.status_code == 200
    assert sent.refresh().status == S.BOUNCED
    assert suppressions(sent.tenant) == [SuppressionReason.HARD_BOUNCE]
    assert fetched["cert"] == [CERT_URL]
    assert PATIENT not in caplog.text and "patient" not in caplog.text.lower()  # the body is never logged
    # SNS may deliver the same message again: answered, not applied (nor audited) twice.
    seq = head_seq(sent.tenant)
    assert post(client, signed(signing_key[0], bounce(sent.message_id))).status_code == 200
    assert suppressions(sent.tenant) == [SuppressionReason.HARD_BOUNCE]
    assert events(sent.tenant, seq) == []


def test_a_signed_complaint_suppresses(world, client, fetched, signing_key):
    sent = sent_message(world.a)
    complaint = {
        "notificationType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": PATIENT}], "complaintFeedbackType": "abuse"},
        "mail": {"messageId": "0102018f-ses-id", "commonHeaders": {"messageId": sent.message_id}},
    }
    assert post(client, signed(signing_key[0], complaint, message_id="sns-2")).status_code == 200
    assert suppressions(sent.tenant) == [SuppressionReason.COMPLAINT]
    assert sent.refresh().status == S.SENT  # a complaint does not bounce the message


def test_other_events_and_other_recipients_change_nothing(world, client, fetched, signing_key):
    sent = sent_message(world.a)
    delivery = {"notificationType": "Delivery", "delivery": {"recipients": [PATIENT]}, "mail": {"messageId": "x"}}
    assert post(client, signed(signing_key[0], delivery, message_id="sns-3")).status_code == 200
    someone_else = bounce(sent.message_id, address="neighbour@example.test")
    assert post(client, signed(signing_key[0], someone_else, message_id="sns-4")).status_code == 200
    assert post(client, signed(signing_key[0], "not SES JSON", message_id="sns-5")).status_code == 200
    assert sent.refresh().status == S.SENT and suppressions(sent.tenant) == []


def _forged(signing_key, sent):
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tampered = signed(signing_key[0], bounce(sent.message_id, address="neighbour@example.test"))
    tampered["Message"] = json.dumps(bounce(sent.message_id))
    return {
        "signed by another key": (signed(other_key, bounce(sent.message_id)), 403),
        "tampered after signing": (tampered, 403),
        "unknown topic": (signed(signing_key[0], bounce(sent.message_id), topic=TOPIC + "-other"), 403),
        "certificate off SNS": (
            signed(signing_key[0], bounce(sent.message_id), cert_url="https://evil.example/sns.pem"),
            403,
        ),
        "certificate over http": (
            signed(signing_key[0], bounce(sent.message_id), cert_url=CERT_URL.replace("https:", "http:")),
            403,
        ),
        "certificate from another region": (
            signed(signing_key[0], bounce(sent.message_id), cert_url=CERT_URL.replace("eu-west-1", "us-east-1")),
            403,
        ),
        "not JSON": (b"{not json", 400),
        "no signature": (
            {k: v for k, v in signed(signing_key[0], bounce(sent.message_id)).items() if k != "Signature"},
            403,
        ),
    }


def test_untrusted_posts_are_refused_and_change_nothing(world, client, fetched, signing_key):
    sent = sent_message(world.a)
    for name, (envelope, status) in _forged(signing_key, sent).items():
        assert post(client, envelope).status_code == status, name
    assert sent.refresh().status == S.SENT and suppressions(sent.tenant) == []
    # Nothing was fetched from anywhere but the topic's own SNS host, and an unknown topic
    # was refused before its certificate was fetched.
    assert set(fetched["cert"]) <= {CERT_URL}
    assert len(fetched["cert"]) == 3  # another key, tampered, no signature


def test_oversized_and_non_post_requests_are_refused(world, client, fetched, signing_key):
    sent = sent_message(world.a)
    envelope = signed(signing_key[0], bounce(sent.message_id))
    envelope["Padding"] = "x" * (ses_views.MAX_BODY_BYTES + 1)  # not a signed field: only the size refuses it
    assert post(client, envelope).status_code == 413
    assert client.get(URL).status_code == 405
    assert sent.refresh().status == S.SENT and fetched["cert"] == []


def test_without_topics_the_endpoint_does_not_exist(world, client, settings, fetched, signing_key):
    settings.DELIVERY_SES_SNS_TOPIC_ARNS = []
    sent = sent_message(world.a)
    assert post(client, signed(signing_key[0], bounce(sent.message_id))).status_code == 404
    assert sent.refresh().status == S.SENT


def test_a_client_that_keeps_failing_is_throttled(world, client, fetched, signing_key):
    sent = sent_message(world.a)
    for _ in range(ses_views.FAILURES_PER_WINDOW):
        assert post(client, b"{not json").status_code == 400
    # Now even a genuine notification from that client waits for the window to pass.
    assert post(client, signed(signing_key[0], bounce(sent.message_id))).status_code == 429
    assert sent.refresh().status == S.SENT
    other_client = {"REMOTE_ADDR": "192.0.2.10"}
    assert post(client, signed(signing_key[0], bounce(sent.message_id)), **other_client).status_code == 200
    assert sent.refresh().status == S.BOUNCED


def test_a_subscription_is_confirmed_through_its_topics_sns_url_only(client, fetched, signing_key):
    confirmation = signed(
        signing_key[0],
        "You have chosen to subscribe to the topic.",
        kind="SubscriptionConfirmation",
        Token="2336412f37fb",
        SubscribeURL=SUBSCRIBE_URL,
    )
    assert post(client, confirmation).status_code == 200
    assert fetched["subscribe"] == [SUBSCRIBE_URL]


@pytest.mark.parametrize(
    "subscribe_url",
    [
        "https://evil.example/?Action=ConfirmSubscription&TopicArn=" + TOPIC + "&Token=t",
        SUBSCRIBE_URL.replace("https:", "http:"),
        SUBSCRIBE_URL.replace("eu-west-1.amazonaws.com", "us-east-1.amazonaws.com"),
        SUBSCRIBE_URL.replace("amazonaws.com/", "amazonaws.com.evil.example/"),
        SUBSCRIBE_URL.replace("amazonaws.com/", "amazonaws.com:8443/"),
        SUBSCRIBE_URL.replace("ConfirmSubscription", "Unsubscribe"),
        SUBSCRIBE_URL.replace(TOPIC, TOPIC + "-other"),
        SUBSCRIBE_URL.replace("/?", "/redirect?"),
    ],
)
def test_a_subscription_url_off_the_topics_sns_endpoint_is_never_fetched(client, fetched, signing_key, subscribe_url):
    assert not is_sns_subscribe_url(subscribe_url, TOPIC)
    confirmation = signed(
        signing_key[0], "subscribe", kind="SubscriptionConfirmation", Token="t", SubscribeURL=subscribe_url
    )
    assert post(client, confirmation).status_code == 403
    assert fetched["subscribe"] == []


def test_a_confirmation_sns_does_not_accept_is_reported_for_a_retry(client, fetched, signing_key, monkeypatch):
    def refused(url):
        raise OSError("SNS answered 403")

    monkeypatch.setattr("delivery.ses.fetch_subscribe_url", refused)
    confirmation = signed(
        signing_key[0], "subscribe", kind="SubscriptionConfirmation", Token="t", SubscribeURL=SUBSCRIBE_URL
    )
    assert post(client, confirmation).status_code == 502
