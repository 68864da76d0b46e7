"""Test sends: a version rendered with synthetic sample data only (``templates.fields`` samples,
never a real contact's values) and mailed to the member's own account address or to an address
on the organisation's test list (``AllowedTestAddress``, kept by admins), marked as a test
(subject prefix, ``X-Sealpost-Test: 1`` header).

``version_send_test`` checks, records a ``TestSend`` (queued), audits ``template.test_sent``
(version number, language and which kind of recipient, never the address) and queues
``templates.tasks.send_test_message_task`` with ids once the request commits. The task builds the
message (``build_test_message``), checking again that the member may still edit templates and
the address is still listed, and hands it to the delivery pipeline's single-message path
(``delivery.single_send``): From a verified sending domain and DKIM-signed with its key, the
template-aware classification of exactly this content, the recipient domain's TLS posture and
the organisation's protection policy, as for a campaign message. A test that a real message
would not be sent like (escrow, quarantine, block) is not delivered: its ``TestSend`` says
what a real message would meet. 4xx replies are retried with backoff; the outcome is recorded
(``template.test_delivered`` or ``template.test_not_delivered``) and shown on the version page.

(This module's name matches pytest's ``test_*.py`` pattern, so nothing in it is named
``test*``/``Test*``: pytest would collect it.)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404

from audit.services import Target, actor_for_user, record, system_actor
from authn.models import User
from delivery.single_send import FAILED, HELD, RETRY, SENT, SingleMessage, SingleOutcome
from sealpost.window_counter import count_in_window
from templates import models as template_models
from templates.context import render_context
from templates.fields import merge_fields
from templates.models import AllowedTestAddress, TemplateVersion
from templates.rendering import RenderError
from templates.selectors import RenderedMessage, render_version, version_contents
from tenants.context import require_tenant_is_current
from tenants.models import Membership, Organisation
from tenants.permissions import role_has_permission

TEST_SUBJECT_PREFIX = "[TEST] "
TEST_HEADER = "X-Sealpost-Test"
TEST_FROM_LOCAL_PART = "no-reply"
PIPELINE_ACTOR = system_actor("delivery.pipeline")
# Reason codes a test send adds to the pipeline's.
NO_LONGER_ALLOWED = "no_longer_allowed"
GAVE_UP = "gave_up"
# Per member, per window: enough to check a template in each language, not enough to mail-bomb.
TEST_SENDS_PER_WINDOW = 10
TEST_SEND_WINDOW_SECONDS = 3600
TEST_TEXT_BANNER = "TEST MESSAGE: rendered with sample data, not a real patient's.\n\n"


class SendTestRefused(ValueError):
    """The test send cannot happen; the message is safe to show."""


def _limit() -> int:
    return int(getattr(settings, "TEMPLATES_TEST_SENDS_PER_WINDOW", TEST_SENDS_PER_WINDOW))


def _rate_key(tenant: Organisation, user: User) -> str:
    return f"sealpost:templates:test_send:{tenant.pk}:{user.pk}"


def _take_allowance(tenant: Organisation, user: User) -> bool:
    return count_in_window(_rate_key(tenant, user), TEST_SEND_WINDOW_SECONDS) <= _limit()


def render_sample(*, tenant: Organisation, version: TemplateVersion, language: str) -> RenderedMessage:
    """The version in ``language`` rendered with the organisation's synthetic sample values."""
    contents = version_contents(tenant=tenant, version=version)
    if language not in contents:
        raise SendTestRefused("This version has no content in that language.")
    context = render_context(merge_fields(tenant=tenant))
    return render_version(contents=contents, version=version, language=language, context=context)


class AddressInvalid(ValueError):
    """The address cannot be added to the test list; the message is safe to show."""


def allowed_addresses(*, tenant: Organisation) -> QuerySet[AllowedTestAddress]:
    require_tenant_is_current(tenant)
    return AllowedTestAddress.objects.for_tenant(tenant).select_related("added_by").order_by("email")


def allowed_address_get(*, tenant: Organisation, address_id: str) -> AllowedTestAddress:
    """404 both for an unknown id and for another organisation's address."""
    require_tenant_is_current(tenant)
    try:
        found = AllowedTestAddress.objects.for_tenant(tenant).filter(pk=address_id).first()
    except ValidationError:  # not a UUID
        found = None
    if found is None:
        raise Http404("No such test address.")
    return found


def allowed_address_add(*, tenant: Organisation, user: User, email: str, label: str = "") -> AllowedTestAddress:
    require_tenant_is_current(tenant)
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise AddressInvalid("Enter a valid email address.") from None
    address = AllowedTestAddress(tenant=tenant, email=email, label=label.strip()[:100], added_by=user)
    try:
        with transaction.atomic():
            address.save()
            record(
                tenant=tenant,
                action="template.test_address_added",
                actor=actor_for_user(user),
                target=Target.of(address),
            )
    except IntegrityError:
        raise AddressInvalid("This address is already on the list.") from None
    return address


def allowed_address_remove(*, tenant: Organisation, user: User, address: AllowedTestAddress) -> None:
    require_tenant_is_current(tenant)
    with transaction.atomic():
        record(
            tenant=tenant,
            action="template.test_address_removed",
            actor=actor_for_user(user),
            target=Target.of(address),
        )
        address.delete()


@dataclass(frozen=True)
class Sender:
    """Who a test message is From: a campaign's sender, or the organisation's default."""

    name: str
    address: str


def default_sender(*, tenant: Organisation) -> Sender:
    """The organisation's name at ``no-reply@`` its first verified sending domain: test
    messages are DKIM-signed like real ones, so they need one (SendTestRefused otherwise)."""
    from delivery.sending_domains import verified_sending_domains

    first = verified_sending_domains(tenant=tenant).first()
    if first is not None:
        return Sender(name=tenant.name[:100], address=f"{TEST_FROM_LOCAL_PART}@{first.domain}")
    raise SendTestRefused(
        "Test messages are signed and sent like real ones: verify a sending domain first (Delivery → Sending domains)."
    )


def version_send_test(
    *,
    tenant: Organisation,
    user: User,
    version: TemplateVersion,
    language: str = "",
    address_id: str = "",
    sender: Sender | None = None,
) -> template_models.TestSend:
    """Queue a test message of ``version`` in ``language`` (default: the version's default
    language) to ``user``'s own address, or to the listed address ``address_id``, From
    ``sender`` (default: ``default_sender``). Refused (``SendTestRefused``) for an address not
    on the organisation's list, a language the version lacks, a version that does not render,
    no verified sending domain, or over the per-member limit."""
    require_tenant_is_current(tenant)
    language = language or version.default_language
    address = None
    if address_id:
        try:
            address = allowed_address_get(tenant=tenant, address_id=address_id)
        except Http404:
            raise SendTestRefused("Choose your own address or one on the organisation's test list.") from None
    try:
        render_sample(tenant=tenant, version=version, language=language)
    except RenderError as error:
        raise SendTestRefused(f"The template does not render: {error}") from None
    sender = sender or default_sender(tenant=tenant)
    if not _take_allowance(tenant, user):
        raise SendTestRefused(f"You can send at most {_limit()} test messages an hour; try again later.")
    from templates.tasks import send_test_message_task

    recipient = template_models.TestSendRecipient
    with transaction.atomic():
        sent = template_models.TestSend.objects.create(
            tenant=tenant,
            version=version,
            requested_by=user,
            recipient=recipient.TEST_LIST if address else recipient.SELF,
            address=address,
            language=language,
            from_name=sender.name[:100],
            from_address=sender.address,
        )
        record(
            tenant=tenant,
            action="template.test_sent",
            actor=actor_for_user(user),
            target=Target.of(version.template),
            details={
                "version": version.number,
                "language": language,
                "to": sent.recipient,
                **({"address_id": str(address.pk)} if address else {}),
            },
        )
        transaction.on_commit(partial(send_test_message_task.delay, tenant.pk, str(sent.pk)))
    return sent


def recent_test_sends(
    *, tenant: Organisation, version: TemplateVersion, limit: int = 10
) -> list[template_models.TestSend]:
    """The version's latest test sends, newest first, for its page."""
    require_tenant_is_current(tenant)
    return list(
        template_models.TestSend.objects.for_tenant(tenant)
        .filter(version=version)
        .select_related("requested_by", "address")[:limit]
    )


def build_test_message(*, tenant: Organisation, sent: template_models.TestSend) -> SingleMessage | None:
    """The test message for ``sent``, or None when it should no longer go (the version is gone,
    the member left or lost the right to edit templates, the address left the list). Runs inside
    ``tenant_context(tenant)``."""
    from encryption.dlp.template_aware import classify_recipient, content_profile, recipient_plan

    version = sent.version
    user = sent.requested_by
    if user is None or not user.is_active:
        return None
    membership = Membership.objects.for_tenant(tenant).filter(user_id=user.pk, is_active=True).first()
    if membership is None or not role_has_permission(membership.role, "templates.edit"):
        return None
    if sent.recipient == template_models.TestSendRecipient.TEST_LIST:
        if sent.address is None:
            return None
        to_address = sent.address.email
    else:
        to_address = user.email
    contents = version_contents(tenant=tenant, version=version)
    content = contents.get(sent.language)
    if content is None:
        return None
    catalogue = merge_fields(tenant=tenant)
    try:
        rendered = render_sample(tenant=tenant, version=version, language=sent.language)
    except (RenderError, SendTestRefused):
        return None
    plan = recipient_plan(content_profile(version=version, content=content), catalogue)
    samples = {name: field.sample for name, field in catalogue.items()}
    return SingleMessage(
        from_name=sent.from_name,
        from_address=sent.from_address,
        to_address=to_address,
        subject=f"{TEST_SUBJECT_PREFIX}{rendered.subject}",
        html=rendered.html,
        text=f"{TEST_TEXT_BANNER}{rendered.text}",
        preheader=rendered.preheader,
        message_id=f"<test.{sent.pk.hex}@{sent.from_address.rpartition('@')[2]}>",
        purpose=version.template.purpose,
        classification=classify_recipient(plan, samples),
        extra_headers=((TEST_HEADER, "1"),),
    )


def queued_test_send(*, tenant: Organisation, test_send_id: uuid.UUID) -> template_models.TestSend | None:
    """The test send the task works on, or None if it is gone or already decided."""
    require_tenant_is_current(tenant)
    return (
        template_models.TestSend.objects.for_tenant(tenant)
        .filter(pk=test_send_id, status__in=_OPEN_STATUSES)
        .select_related("version__template", "requested_by", "address")
        .first()
    )


def record_test_outcome(
    *,
    tenant: Organisation,
    test_send_id: uuid.UUID,
    outcome: SingleOutcome | None,
    attempt: int,
    last_attempt: bool,
    now: datetime,
) -> str:
    """Store what became of a test send (``outcome`` None: it should no longer go) and, once it
    is decided, audit it. Returns the status stored."""
    require_tenant_is_current(tenant)
    status_of = template_models.TestSendStatus
    sent = template_models.TestSend.objects.for_tenant(tenant).select_for_update().filter(pk=test_send_id).first()
    if sent is None or sent.status not in _OPEN_STATUSES:
        return sent.status if sent is not None else "gone"
    sent.attempts = attempt
    if outcome is None:
        sent.status, sent.codes = status_of.FAILED, [NO_LONGER_ALLOWED]
    else:
        sent.status = _STATUS_OF_OUTCOME[outcome.status]
        sent.codes = list(outcome.codes)
        sent.protection = outcome.action
        sent.tls_version = outcome.tls_version
        sent.smtp_code = outcome.smtp_code
        sent.detail = outcome.detail[:200]
        if sent.status == status_of.RETRYING and last_attempt:
            sent.status, sent.codes = status_of.FAILED, [*sent.codes, GAVE_UP]
    if sent.status != status_of.RETRYING:
        sent.finished_at = now
    sent.save()
    if sent.status != status_of.RETRYING:
        _audit_outcome(tenant, sent)
    return str(sent.status)


def _audit_outcome(tenant: Organisation, sent: template_models.TestSend) -> None:
    delivered = sent.status == template_models.TestSendStatus.SENT
    record(
        tenant=tenant,
        action="template.test_delivered" if delivered else "template.test_not_delivered",
        actor=PIPELINE_ACTOR,
        target=Target.of(sent.version.template),
        details={
            "version": sent.version.number,
            "test_send": str(sent.pk),
            "status": str(sent.status),
            "codes": sent.codes[:20],
            **({"tls": sent.tls_version} if sent.tls_version else {}),
        },
    )


_OPEN_STATUSES = (template_models.TestSendStatus.QUEUED, template_models.TestSendStatus.RETRYING)
_STATUS_OF_OUTCOME = {
    SENT: template_models.TestSendStatus.SENT,
    RETRY: template_models.TestSendStatus.RETRYING,
    HELD: template_models.TestSendStatus.HELD,
    FAILED: template_models.TestSendStatus.FAILED,
}


# --- What a test send's outcome means, for its page ----------------------------------------------

_EXPLANATIONS = {
    "would_be_escrowed": (
        "A real message with this content would be held for escrow: the recipient's mail server "
        "did not prove verified TLS, and the message carries PHI."
    ),
    "would_be_quarantined": "A real message with this content would be held in quarantine for compliance review.",
    "would_be_blocked": "The organisation's protection policy blocks a message with this content.",
    "domain_refuses_delivery": (
        "The recipient domain's own policy refuses delivery (MTA-STS or DANE does not match its mail servers)."
    ),
    "sending_domain_unverified": "The From domain is not a verified sending domain any more.",
    "invalid_address": "The address or its domain cannot receive mail.",
    "posture_unavailable": "The recipient domain's mail servers could not be checked.",
    NO_LONGER_ALLOWED: "Not sent: the member can no longer edit templates, or the address left the test list.",
    GAVE_UP: "The recipient's server kept asking to try later; Sealpost gave up.",
    "bounced": "The recipient's server refused the message.",
    "unknown": "The server took the message but never confirmed it; it is not sent again blindly.",
    "tls_failed": "Verified TLS could not be established, so nothing was sent.",
}


def outcome_summary(sent: template_models.TestSend) -> str:
    """One sentence for the version page: what became of the test and why."""
    status = template_models.TestSendStatus
    if sent.status == status.SENT:
        return f"Delivered over {sent.tls_version}." if sent.tls_version else "Delivered (the server offered no TLS)."
    if sent.status == status.QUEUED:
        return "On its way."
    if sent.status == status.RETRYING:
        return f"The recipient's server asked to try later; trying again (attempt {sent.attempts + 1})."
    for code in reversed(sent.codes):
        if code in _EXPLANATIONS:
            return _EXPLANATIONS[code]
        if code.startswith("baa_"):
            return "Not sent: messages with PHI need an active business associate agreement."
    return "Not delivered."
