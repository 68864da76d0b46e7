"""Amazon SES as the transport (``SesTransport``), and SES bounce/complaint notifications
received through SNS (``parse_sns_envelope``, ``parse_ses_event``).

Sending: the signed raw MIME through SESv2 ``SendEmail`` (``Content.Raw``), one API call per
envelope, ``Destination`` set to the envelope recipient only. TLS: SES decides how it delivers
onward. A configuration set whose delivery options say ``TlsPolicy: REQUIRE`` makes SES refuse
to deliver without TLS; AWS does not document that it validates the recipient MX certificate,
so "verified" through SES means "TLS required by SES", weaker than ``SmtpTransport``'s (see
docs/delivery-transport.md). A ``verified`` envelope is refused (``tls_failed``, nothing sent)
unless a configuration set is configured and, when checked, requires TLS.

Notifications: SNS posts a JSON envelope whose ``Message`` is the SES event JSON. The topic must
be one we subscribe to (checked first, before anything is fetched); the envelope's signature is
verified (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) with the certificate at
``SigningCertURL``, which must be an https URL on ``sns.<the topic's region>.amazonaws.com``
(fetched with certificate verification, cached; the fetcher is injectable for tests).
``ses_event_apply`` applies a bounce or complaint to the message its Message-ID header names,
through the services inbound DSN and ARF reports use (``delivery.inbound_feedback``).
``sns_post_handle`` is all of it for one POST (``delivery.ses_views``): a subscription
confirmation for an allowed topic is confirmed by fetching its ``SubscribeURL``, which must be
``https://sns.<the topic's region>.amazonaws.com/?Action=ConfirmSubscription&TopicArn=<it>...``.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings

from delivery.smtp_replies import Outcome, Status, suppresses
from delivery.transport import Envelope, HandOff

SES_DEFERRED_ERRORS = frozenset(
    {
        "TooManyRequestsException",
        "LimitExceededException",
        "Throttling",
        "ThrottlingException",
        "SendingPausedException",
        "AccountSuspendedException",
        "MailFromDomainNotVerifiedException",
        "NotFoundException",  # the configuration set is missing: an operator fixes it, then retry
        "InternalFailure",
        "ServiceUnavailable",
    }
)
_SNS_CERT_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}


# --- Sending ------------------------------------------------------------------------------------


class SesTransport:
    """Same interface as ``SmtpTransport``: ``send_batch(envelopes, on_handed_off=...)``."""

    def __init__(
        self,
        *,
        client: Any = None,
        region: str | None = None,
        configuration_set: str | None = None,
        check_tls_policy: bool = True,
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("sesv2", region_name=region or getattr(settings, "DELIVERY_SES_REGION", "us-east-1"))
        self.client = client
        self.configuration_set = configuration_set or getattr(settings, "DELIVERY_SES_CONFIGURATION_SET", None)
        self.check_tls_policy = check_tls_policy
        self._tls_required: bool | None = None

    def tls_required(self) -> bool:
        """Whether the configuration set makes SES require TLS (asked once, then remembered)."""
        if not self.configuration_set:
            return False
        if not self.check_tls_policy:
            return True
        if self._tls_required is None:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                answer = self.client.get_configuration_set(ConfigurationSetName=self.configuration_set)
            except (ClientError, BotoCoreError):
                return False  # not remembered: asked again next time
            policy = (answer.get("DeliveryOptions") or {}).get("TlsPolicy", "OPTIONAL")
            self._tls_required = str(policy).upper() == "REQUIRE"
        return self._tls_required

    def send_batch(self, envelopes: Sequence[Envelope], *, on_handed_off: HandOff | None = None) -> list[Outcome]:
        return [self.send(envelope, on_handed_off=on_handed_off) for envelope in envelopes]

    def send(self, envelope: Envelope, *, on_handed_off: HandOff | None = None) -> Outcome:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        if envelope.tls == "verified" and not self.tls_required():
            return Outcome(
                Status.TLS_FAILED, None, None, "SES is not configured to require TLS (configuration set TlsPolicy)"
            )
        request: dict[str, Any] = {
            "Destination": {"ToAddresses": [envelope.rcpt_to]},
            "Content": {"Raw": {"Data": envelope.data}},
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        if on_handed_off is not None:
            try:
                on_handed_off(envelope)
            except Exception:
                return Outcome(Status.DEFERRED, None, None, "hand-off could not be recorded; not sent")
        try:
            answer = self.client.send_email(**request)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            if code in SES_DEFERRED_ERRORS:
                return Outcome(Status.DEFERRED, None, None, f"SES: {code}")
            return Outcome(Status.BOUNCED, None, None, f"SES: {code}")
        except (EndpointConnectionError, ConnectTimeoutError):
            return Outcome(Status.DEFERRED, None, None, "SES: could not connect")
        except (ReadTimeoutError, ConnectionClosedError):
            return Outcome(Status.UNKNOWN, None, None, "SES: no answer after the request was sent")
        except BotoCoreError as exc:
            return Outcome(Status.UNKNOWN, None, None, f"SES: {type(exc).__name__}")
        return Outcome(Status.SENT, None, None, "SES accepted", provider_message_id=str(answer.get("MessageId")))

    def close(self) -> None:
        pass


# --- Notifications ------------------------------------------------------------------------------


class SnsError(ValueError):
    """The notification is malformed or its signature does not verify; names no data."""


class SnsUntrusted(SnsError):
    """Well-formed, but not provably from one of our SNS topics: an unknown topic, a signing
    certificate or subscribe URL not on SNS, or a signature that does not verify."""


@dataclass(frozen=True)
class SnsEnvelope:
    type: str  # Notification, SubscriptionConfirmation, UnsubscribeConfirmation
    message_id: str
    topic_arn: str
    message: str
    subscribe_url: str | None = None


@dataclass(frozen=True)
class SesRecipient:
    address: str
    status: str | None = None  # the enhanced status code, e.g. "5.1.1"
    suppress: bool = False


@dataclass(frozen=True)
class SesEvent:
    """One SES bounce, complaint or delivery, as the pipeline applies it. ``ses_message_id``
    is what ``Outcome.provider_message_id`` recorded; ``message_id_header`` our Message-ID."""

    kind: str  # "bounce", "complaint", "delivery", or the lower-cased type for anything else
    ses_message_id: str
    recipients: tuple[SesRecipient, ...]
    bounce_type: str | None = None  # Permanent, Transient, Undetermined
    bounce_subtype: str | None = None
    complaint_type: str | None = None  # the feedback type (abuse, ...), when the ISP gave one
    message_id_header: str | None = None
    timestamp: str | None = None

    @property
    def suppress(self) -> bool:
        return any(r.suppress for r in self.recipients)


def topic_region(topic_arn: str) -> str | None:
    """The region of an SNS topic ARN (``arn:aws:sns:<region>:<account>:<name>``)."""
    parts = topic_arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns" or not parts[3]:
        return None
    return parts[3]


def _is_sns_host_url(url: str, region: str | None) -> bool:
    """An https URL on ``sns.<region>.amazonaws.com[.cn]`` (any region when ``region`` is None),
    default port, no user info."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    host = parts.hostname or ""
    if parts.scheme != "https" or port is not None or parts.username is not None or parts.password is not None:
        return False
    if _SNS_CERT_HOST.fullmatch(host) is None:
        return False
    return region is None or host in (f"sns.{region}.amazonaws.com", f"sns.{region}.amazonaws.com.cn")


def is_sns_cert_url(url: str, region: str | None = None) -> bool:
    return _is_sns_host_url(url, region) and urlsplit(url).path.endswith(".pem")


def is_sns_subscribe_url(url: str, topic_arn: str) -> bool:
    """Whether ``url`` confirms a subscription to ``topic_arn`` on that topic's own SNS
    endpoint: ``https://sns.<region>.amazonaws.com/?Action=ConfirmSubscription&TopicArn=...``."""
    region = topic_region(topic_arn)
    if region is None or not _is_sns_host_url(url, region):
        return False
    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    return (
        parts.path in ("", "/")
        and not parts.fragment
        and query.get("Action") == ["ConfirmSubscription"]
        and query.get("TopicArn") == [topic_arn]
        and len(query.get("Token", [])) == 1
        and bool(query["Token"][0])
    )


@lru_cache(maxsize=16)
def fetch_signing_cert(url: str) -> bytes:
    """The PEM at ``url`` (an SNS signing certificate URL, checked by the caller), over HTTPS
    with the system trust store."""
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - https on sns.*.amazonaws.com only
        return bytes(response.read(64 * 1024))


def string_to_sign(envelope: dict[str, Any]) -> bytes:
    fields = _SIGNED_FIELDS.get(str(envelope.get("Type")))
    if fields is None:
        raise SnsError("unknown SNS message type")
    lines = []
    for name in fields:
        if name in envelope and envelope[name] is not None:
            lines.append(f"{name}\n{envelope[name]}\n")
    return "".join(lines).encode("utf-8")


def verify_sns_signature(envelope: dict[str, Any], *, fetch_cert: Callable[[str], bytes] = fetch_signing_cert) -> None:
    """Raises SnsUntrusted unless ``envelope`` is signed by the certificate at an SNS URL of
    its topic's region (any SNS region if the topic names none)."""
    url = str(envelope.get("SigningCertURL") or envelope.get("SigningCertUrl") or "")
    if not is_sns_cert_url(url, topic_region(str(envelope.get("TopicArn", "")))):
        raise SnsUntrusted("the signing certificate URL is not an SNS https URL of the topic's region")
    version = str(envelope.get("SignatureVersion", ""))
    algorithm: hashes.HashAlgorithm
    if version == "1":
        algorithm = hashes.SHA1()  # noqa: S303 - what SNS SignatureVersion 1 is
    elif version == "2":
        algorithm = hashes.SHA256()
    else:
        raise SnsUntrusted("unsupported SNS signature version")
    try:
        signature = base64.b64decode(str(envelope.get("Signature", "")), validate=True)
        certificate = x509.load_pem_x509_certificate(fetch_cert(url))
    except (ValueError, OSError):
        raise SnsUntrusted("the signature or the signing certificate cannot be read") from None
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SnsUntrusted("the signing certificate is not RSA")
    try:
        key.verify(signature, string_to_sign(envelope), padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise SnsUntrusted("the SNS signature does not verify") from None


def parse_sns_envelope(
    body: bytes | str | dict[str, Any],
    *,
    verify: bool = True,
    fetch_cert: Callable[[str], bytes] = fetch_signing_cert,
    topic_arns: Iterable[str] | None = None,
) -> SnsEnvelope:
    """The SNS POST body, signature-checked (unless ``verify=False``) and, when ``topic_arns``
    is given, from one of those topics."""
    try:
        envelope = body if isinstance(body, dict) else json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise SnsError("the SNS body is not JSON") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("Message"), str):
        raise SnsError("the SNS body has no Message")
    topic = str(envelope.get("TopicArn", ""))
    # The topic first: an unknown one is refused before any certificate is fetched.
    if topic_arns is not None and topic not in set(topic_arns):
        raise SnsUntrusted("the notification is from a topic we do not subscribe to")
    if verify:
        verify_sns_signature(envelope, fetch_cert=fetch_cert)
    return SnsEnvelope(
        type=str(envelope.get("Type")),
        message_id=str(envelope.get("MessageId", "")),
        topic_arn=topic,
        message=envelope["Message"],
        subscribe_url=envelope.get("SubscribeURL"),
    )


def parse_ses_event(message: str | dict[str, Any]) -> SesEvent:
    """An SES notification (``notificationType``) or event-publishing record (``eventType``)."""
    try:
        data = message if isinstance(message, dict) else json.loads(message)
    except ValueError:
        raise SnsError("the SES event is not JSON") from None
    if not isinstance(data, dict):
        raise SnsError("the SES event is not an object")
    kind = str(data.get("notificationType") or data.get("eventType") or "").lower()
    mail = data.get("mail") or {}
    common = mail.get("commonHeaders") or {}
    ses_message_id = str(mail.get("messageId", ""))
    header_id = common.get("messageId")
    base: dict[str, Any] = {
        "ses_message_id": ses_message_id,
        "message_id_header": str(header_id) if header_id is not None else None,
    }
    if kind == "bounce":
        bounce = data.get("bounce") or {}
        permanent = bounce.get("bounceType") == "Permanent"
        recipients = tuple(
            SesRecipient(
                address=str(r.get("emailAddress", "")),
                status=r.get("status"),
                # A Permanent bounce is SES's own "do not send again" (it suppresses too); a
                # Transient one only when the recipient's code says the mailbox is gone.
                suppress=permanent or suppresses(r.get("status")),
            )
            for r in bounce.get("bouncedRecipients") or ()
        )
        return SesEvent(
            "bounce",
            recipients=recipients,
            bounce_type=bounce.get("bounceType"),
            bounce_subtype=bounce.get("bounceSubType"),
            timestamp=bounce.get("timestamp"),
            **base,
        )
    if kind == "complaint":
        complaint = data.get("complaint") or {}
        recipients = tuple(
            SesRecipient(address=str(r.get("emailAddress", "")), suppress=True)
            for r in complaint.get("complainedRecipients") or ()
        )
        return SesEvent(
            "complaint",
            recipients=recipients,
            complaint_type=complaint.get("complaintFeedbackType"),
            timestamp=complaint.get("timestamp"),
            **base,
        )
    if kind == "delivery":
        delivery = data.get("delivery") or {}
        recipients = tuple(SesRecipient(address=str(a)) for a in delivery.get("recipients") or ())
        return SesEvent("delivery", recipients=recipients, timestamp=delivery.get("timestamp"), **base)
    return SesEvent(kind or "unknown", recipients=(), **base)


def ses_event_from_sns(body: bytes | str | dict[str, Any], **options: Any) -> SesEvent | None:
    """An SNS POST as an SES event; ``None`` for subscription (un)confirmations (which
    ``sns_post_handle`` confirms for allowed topics)."""
    envelope = parse_sns_envelope(body, **options)
    if envelope.type != "Notification":
        return None
    return parse_ses_event(envelope.message)


# --- Applying an event to its message -----------------------------------------------------------

SES_ACTOR_COMPONENT = "delivery.ses"


@dataclass(frozen=True)
class SesApplied:
    """What ``ses_event_apply`` did: ``matched`` recipients (those that are the message's
    contact), and whether the message bounced / which suppression was added."""

    matched: int = 0
    message_bounced: bool = False
    suppression_reason: str = ""


def ses_event_apply(event: SesEvent) -> SesApplied:
    """Apply an SES bounce or complaint to the campaign message its Message-ID header names,
    with the same services as inbound DSN and ARF reports (``delivery.inbound_feedback``): only
    recipients that are the message's contact count; a Permanent bounce bounces the message and
    suppresses per SES's verdict; a complaint suppresses (``complaint``). Other events, and
    events that name no message of ours, change nothing."""
    from audit.services import system_actor
    from delivery.inbound_feedback import (
        bounce_record,
        complaint_record,
        message_for_ref,
        organisation_for_ref,
        recipient_matching,
    )
    from delivery.mime import message_ref_from_message_id
    from tenants.context import tenant_context

    if event.kind not in ("bounce", "complaint") or not event.message_id_header:
        return SesApplied()
    ref = message_ref_from_message_id(event.message_id_header)
    tenant = organisation_for_ref(ref) if ref is not None else None
    if ref is None or tenant is None:
        return SesApplied()
    actor = system_actor(SES_ACTOR_COMPONENT)
    applied = SesApplied()
    with tenant_context(tenant):
        message = message_for_ref(tenant=tenant, ref=ref)
        if message is None:
            return applied
        for recipient in event.recipients:
            email = recipient_matching(tenant=tenant, message=message, addresses=[recipient.address])
            if email is None:
                continue
            if event.kind == "bounce":
                result = bounce_record(
                    tenant=tenant,
                    actor=actor,
                    message=message,
                    email=email,
                    status=recipient.status or "",
                    permanent=event.bounce_type == "Permanent",
                    via="ses",
                    suppress=recipient.suppress,
                )
            else:
                result = complaint_record(
                    tenant=tenant,
                    actor=actor,
                    message=message,
                    email=email,
                    feedback_type=event.complaint_type or "",
                    via="ses",
                )
            applied = SesApplied(
                applied.matched + 1,
                applied.message_bounced or result.message_bounced,
                applied.suppression_reason or result.suppression_reason,
            )
    return applied


# --- One SNS POST (the endpoint, delivery.ses_views) ---------------------------------------------

CONFIRM_TIMEOUT_SECONDS = 5


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an error: the URL was checked, its target was not


def fetch_subscribe_url(url: str) -> None:
    """GET an SNS ``SubscribeURL`` (checked by the caller) over verified HTTPS, no redirects;
    raises OSError unless SNS answers 200."""
    opener = urllib.request.build_opener(_NoRedirects)
    with opener.open(url, timeout=CONFIRM_TIMEOUT_SECONDS) as response:  # https on sns.<region> only
        response.read(64 * 1024)
        if response.status != 200:
            raise OSError(f"SNS answered {response.status}")


@dataclass(frozen=True)
class SnsHandled:
    """What one SNS POST did: ``kind`` is ``applied`` (an SES bounce or complaint, ``applied``
    says to what), ``ignored`` (another SES event, or a notification that is not SES JSON),
    ``confirmed`` or ``unsubscribed``; ``message_id`` is the SNS MessageId."""

    kind: str
    message_id: str
    event_kind: str = ""
    applied: SesApplied | None = None


def sns_post_handle(
    body: bytes,
    *,
    topic_arns: Iterable[str],
    fetch_cert: Callable[[str], bytes] = fetch_signing_cert,
    fetch_url: Callable[[str], None] = fetch_subscribe_url,
    seen: Callable[[str], bool] = lambda message_id: False,
) -> SnsHandled:
    """Verify one SNS POST (topic, then signature) and act on it. Raises ``SnsUntrusted``
    (unknown topic, bad signature, a certificate or subscribe URL not on SNS), ``SnsError``
    (malformed), or OSError (a confirmation SNS did not accept: SNS sends it again).
    ``seen(message_id)``: an SNS message handled before (SNS may deliver one twice) is not
    applied again."""
    envelope = parse_sns_envelope(body, fetch_cert=fetch_cert, topic_arns=list(topic_arns))
    if envelope.type == "SubscriptionConfirmation":
        url = envelope.subscribe_url or ""
        if not is_sns_subscribe_url(url, envelope.topic_arn):
            raise SnsUntrusted("the subscribe URL is not the topic's SNS confirmation URL")
        fetch_url(url)
        return SnsHandled("confirmed", envelope.message_id)
    if envelope.type == "UnsubscribeConfirmation":
        return SnsHandled("unsubscribed", envelope.message_id)
    if seen(envelope.message_id):
        return SnsHandled("ignored", envelope.message_id, event_kind="duplicate")
    try:
        event = parse_ses_event(envelope.message)
    except SnsError:
        return SnsHandled("ignored", envelope.message_id, event_kind="not_ses")
    if event.kind not in ("bounce", "complaint"):
        return SnsHandled("ignored", envelope.message_id, event_kind=event.kind[:32])
    from django.db import transaction

    with transaction.atomic():  # the bounce or complaint and its suppression, or nothing
        applied = ses_event_apply(event)
    return SnsHandled("applied", envelope.message_id, event_kind=event.kind, applied=applied)


__all__ = [
    "SesApplied",
    "SesEvent",
    "SesRecipient",
    "SesTransport",
    "SnsEnvelope",
    "SnsError",
    "SnsHandled",
    "SnsUntrusted",
    "parse_ses_event",
    "parse_sns_envelope",
    "ses_event_apply",
    "ses_event_from_sns",
    "sns_post_handle",
    "verify_sns_signature",
]
