"""The send pipeline: one batch of a launched campaign, from claim to recorded outcome.

``send_batch`` is what the Celery task ``delivery.send_batch`` runs (docs/delivery-pipeline.md):

1. **claim** up to ``BATCH_SIZE`` due messages with a lease (``campaigns.messages.messages_claim``;
   compare-and-set, ``FOR UPDATE SKIP LOCKED``), committed at once;
2. **re-check** consent and suppression for the batch in one query (``messages_skip_revoked``);
3. **prepare**, inside the tenant: load the contacts (their PHI is decrypted here and stays in
   memory), render the pinned template version in each contact's language, classify
   template-aware (the template was scanned once; only merge values are scanned), look up each
   recipient domain's TLS posture (unknown → the domain's messages wait a little while a probe
   runs; refused → blocked), and decide the protection per message. Messages that will not be
   sent now are moved in bulk: blocked, quarantined (``quarantine_hold`` stores them encrypted),
   held for escrow, deferred. A message a compliance officer released from quarantine (queued
   again by ``encryption.quarantine``) is decided with ``released=True`` only while it renders
   as reviewed (its freshly issued links aside); otherwise it is held again
   (``released_content_changed``);
4. **transport** the rest with TLS enforced as decided (``verified`` or ``opportunistic``),
   DKIM-signed with the tenant's sending-domain key, with ``List-Unsubscribe`` and
   ``List-Unsubscribe-Post`` and the opaque, reversible Message-ID of ``delivery.mime.
   message_id_for`` (``message_ref_from_message_id`` maps a bounce's Message-ID back to the
   organisation and message row). Messages meeting the transport for the first time get
   ``first_attempt_at`` first. After each body and before its final ``"."`` the hand-off is
   **committed** (``messages_handed_off_committed``, one round trip for the few messages the
   transport has in flight); if it cannot be (the lease was lost) that dot is never sent;
5. **record** the outcomes in bulk (sent, deferred with backoff or bounced past the give-up
   period counted from the message's own ``first_attempt_at``, bounced and suppressed for
   5.1.x, unknown, TLS failure → the policy again), one audit event per batch (counts and
   codes, never PHI).

A crash anywhere leaves each message either not handed off (its lease expires and another
worker claims it) or handed off (its lease expires and the next claim moves it to ``unknown``):
never sent twice. Nothing in here logs, raises or audits a value that could be PHI; task
arguments are ids.
"""

from __future__ import annotations

import html as html_lib
import logging
import os
import socket
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import Http404
from django.utils import timezone

from audit.services import EventInput, Target, record_many, system_actor
from campaigns.messages import (
    messages_claim,
    messages_first_attempt,
    messages_handed_off_committed,
    messages_mark_many,
    messages_renew_lease,
    messages_skip_revoked,
)
from campaigns.models import Campaign, CampaignKind, Message, MessageStatus
from delivery import posture as posture_module
from delivery.mime import InvalidHeader, build_message, message_id_for
from delivery.smtp_replies import Outcome, Status, give_up_after, next_attempt_delay
from delivery.transport import Envelope
from delivery.transports import Transport, configured_transport
from encryption.dlp.findings import LEVEL_PHI, Classification
from encryption.protection import (
    BLOCK,
    ESCROW,
    QUARANTINE,
    STANDARD,
    VERIFIED_TLS,
    ProtectionDecision,
    protection_decide,
)
from tenants.context import tenant_context
from tenants.models import Organisation
from tenants.tasks import UnknownTenant, organisation_for_task

logger = logging.getLogger(__name__)

S = MessageStatus

# A batch: enough to amortise the per-batch work (policy, posture, audit), small enough that
# a crashed worker strands little and a lease covers it comfortably.
BATCH_SIZE = 500
# How long a claim holds its messages; renewed every third of it while a batch is still busy.
LEASE_SECONDS = 300
# Outcomes are recorded after every this many messages: a crash leaves at most these unknown.
SEND_CHUNK = 50
# A domain without a fresh posture: its messages wait this long while a probe runs.
POSTURE_WAIT_SECONDS = 60
# A sending domain that is no longer verified: its messages wait this long.
SENDING_DOMAIN_WAIT_SECONDS = 600
MAX_OWNER = 64

PIPELINE_ACTOR = system_actor("delivery.pipeline")
BATCH_ACTION = "delivery.batch_processed"

# Reason codes the pipeline adds to a message (never text, never PHI).
ESCROW_NOTICE = "escrow_notice"  # the message is in escrow; its notice is what was sent
ESCROW_WITHDRAWN = "escrow_withdrawn"  # retracted (or expired) before its notice went
POSTURE_PENDING = "posture_pending"
DOMAIN_REFUSES_DELIVERY = "domain_refuses_delivery"
SENDING_DOMAIN_UNVERIFIED = "sending_domain_unverified"
RENDER_FAILED = "render_failed"
PREPARE_FAILED = "prepare_failed"
INVALID_ADDRESS = "invalid_address"
TLS_FAILED = "tls_failed"
GAVE_UP = "gave_up"
# Released from quarantine, but what renders now is not what the officer reviewed: held again.
RELEASED_CONTENT_CHANGED = "released_content_changed"


def worker_owner(task_id: str | None) -> str:
    """The lease owner of one task run: host, process and task id (at most 64 characters)."""
    host = socket.gethostname().split(".")[0][:16]
    owner = f"{host}:{os.getpid()}:{task_id or 'direct'}"
    return owner[:MAX_OWNER]


# --- The transport, one per worker process ------------------------------------------------------

_transport: Transport | None = None
_transport_lock = threading.Lock()


def default_transport() -> Transport:
    """One transport per process (``DELIVERY_TRANSPORT``): its pooled connections are reused across batches."""
    global _transport
    with _transport_lock:
        if _transport is None:
            _transport = configured_transport()
        return _transport


# --- A clock that can travel (tests pass ``now``) ------------------------------------------------


class Clock:
    """``now`` shifted by a fixed offset: a test that passes ``now`` keeps it moving forward."""

    def __init__(self, now: datetime | None) -> None:
        self.offset = (now - timezone.now()) if now is not None else timedelta(0)

    def __call__(self) -> datetime:
        return timezone.now() + self.offset


# --- Results -------------------------------------------------------------------------------------


@dataclass
class BatchResult:
    claimed: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    found: bool = True  # False: no such campaign for this tenant (or not launched)

    @property
    def full(self) -> bool:
        return self.claimed >= BATCH_SIZE


@dataclass
class Planned:
    """One claimed message after preparation. ``envelope`` is set when it is to be sent."""

    message_id: int
    status: str  # where it goes now (SENDING: to the transport)
    codes: tuple[str, ...] = ()
    action: str = ""
    level: str = ""
    next_attempt_at: datetime | None = None
    envelope: Envelope | None = None
    email: str = ""
    domain: str = ""
    first_attempt_at: datetime | None = None
    attempts: int = 1
    escrow_id: Any = None  # an escrow notice: the escrowed message it announces


# --- Preparation (pure where it can be) ----------------------------------------------------------


def recipient_domain(email: str) -> str:
    return email.rpartition("@")[2].strip().rstrip(".").lower()


def return_path(from_address: str) -> str:
    """The envelope sender: ``DELIVERY_RETURN_PATH`` (a bounce address whose MX is Sealpost's
    inbound listener) when set, else the message's From address."""
    return str(getattr(settings, "DELIVERY_RETURN_PATH", "") or from_address)


def transport_mode(action: str) -> str:
    """The envelope's TLS mode for a protection action that sends."""
    if action == VERIFIED_TLS:
        return "verified"
    if action == STANDARD:
        return "opportunistic"
    raise ValueError(f"{action!r} is not sent by the transport")


def merge_values(
    catalogue: dict[str, Any], contact_values: dict[str, Any], links: dict[str, str], campaign_name: str
) -> dict[str, Any]:
    """Every merge field of the catalogue with the recipient's value: a broadcast carries no
    event, so ``event.*`` fields are empty (never the previews' sample values); a message
    enqueued with event data (``campaigns.sending``) gets its values from ``message_event_values``
    on top of these."""
    values: dict[str, Any] = {}
    for name, merge_field in catalogue.items():
        values[name] = [] if merge_field.kind == "list" else ""
    values.update({name: value for name, value in contact_values.items() if name in catalogue})
    values["links.preferences"] = links["preferences"]
    values["links.unsubscribe"] = links["unsubscribe"]
    values["campaign.name"] = campaign_name
    return values


def header_unsubscribe_url(url: str) -> str:
    """RFC 8058 needs HTTPS. Production's SITE_URL is HTTPS; a development one on plain HTTP is
    given as HTTPS in the header only (the body's link keeps working), so ``make run`` sends."""
    if url.startswith("https://"):
        return url
    if getattr(settings, "PRODUCTION", False):
        raise InvalidHeader("SITE_URL must be an https:// URL for List-Unsubscribe")
    return "https://" + url.split("://", 1)[-1]


def with_preheader(html: str, preheader: str) -> str:
    if not preheader:
        return html
    hidden = f'<div style="display:none;max-height:0;overflow:hidden">{html_lib.escape(preheader)}</div>'
    return hidden + html


# --- The batch -----------------------------------------------------------------------------------


def _load(tenant_id: int, campaign_id: str) -> tuple[Organisation, Campaign] | None:
    try:
        tenant = organisation_for_task(tenant_id)
    except UnknownTenant:
        return None
    from campaigns.selectors import campaign_get

    with tenant_context(tenant):
        try:
            campaign = campaign_get(tenant=tenant, campaign_id=campaign_id)
        except Http404:
            return None
    if campaign.template_version_id is None:
        return None
    return tenant, campaign


def send_batch(
    *,
    tenant_id: int,
    campaign_id: str,
    owner: str,
    now: datetime | None = None,
    transport: Any = None,
    batch_size: int = BATCH_SIZE,
    lease_seconds: int = LEASE_SECONDS,
) -> BatchResult:
    """Claim, prepare, send and record one batch of ``campaign_id`` for ``owner``. A campaign
    that is not ``tenant_id``'s does nothing (``found=False``)."""
    loaded = _load(tenant_id, campaign_id)
    if loaded is None:
        return BatchResult(found=False)
    tenant, campaign = loaded
    clock = Clock(now)
    result = BatchResult()
    with tenant_context(tenant):
        ids = messages_claim(
            tenant=tenant, campaign=campaign, owner=owner, limit=batch_size, lease_seconds=lease_seconds, now=clock()
        )
    result.claimed = len(ids)
    if not ids:
        return result
    with tenant_context(tenant):
        skipped = set(messages_skip_revoked(tenant=tenant, campaign=campaign, ids=ids, owner=owner, now=clock()))
        if skipped:
            result.counts["skipped"] += len(skipped)
        planned = _prepare(tenant, campaign, [i for i in ids if i not in skipped], owner, clock)
        _apply_holds(tenant, campaign, planned, owner, clock, result)
    to_send = [p for p in planned if p.status == S.SENDING and p.envelope is not None]
    _stamp_first_attempts(tenant, to_send, owner, clock)
    if to_send:
        keeper = LeaseKeeper(tenant, [p.message_id for p in to_send], owner, lease_seconds, clock)
        keeper.start()
        try:
            _send_in_chunks(tenant, campaign, to_send, owner, clock, transport or default_transport(), result)
        finally:
            keeper.stop()
    with tenant_context(tenant):
        for domain in sorted({p.domain for p in to_send}):
            posture_module.recipient_domain_touch(tenant=tenant, domain=domain, now=clock())
        _audit(tenant, campaign, result, planned)
    return result


def _stamp_first_attempts(
    tenant: Organisation, to_send: list[Planned], owner: str, clock: Callable[[], datetime]
) -> None:
    """The messages meeting the transport for the first time get ``first_attempt_at`` (one
    UPDATE, committed before any is sent): the give-up period counts from it, not from the
    campaign's start."""
    first_timers = [p for p in to_send if p.first_attempt_at is None]
    if not first_timers:
        return
    now = clock()
    with tenant_context(tenant):
        messages_first_attempt(
            tenant=tenant,
            ids=[p.message_id for p in first_timers],
            owner=owner,
            now=now,
            domains={p.message_id: p.domain for p in first_timers},
        )
    for p in first_timers:
        p.first_attempt_at = now


def _send_in_chunks(
    tenant: Organisation,
    campaign: Campaign,
    to_send: list[Planned],
    owner: str,
    clock: Callable[[], datetime],
    transport: Any,
    result: BatchResult,
) -> None:
    """Send ``SEND_CHUNK`` envelopes at a time and record their outcomes after each chunk, so a
    crash leaves at most one chunk's handed-off messages ``unknown``. A domain whose MX could
    not be reached (or gave no verified TLS) is not tried again in this batch: its remaining
    messages get the same outcome without a connection."""
    host_failures: dict[str, Outcome] = {}
    for start in range(0, len(to_send), SEND_CHUNK):
        chunk = to_send[start : start + SEND_CHUNK]
        trying = [p for p in chunk if p.domain not in host_failures]
        outcomes = dict(
            zip((p.message_id for p in trying), _transmit(tenant, trying, owner, clock, transport), strict=True)
        )
        for p in trying:
            outcome = outcomes[p.message_id]
            if outcome.code is None and outcome.status in (Status.DEFERRED, Status.TLS_FAILED):
                host_failures.setdefault(p.domain, outcome)
        for p in chunk:
            if p.message_id not in outcomes:
                outcomes[p.message_id] = host_failures[p.domain]
        with tenant_context(tenant):
            _apply_outcomes(tenant, campaign, chunk, [outcomes[p.message_id] for p in chunk], owner, clock, result)


def _prepare(
    tenant: Organisation, campaign: Campaign, ids: Sequence[int], owner: str, clock: Callable[[], datetime]
) -> list[Planned]:
    """Render, classify and decide for each still-claimed message (inside the tenant)."""
    from campaigns.sending import message_event_values
    from consent.links import preference_centre_url, unsubscribe_url
    from consent.models import ContactPreferences
    from consent.purposes import purpose_get
    from delivery.sending_domains import SendingDomainNotVerified, sending_domain_key
    from encryption.dlp.template_aware import classify_recipient, content_profile, recipient_plan
    from encryption.models import QuarantinedMessage, QuarantineSource, QuarantineStatus
    from encryption.selectors import protection_policy_for
    from reporting.tracking import tracking_plan
    from segments.models import Contact
    from templates.context import contact_values, render_context
    from templates.fields import merge_fields
    from templates.rendering import RenderError
    from templates.selectors import content_for_language, render_content, version_contents

    if not ids:
        return []
    rows = list(
        Message.objects.for_tenant(tenant)
        .filter(campaign_id=campaign.pk, id__in=ids, status=S.SENDING, lease_owner=owner)
        .values_list("id", "contact_id", "first_attempt_at", "attempts")
    )
    contacts = {c.pk: c for c in Contact.objects.for_tenant(tenant).filter(pk__in=[r[1] for r in rows if r[1]])}
    events = _event_rows(tenant, campaign, [r[0] for r in rows])
    accepts = set(
        ContactPreferences.objects.for_tenant(tenant)
        .filter(contact_id__in=list(contacts), accepts_unencrypted_phi=True)
        .values_list("contact_id", flat=True)
    )
    # A message's latest quarantine item decides: released (and, below, still the same content).
    latest: dict[str, Any] = {}
    for item in (
        QuarantinedMessage.objects.for_tenant(tenant)
        .filter(source=QuarantineSource.CAMPAIGN, source_ref__in=[str(r[0]) for r in rows])
        .order_by("created_at", "pk")
    ):
        latest[item.source_ref] = item
    released = {ref: item for ref, item in latest.items() if item.status == QuarantineStatus.RELEASED}
    version = campaign.template_version
    if version is None:  # _load refuses such a campaign; never send an unpinned one
        return []
    contents = version_contents(tenant=tenant, version=version)
    catalogue = merge_fields(tenant=tenant)
    policy = protection_policy_for(tenant=tenant).settings()
    purpose = purpose_get(tenant=tenant, key=campaign.purpose, allow_archived=True)
    # Open pixel and tracked links, when the switches allow (never escrow notices: see below).
    tracking = tracking_plan(tenant=tenant, campaign=campaign, version=version, contents=contents)
    plans: dict[str, Any] = {}
    postures: dict[str, Any] = {}
    baa: Any = None
    try:
        dkim_key: Any = sending_domain_key(tenant=tenant, domain=campaign.from_domain)
    except SendingDomainNotVerified:
        dkim_key = None
    now = clock()
    out: list[Planned] = []
    for message_id, contact_id, first, attempts in rows:
        try:
            contact = contacts.get(contact_id)
            if contact is None:  # removed after the skip check
                out.append(Planned(message_id, S.SKIPPED, ("contact_removed",)))
                continue
            if dkim_key is None:
                out.append(
                    Planned(
                        message_id,
                        S.DEFERRED,
                        (SENDING_DOMAIN_UNVERIFIED,),
                        next_attempt_at=now + timedelta(seconds=SENDING_DOMAIN_WAIT_SECONDS),
                    )
                )
                continue
            email = contact.email
            domain = recipient_domain(email)
            # Sealed links naming the message too, so an unsubscribe counts for this campaign.
            links = {
                "preferences": preference_centre_url(tenant=tenant, contact=contact, message_id=message_id),
                "unsubscribe": unsubscribe_url(
                    tenant=tenant, contact=contact, purpose=campaign.purpose, message_id=message_id
                ),
            }
            values = merge_values(catalogue, contact_values(contact, tenant), links, campaign.name)
            # The message's own event.* values (PHI by the catalogue: template-aware DLP sees them).
            if message_id in events:  # decrypted here: an undecryptable row fails alone
                values.update(
                    {k: v for k, v in message_event_values(events[message_id].event_data).items() if k in catalogue}
                )
            content = content_for_language(contents, contact.language, version.default_language)
            try:
                rendered = render_content(
                    content, render_context(catalogue, values=values), version_key=str(version.pk)
                )
            except RenderError:
                out.append(Planned(message_id, S.FAILED, (RENDER_FAILED,)))
                continue
            plan = plans.get(content.language)
            if plan is None:
                plan = plans[content.language] = recipient_plan(
                    content_profile(version=version, content=content), catalogue
                )
            classification: Classification = classify_recipient(plan, values)
            level = classification.level
            if level == LEVEL_PHI:
                if baa is None:
                    from baa.gate import phi_sending_decision

                    baa = phi_sending_decision(tenant=tenant, phi=True, at=now)
                if not baa.allowed:
                    out.append(Planned(message_id, S.BLOCKED, (f"baa_{baa.code}",), action=BLOCK, level=level))
                    continue
            if domain not in postures:
                try:
                    postures[domain] = posture_module.posture_or_schedule(domain)
                except posture_module.InvalidDomain:
                    postures[domain] = "invalid"
            known = postures[domain]
            if known == "invalid":
                out.append(Planned(message_id, S.FAILED, (INVALID_ADDRESS,), level=level))
                continue
            if known is None:
                out.append(
                    Planned(
                        message_id,
                        S.DEFERRED,
                        (POSTURE_PENDING,),
                        level=level,
                        next_attempt_at=now + timedelta(seconds=POSTURE_WAIT_SECONDS),
                    )
                )
                continue
            if known.delivery_refused:
                out.append(Planned(message_id, S.BLOCKED, (DOMAIN_REFUSES_DELIVERY,), action=BLOCK, level=level))
                continue
            review = released.get(str(message_id))
            changed = review is not None and not _same_as_reviewed(review, rendered, links)
            decision = protection_decide(
                policy=policy,
                classification=classification,
                purpose=purpose,
                posture=posture_module.policy_posture(known),
                accepts_unencrypted_phi=contact.pk in accepts,
                released=review is not None and not changed,
            )
            codes = (*decision.codes, RELEASED_CONTENT_CHANGED) if changed else decision.codes
            if decision.action == BLOCK:
                out.append(Planned(message_id, S.BLOCKED, codes, action=BLOCK, level=level))
            elif decision.action == QUARANTINE:
                item = Planned(message_id, S.QUARANTINED, codes, action=QUARANTINE, level=level)
                item.envelope = None
                _quarantine(tenant, campaign, contact, rendered, decision, message_id)
                out.append(item)
            elif decision.action == ESCROW:
                out.append(
                    _escrow_notice(
                        tenant,
                        campaign,
                        contact,
                        rendered,
                        Planned(
                            message_id,
                            S.SENDING,
                            codes,
                            action=ESCROW,
                            level=level,
                            email=email,
                            domain=domain,
                            first_attempt_at=first,
                            attempts=attempts,
                        ),
                        links=links,
                        dkim_key=dkim_key,
                        known=known,
                        now=now,
                    )
                )
            else:
                try:
                    envelope = _campaign_envelope(
                        tenant,
                        campaign,
                        contact,
                        message_id=message_id,
                        email=email,
                        subject=rendered.subject,
                        html=tracking.apply(
                            with_preheader(rendered.html, rendered.preheader),
                            message_id=message_id,
                            contact=contact,
                            level=level,
                        ),
                        text=rendered.text,
                        links=links,
                        dkim_key=dkim_key,
                        known=known,
                        tls=transport_mode(decision.action),
                        now=now,
                    )
                except InvalidHeader:
                    out.append(Planned(message_id, S.FAILED, (INVALID_ADDRESS,), action=decision.action, level=level))
                    continue
                out.append(
                    Planned(
                        message_id,
                        S.SENDING,
                        codes,
                        action=decision.action,
                        level=level,
                        envelope=envelope,
                        email=email,
                        domain=domain,
                        first_attempt_at=first,
                        attempts=attempts,
                    )
                )
        except DatabaseError:
            raise
        except Exception as exc:  # one bad row (undecryptable, unexpected data) fails alone
            logger.warning("message %s could not be prepared (%s)", message_id, type(exc).__name__)
            out.append(Planned(message_id, S.FAILED, (PREPARE_FAILED,)))
    return out


def _event_rows(tenant: Organisation, campaign: Campaign, ids: Sequence[int]) -> dict[int, Message]:
    """The messages that carry event data (still encrypted: ``message_event_values`` of their
    ``event_data`` decrypts, inside the tenant); a broadcast's carry none: no query for them."""
    if campaign.kind == CampaignKind.BROADCAST or not ids:
        return {}
    rows = (
        Message.objects.for_tenant(tenant)
        .filter(campaign_id=campaign.pk, id__in=list(ids), event_data__isnull=False)
        .only("id", "tenant_id", "event_data")
    )
    return {row.pk: row for row in rows}


def _same_as_reviewed(item: Any, rendered: Any, links: dict[str, str]) -> bool:
    """Whether a released quarantine item is what renders now: a release approves the content
    the officer read, not whatever the contact's data makes of the template later. The
    recipient's own preference and unsubscribe links carry the time they were issued
    (``consent.links``), so they are compared by what they name, not by their issue time."""
    from consent.links import without_link_times

    stored = (item.subject, item.text, item.html)
    now = (rendered.subject, rendered.text, rendered.html)
    return all(without_link_times(a or "") == without_link_times(b or "") for a, b in zip(stored, now, strict=True))


def _campaign_envelope(
    tenant: Organisation,
    campaign: Campaign,
    contact: Any,
    *,
    message_id: int,
    email: str,
    subject: str,
    html: str,
    text: str,
    links: dict[str, str],
    dkim_key: Any,
    known: Any,
    tls: str,
    now: datetime,
) -> Envelope:
    """One campaign message (or escrow notice) for one recipient: the campaign's sender, the
    sealed Message-ID, RFC 8058 unsubscribe headers, DKIM-signed, routed as the domain's
    posture allows (MTA-STS ``mx`` patterns under enforce, DANE). Raises InvalidHeader."""
    from consent.links import mailto_address

    data = build_message(
        from_name=campaign.from_name,
        from_address=campaign.from_address,
        to_address=email,
        subject=subject,
        html=html,
        text=text,
        message_id=message_id_for(tenant_id=tenant.pk, message_row_id=message_id, domain=campaign.from_domain),
        list_unsubscribe_url=header_unsubscribe_url(links["unsubscribe"]),
        list_unsubscribe_mailto=(
            "mailto:"
            + mailto_address(tenant=tenant, contact=contact, purpose=campaign.purpose)
            + "?subject=unsubscribe"
        ),
        reply_to=campaign.reply_to or None,
        date=now,
    )
    return Envelope(
        mail_from=return_path(campaign.from_address),
        rcpt_to=email,
        data=dkim_key.sign(data),
        tls=tls,  # type: ignore[arg-type]
        domain=recipient_domain(email),
        ref=message_id,
        mx_patterns=known.mx_patterns if known.mta_sts_mode == "enforce" else (),
        dane=known.dane and tls == "verified",
    )


def _escrow_notice(
    tenant: Organisation,
    campaign: Campaign,
    contact: Any,
    rendered: Any,
    planned: Planned,
    *,
    links: dict[str, str],
    dkim_key: Any,
    known: Any,
    now: datetime,
) -> Planned:
    """Escrow decided: the rendered message is stored encrypted (``encryption.escrow``; a
    message stored before gets a new link) and the PHI-free notice with the link goes instead,
    signed like any campaign message, over whatever TLS the server offers (it carries no PHI).
    A message its sender retracted before the notice went is blocked."""
    from encryption.escrow import EscrowUnavailable, escrow_notice, escrow_store

    try:
        stored = escrow_store(
            tenant=tenant,
            recipient_email=planned.email,
            from_name=campaign.from_name,
            from_address=campaign.from_address,
            subject=rendered.subject,
            html=rendered.html,
            text=rendered.text,
            level=planned.level,
            contact=contact,
            campaign=campaign,
            message_id=planned.message_id,
            now=now,
        )
    except EscrowUnavailable:
        return Planned(planned.message_id, S.BLOCKED, (*planned.codes, ESCROW_WITHDRAWN), action=ESCROW)
    notice = escrow_notice(
        tenant=tenant, escrow=stored.escrow, token=stored.token, unsubscribe_url=links["unsubscribe"]
    )
    try:
        planned.envelope = _campaign_envelope(
            tenant,
            campaign,
            contact,
            message_id=planned.message_id,
            email=planned.email,
            subject=notice.subject,
            html=notice.html,
            text=notice.text,
            links=links,
            dkim_key=dkim_key,
            known=known,
            tls="opportunistic",  # the notice carries no PHI
            now=now,
        )
    except InvalidHeader:
        return Planned(planned.message_id, S.FAILED, (INVALID_ADDRESS,), action=ESCROW, level=planned.level)
    planned.codes = (*planned.codes, ESCROW_NOTICE)
    planned.escrow_id = stored.escrow.pk
    return planned


def _quarantine(
    tenant: Organisation, campaign: Campaign, contact: Any, rendered: Any, decision: ProtectionDecision, message_id: int
) -> None:
    """Store the rendered message for review, encrypted; its findings are offsets into the text,
    so the text is classified in full here (quarantine is rare)."""
    from encryption.dlp import classify
    from encryption.quarantine import quarantine_hold

    quarantine_hold(
        tenant=tenant,
        contact=contact,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        classification=classify(rendered.text),
        decision=decision,
        source_ref=str(message_id),
        purpose=campaign.purpose,
        actor=PIPELINE_ACTOR,
    )


def _group_key(p: Planned) -> tuple[Any, ...]:
    return (p.status, p.codes, p.action, p.level, p.next_attempt_at)


def _mark_groups(
    tenant: Organisation,
    items: Iterable[Planned],
    owner: str,
    clock: Callable[[], datetime],
    *,
    from_status: str = S.SENDING,
    extra: Callable[[Planned], dict[str, Any]] | None = None,
) -> list[int]:
    """Move ``items`` to their ``status`` in as few UPDATEs as there are distinct (status,
    codes, action, level, retry time) groups. Returns the ids that moved."""
    groups: dict[tuple[Any, ...], list[Planned]] = defaultdict(list)
    for p in items:
        key = (*_group_key(p), tuple(sorted((extra(p) if extra else {}).items())))
        groups[key].append(p)
    moved: list[int] = []
    for key, members in groups.items():
        status, codes, action, level, retry_at, extra_items = key
        fields: dict[str, Any] = {"reason_codes": list(codes), "protection_action": action, "level": level}
        fields.update(dict(extra_items))
        if status == S.DEFERRED:
            fields["next_attempt_at"] = retry_at
        moved += messages_mark_many(
            tenant=tenant,
            ids=[p.message_id for p in members],
            owner=owner,
            from_status=from_status,
            to_status=status,
            now=clock(),
            domains={p.message_id: p.domain for p in members if p.domain},
            **fields,
        )
    return moved


def _apply_holds(
    tenant: Organisation,
    campaign: Campaign,
    planned: list[Planned],
    owner: str,
    clock: Callable[[], datetime],
    result: BatchResult,
) -> None:
    """Everything that is not sent now moves in bulk (inside the caller's tenant transaction)."""
    held = [p for p in planned if p.status != S.SENDING]
    moved = set(_mark_groups(tenant, held, owner, clock))
    for p in held:
        if p.message_id in moved:
            result.counts[_count_name(p)] += 1


def _count_name(p: Planned) -> str:
    return str(p.status)


# --- Transport -----------------------------------------------------------------------------------


class LeaseLost(RuntimeError):
    """The hand-off could not be recorded: another worker holds the message now. Not sent."""


def _transmit(
    tenant: Organisation, items: list[Planned], owner: str, clock: Callable[[], datetime], transport: Any
) -> list[Outcome]:
    def on_handed_off_many(envelopes: Sequence[Envelope]) -> list[bool]:
        # Its own committed transaction, after the bodies and before their final dots: a crash
        # from here on leaves these messages handed off, and their lease expiry makes them
        # ``unknown``, never a resend. A message whose lease was lost gets no dot.
        ids = [int(envelope.ref) for envelope in envelopes]
        recorded = set(messages_handed_off_committed(tenant=tenant, ids=ids, owner=owner, now=clock()))
        return [message_id in recorded for message_id in ids]

    def on_handed_off(envelope: Envelope) -> None:
        if not on_handed_off_many([envelope])[0]:
            raise LeaseLost("lease lost before hand-off")

    envelopes = [p.envelope for p in items if p.envelope is not None]
    if getattr(transport, "lanes", 1) > 1:  # SmtpTransport: several messages in flight at once
        return list(transport.send_batch(envelopes, on_handed_off_many=on_handed_off_many))
    return list(transport.send_batch(envelopes, on_handed_off=on_handed_off))


class LeaseKeeper:
    """Renews the batch's leases every third of their length while the transport works (a slow
    MX can hold a batch for minutes), on its own database connection."""

    def __init__(
        self, tenant: Organisation, ids: list[int], owner: str, lease_seconds: int, clock: Callable[[], datetime]
    ) -> None:
        self.tenant, self.ids, self.owner, self.lease_seconds, self.clock = tenant, ids, owner, lease_seconds, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
        self.renewals = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        interval = max(1.0, self.lease_seconds / 3)
        try:
            while not self._stop.wait(interval):
                with tenant_context(self.tenant):
                    held = messages_renew_lease(
                        tenant=self.tenant,
                        ids=self.ids,
                        owner=self.owner,
                        lease_seconds=self.lease_seconds,
                        now=self.clock(),
                    )
                self.renewals += 1
                if not held:
                    return
        except Exception as exc:  # the claim still expires safely; never PHI in the log
            logger.warning("lease renewal failed (%s)", type(exc).__name__)
        finally:
            connection.close()  # this thread's own connection


# --- Outcomes ------------------------------------------------------------------------------------


def _apply_outcomes(
    tenant: Organisation,
    campaign: Campaign,
    items: list[Planned],
    outcomes: list[Outcome],
    owner: str,
    clock: Callable[[], datetime],
    result: BatchResult,
) -> None:
    from consent.models import ConsentSource, SuppressionReason
    from consent.services import suppression_add

    now = clock()
    final: list[_Final] = []
    suppress: list[Planned] = []
    for p, outcome in zip(items, outcomes, strict=True):
        smtp = {"smtp_code": outcome.code, "smtp_enhanced": outcome.enhanced or ""}
        if outcome.status == Status.SENT:
            # The protocol the accepted message went over (compliance reports show it).
            smtp["tls_version"] = (outcome.tls_version or "")[:16]
            final.append(_with(p, S.ESCROWED if p.escrow_id is not None else S.SENT, smtp=smtp))
        elif outcome.status == Status.UNKNOWN:
            final.append(_with(p, S.UNKNOWN, smtp=smtp))
        elif outcome.status == Status.BOUNCED:
            final.append(_with(p, S.BOUNCED, smtp=smtp))
            if outcome.suppress:
                suppress.append(p)
        elif outcome.status == Status.TLS_FAILED:
            final.append(_after_tls_failure(p, now))
        else:  # deferred
            if p.first_attempt_at is not None and now - p.first_attempt_at >= give_up_after():
                final.append(_with(p, S.BOUNCED, smtp=smtp, codes=(*p.codes, GAVE_UP)))
            else:
                retry = now + timedelta(seconds=next_attempt_delay(max(1, p.attempts)))
                final.append(_with(p, S.DEFERRED, smtp=smtp, retry=retry))
    smtp_of = {p.message_id: p.smtp for p in final}
    moved = set(_mark_groups(tenant, final, owner, clock, extra=lambda p: smtp_of[p.message_id]))
    for p in final:
        if p.message_id in moved:
            result.counts[_count_name(p)] += 1
    # A lease that expired after hand-off made the message ``unknown`` meanwhile (another
    # worker's claim): the evidence we now hold settles it.
    late = [p for p in final if p.message_id not in moved and p.status in (S.SENT, S.ESCROWED, S.BOUNCED)]
    if late:
        settled = set(
            _mark_groups(tenant, late, owner, clock, from_status=S.UNKNOWN, extra=lambda p: smtp_of[p.message_id])
        )
        for p in late:
            if p.message_id in settled:
                result.counts[str(p.status)] += 1
                result.counts["unknown_settled"] += 1
    delivered = {p.message_id for p in final if p.status == S.ESCROWED}
    notices = [p.escrow_id for p in items if p.escrow_id is not None and p.message_id in delivered]
    if notices:
        from encryption.escrow import escrow_notice_sent

        escrow_notice_sent(tenant=tenant, escrow_ids=notices, now=now)
    for p in suppress:
        suppression_add(
            tenant=tenant,
            actor=PIPELINE_ACTOR,
            email=p.email,
            reason=SuppressionReason.HARD_BOUNCE,
            source=ConsentSource.DELIVERY,
        )
        result.counts["suppressed"] += 1


@dataclass
class _Final(Planned):
    smtp: dict[str, Any] = field(default_factory=dict)


def _with(
    p: Planned,
    status: str,
    *,
    smtp: dict[str, Any],
    codes: tuple[str, ...] | None = None,
    retry: datetime | None = None,
) -> _Final:
    return _Final(
        p.message_id,
        status,
        codes if codes is not None else p.codes,
        action=p.action,
        level=p.level,
        next_attempt_at=retry,
        email=p.email,
        domain=p.domain,
        first_attempt_at=p.first_attempt_at,
        attempts=p.attempts,
        smtp=smtp,
    )


def _after_tls_failure(p: Planned, now: datetime) -> _Final:
    """The TLS the decision needed could not be had after all (the posture was stale): nothing
    was sent. The domain's posture is distrusted so that a fresh probe runs, and the message
    waits: on its next claim the policy decides again on what the probe found (for PHI to a
    domain without verified TLS: escrow), never plaintext now."""
    posture_module.posture_distrust(p.domain)
    retry = now + timedelta(seconds=max(POSTURE_WAIT_SECONDS, next_attempt_delay(max(1, p.attempts))))
    return _Final(
        p.message_id,
        S.DEFERRED,
        (*p.codes, TLS_FAILED),
        action=p.action,
        level=p.level,
        next_attempt_at=retry,
        smtp={"smtp_code": None, "smtp_enhanced": ""},
    )


def _audit(tenant: Organisation, campaign: Campaign, result: BatchResult, planned: list[Planned]) -> None:
    codes = sorted({code for p in planned for code in p.codes})[:50]
    details: dict[str, Any] = {"claimed": result.claimed, **{k: v for k, v in sorted(result.counts.items())}}
    details["reason_codes"] = codes
    record_many(
        tenant=tenant,
        events=[EventInput(BATCH_ACTION, PIPELINE_ACTOR, Target("campaign", str(campaign.pk)), details)],
    )


# --- For the tasks ---------------------------------------------------------------------------------


def campaign_has_due_work(*, tenant: Organisation, campaign: Campaign, now: datetime | None = None) -> bool:
    """Whether a claim now would find something (queued or deferred and due, or a lease that
    expired)."""
    from django.db.models import Q

    at = now or timezone.now()
    return (
        Message.objects.for_tenant(tenant)
        .filter(campaign_id=campaign.pk)
        .filter(Q(status__in=(S.QUEUED, S.DEFERRED), send_after__lte=at) | Q(status=S.SENDING, lease_expires_at__lt=at))
        .exists()
    )


def campaign_being_worked(*, tenant: Organisation, campaign: Campaign, now: datetime | None = None) -> bool:
    """Whether some worker holds a live lease on a message of the campaign."""
    at = now or timezone.now()
    return (
        Message.objects.for_tenant(tenant)
        .filter(campaign_id=campaign.pk, status=S.SENDING, lease_expires_at__gte=at)
        .exists()
    )
