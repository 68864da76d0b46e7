"""The Amazon SNS endpoint for SES notifications: ``POST /delivery/ses/notifications/``.

Public (SNS has no session and no CSRF token): what makes a POST count is that it comes from a
topic in ``DELIVERY_SES_SNS_TOPIC_ARNS`` and carries a valid SNS signature
(``delivery.ses.sns_post_handle``). With no topic configured the endpoint does not exist (404).

* A bounce or complaint is applied at once to the campaign message its Message-ID names (a few
  queries; SNS wants an answer within seconds). The same SNS message delivered again is not
  applied again.
* A subscription confirmation for an allowed topic is confirmed by fetching its SubscribeURL,
  only when that is the topic's own ``https://sns.<region>.amazonaws.com/`` confirmation URL.
* Refused: anything over ``MAX_BODY_BYTES`` (413), malformed (400), an unknown topic, a bad
  signature, a certificate or subscribe URL not on SNS (403). A client with more than
  ``FAILURES_PER_WINDOW`` refused POSTs in ``FAILURE_WINDOW_SECONDS`` gets 429 for the rest of
  the window, before its body is read.

The body is never logged (bounces name addresses); logs carry the outcome and counts only.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from delivery import ses
from sealpost.request_id import client_ip
from sealpost.window_counter import count_in_window
from tenants.access import public_view

logger = logging.getLogger(__name__)

# SNS messages are at most 256 KiB; the JSON envelope escapes the SES event inside it.
MAX_BODY_BYTES = 512 * 1024
FAILURES_PER_WINDOW = 20
FAILURE_WINDOW_SECONDS = 600
# How long an applied SNS message id is remembered (SNS retries within minutes to hours).
SEEN_SECONDS = 2 * 24 * 3600


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _failure_key(request: HttpRequest) -> str:
    # Hashed, as authn.throttle does: the cache holds no client addresses.
    return f"sealpost:ses-sns:fail:{_digest(client_ip(request) or 'unknown')}"


def _failures(key: str) -> int:
    return int(cache.get(key) or 0)


def _count_failure(key: str) -> None:
    count_in_window(key, FAILURE_WINDOW_SECONDS)


def _seen_key(message_id: str) -> str:
    return f"sealpost:ses-sns:seen:{_digest(message_id)}"


def _seen(message_id: str) -> bool:
    return bool(message_id) and cache.get(_seen_key(message_id)) is not None


def _refuse(key: str, status: int, reason: str) -> HttpResponse:
    _count_failure(key)
    logger.warning("SES notification refused: %s", reason)
    return HttpResponse(reason, status=status, content_type="text/plain")


@public_view
@csrf_exempt  # SNS posts without cookies or a token; the topic allow-list and SNS signature are the authority
@require_POST
def ses_notifications(request: HttpRequest) -> HttpResponse:
    topics = list(getattr(settings, "DELIVERY_SES_SNS_TOPIC_ARNS", []) or [])
    if not topics:
        raise Http404
    key = _failure_key(request)
    if _failures(key) >= FAILURES_PER_WINDOW:
        return HttpResponse("too many refused notifications", status=429, content_type="text/plain")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        return _refuse(key, 413, "too large")
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _refuse(key, 413, "too large")
    try:
        handled = ses.sns_post_handle(
            body,
            topic_arns=topics,
            fetch_cert=ses.fetch_signing_cert,
            fetch_url=ses.fetch_subscribe_url,
            seen=_seen,
        )
    except ses.SnsUntrusted:
        return _refuse(key, 403, "not from an allowed SNS topic")
    except ses.SnsError:
        return _refuse(key, 400, "not an SNS message")
    except OSError:
        logger.warning("SNS subscription confirmation failed; SNS will send it again")
        return HttpResponse("confirmation failed", status=502, content_type="text/plain")
    if handled.kind == "applied" and handled.message_id:
        cache.set(_seen_key(handled.message_id), 1, timeout=SEEN_SECONDS)
    applied = handled.applied
    logger.info(
        "SES notification %s (%s): %d recipient(s) matched, bounced=%s, suppressed=%s",
        handled.kind,
        handled.event_kind or "-",
        applied.matched if applied else 0,
        bool(applied and applied.message_bounced),
        (applied.suppression_reason if applied else "") or "-",
    )
    return HttpResponse("ok", content_type="text/plain")
