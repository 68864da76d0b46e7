"""One message outside a campaign, through the send pipeline's stages: a test send.

``send_single`` does for one already-rendered message what ``delivery.pipeline`` does for each
message of a batch, with the same parts and the same rules:

1. the From domain must be a verified sending domain (its key DKIM-signs the message);
2. a message classified ``phi`` needs the BAA gate's yes;
3. the recipient domain's TLS posture is looked up (probed now if it is not cached: a single
   message runs in a Celery task, where waiting a few seconds for a probe is fine);
4. the protection policy decides (``protection_decide``) exactly as for a campaign message;
   escrow, quarantine and block are **not** sent: the outcome says so (a test send has no
   escrow copy and no quarantine item: it carries sample data, and its sender only needs to know
   what a real message would meet);
5. the message is built (``delivery.mime``), signed and handed to the transport with TLS enforced
   as decided; a verified-TLS failure is never retried in plaintext.

The outcome is what the caller records: ``sent``; ``retry`` (a 4xx, a connection problem, a
posture probe that could not finish) after ``retry_in`` seconds; ``held`` (the policy or the
BAA gate keeps it back); ``failed`` (5xx, an unusable address, no verified sending domain).
Nothing here logs or raises a value that could be PHI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from delivery import posture as posture_module
from delivery.mime import InvalidHeader, build_message
from delivery.pipeline import (
    DOMAIN_REFUSES_DELIVERY,
    INVALID_ADDRESS,
    SENDING_DOMAIN_UNVERIFIED,
    TLS_FAILED,
    default_transport,
    recipient_domain,
    return_path,
    transport_mode,
    with_preheader,
)
from delivery.smtp_replies import Outcome, Status, next_attempt_delay
from delivery.transport import Envelope, SmtpTransport
from encryption.dlp.findings import LEVEL_PHI, Classification
from encryption.protection import BLOCK, ESCROW, QUARANTINE, VERIFIED_TLS, ProtectionDecision, protection_decide
from tenants.context import current_tenant, tenant_context
from tenants.models import Organisation

SENT = "sent"
RETRY = "retry"
HELD = "held"
FAILED = "failed"

POSTURE_UNAVAILABLE = "posture_unavailable"
# Reason codes for what a real message would meet instead of delivery.
HELD_FOR_ESCROW = "would_be_escrowed"
HELD_IN_QUARANTINE = "would_be_quarantined"
BLOCKED = "would_be_blocked"
POSTURE_RETRY_SECONDS = 60


@dataclass(frozen=True)
class SingleMessage:
    """A rendered message for one recipient. ``classification`` is the template-aware DLP
    result for exactly this content; ``purpose`` the consent purpose it is sent for."""

    from_name: str
    from_address: str
    to_address: str
    subject: str
    html: str
    text: str
    message_id: str
    purpose: str
    classification: Classification
    preheader: str = ""
    extra_headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SingleOutcome:
    status: str  # SENT, RETRY, HELD or FAILED
    codes: tuple[str, ...] = ()
    action: str = ""
    level: str = ""
    tls_version: str = ""
    smtp_code: int | None = None
    detail: str = ""
    retry_in: float = 0.0


def send_single(
    *,
    tenant: Organisation,
    message: SingleMessage,
    attempt: int = 1,
    transport: SmtpTransport | None = None,
    now: datetime | None = None,
) -> SingleOutcome:
    """Decide for ``message`` and, if the decision sends, send it (``attempt`` counts from 1,
    for the backoff). Called outside any tenant context: the decision runs inside the tenant,
    the posture probe and the SMTP session outside it, so no transaction waits on the network."""
    if current_tenant() is not None:
        raise RuntimeError("send_single enters the tenant itself; call it outside tenant_context")
    now = now or timezone.now()
    level = message.classification.level
    try:
        domain = posture_module.normalise_domain(recipient_domain(message.to_address))
        known = posture_module.domain_posture(domain)
    except posture_module.InvalidDomain:
        return SingleOutcome(FAILED, (INVALID_ADDRESS,), level=level)
    except OSError:
        return SingleOutcome(RETRY, (POSTURE_UNAVAILABLE,), level=level, retry_in=POSTURE_RETRY_SECONDS)
    with tenant_context(tenant):
        planned = _plan(tenant, message, known, now)
    if isinstance(planned, SingleOutcome):
        return planned
    envelope, decision = planned
    outcome = (transport or default_transport()).send(envelope)
    return _after_transport(outcome, decision.action, decision.codes, level, attempt)


def _plan(
    tenant: Organisation, message: SingleMessage, known: posture_module.TlsPosture, now: datetime
) -> SingleOutcome | tuple[Envelope, ProtectionDecision]:
    """Inside the tenant: the sending key, the BAA gate, the policy's decision and the signed
    envelope, or the outcome that stops the message here."""
    level = message.classification.level
    key = _sending_key(tenant, message.from_address)
    if key is None:
        return SingleOutcome(FAILED, (SENDING_DOMAIN_UNVERIFIED,), level=level)
    refused = _baa_refusal(tenant, level, now)
    if refused is not None:
        return refused
    if known.delivery_refused:
        return SingleOutcome(HELD, (DOMAIN_REFUSES_DELIVERY, BLOCKED), action=BLOCK, level=level)
    decision = _decide(tenant, message, known)
    held = _held(decision.action, decision.codes, level)
    if held is not None:
        return held
    try:
        data = _build(message, now)
    except InvalidHeader:
        return SingleOutcome(FAILED, (INVALID_ADDRESS,), action=decision.action, level=level)
    envelope = Envelope(
        mail_from=return_path(message.from_address),
        rcpt_to=message.to_address,
        data=key.sign(data),
        tls=transport_mode(decision.action),  # type: ignore[arg-type]
        domain=known.domain,
        mx_patterns=known.mx_patterns if known.mta_sts_mode == "enforce" else (),
        dane=known.dane,
    )
    return envelope, decision


def _sending_key(tenant: Organisation, from_address: str):  # type: ignore[no-untyped-def]
    from delivery.sending_domains import SendingDomainNotVerified, sending_domain_key

    try:
        return sending_domain_key(tenant=tenant, domain=recipient_domain(from_address))
    except SendingDomainNotVerified:
        return None


def _baa_refusal(tenant: Organisation, level: str, now: datetime) -> SingleOutcome | None:
    if level != LEVEL_PHI:
        return None
    from baa.gate import phi_sending_decision

    gate = phi_sending_decision(tenant=tenant, phi=True, at=now)
    if gate.allowed:
        return None
    return SingleOutcome(HELD, (f"baa_{gate.code}",), action=BLOCK, level=level)


def _decide(tenant: Organisation, message: SingleMessage, known: posture_module.TlsPosture) -> ProtectionDecision:
    from consent.purposes import purpose_get
    from encryption.selectors import protection_policy_for

    return protection_decide(
        policy=protection_policy_for(tenant=tenant).settings(),
        classification=message.classification,
        purpose=purpose_get(tenant=tenant, key=message.purpose, allow_archived=True),
        posture=posture_module.policy_posture(known),
        accepts_unencrypted_phi=False,
        released=False,
    )


def _held(action: str, codes: tuple[str, ...], level: str) -> SingleOutcome | None:
    instead = {BLOCK: BLOCKED, QUARANTINE: HELD_IN_QUARANTINE, ESCROW: HELD_FOR_ESCROW}.get(action)
    if instead is None:
        return None
    return SingleOutcome(HELD, (*codes, instead), action=action, level=level)


def _build(message: SingleMessage, now: datetime) -> bytes:
    return build_message(
        from_name=message.from_name,
        from_address=message.from_address,
        to_address=message.to_address,
        subject=message.subject,
        html=with_preheader(message.html, message.preheader),
        text=message.text,
        message_id=message.message_id,
        list_unsubscribe_url=None,
        extra_headers=message.extra_headers,
        date=now,
    )


def _after_transport(outcome: Outcome, action: str, codes: tuple[str, ...], level: str, attempt: int) -> SingleOutcome:
    if outcome.status == Status.SENT:
        return _result(SENT, codes, outcome, action, level)
    if outcome.status == Status.TLS_FAILED:
        if level == LEVEL_PHI or action == VERIFIED_TLS:  # never again in plaintext
            return _result(HELD, (*codes, TLS_FAILED, HELD_FOR_ESCROW), outcome, action, level)
        return _result(RETRY, (*codes, TLS_FAILED), outcome, action, level, retry_in=next_attempt_delay(attempt))
    if outcome.status == Status.DEFERRED:
        return _result(RETRY, codes, outcome, action, level, retry_in=next_attempt_delay(attempt))
    # Bounced, or unknown (the server took the final dot and never answered): a test is not
    # resent blindly either.
    return _result(FAILED, (*codes, outcome.status.value), outcome, action, level)


def _result(
    status: str, codes: tuple[str, ...], outcome: Outcome, action: str, level: str, *, retry_in: float = 0.0
) -> SingleOutcome:
    return SingleOutcome(
        status,
        codes,
        action=action,
        level=level,
        tls_version=outcome.tls_version or "",
        smtp_code=outcome.code,
        detail=outcome.detail,
        retry_in=retry_in,
    )
