"""Transactional sends: an integration asks for one message now (a receipt, an appointment
confirmation), through ``POST /api/messages/`` (``campaigns.api.messages``).

- The template must have an approved version, and the request's ``purpose`` must be the
  template's (said again by the caller so that a billing system cannot send under a marketing
  template by mistake).
- Messages go into a **transactional container**: a ``Campaign`` of kind transactional per
  (approved template version, purpose), created on first use in status ``sending`` (From: the
  organisation's name at ``no-reply@`` its first verified sending domain, as template test sends
  use), and then claimed by the send pipeline like any campaign's messages. A newer approved
  version gets a new container; a paused container holds its messages, a cancelled one is
  replaced on the next request.
- ``data`` are the ``event.*`` merge values, checked against the catalogue
  (``templates.fields``): unknown names are refused, values are checked by kind and stored
  encrypted on the message; errors never quote a value.
- **Idempotent** by the caller's ``id`` across the organisation's transactional containers: the
  id is kept only as a keyed digest (``source_key`` ``api:<hmac>``; an integration's id may embed
  a patient number). A retry with the same content returns the first message
  (``replayed``); the same id with different content is refused (``TransactionalConflict``).
- Consent, suppression, frequency caps and quiet hours: ``campaigns.sending.message_enqueue``.
  Refusals are recorded (a skipped message) and answered with 201 and the outcome.
- Audited: ``message.enqueued`` (message and container ids, outcome, codes; never a value).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from audit.services import Actor, Target, record
from authn.models import User
from campaigns.models import Campaign, CampaignKind, CampaignStatus, Message, ScheduleKind
from campaigns.sending import Enqueued, enqueue_outcome, message_enqueue
from segments.models import Contact
from templates.fields import MergeField, merge_fields
from templates.models import EmailTemplate, TemplateVersion
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

MAX_ID_LENGTH = 200
MAX_TEXT_LENGTH = 1000
MAX_ITEMS = 100
SOURCE_PREFIX = "api:"
_ID_INDEX = "transactional_message_id"
NOT_FOUND = "No such message."


class TransactionalInvalid(ValueError):
    """400: ``fields`` maps each bad field (by path, ``data.appointment_at``) to messages that
    never quote the value."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("The request has invalid fields.")
        self.fields = fields


class TransactionalRefused(ValueError):
    """409: the organisation cannot send this now (``code``: no_approved_version,
    no_sending_domain, baa_required); nothing was written."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class TransactionalConflict(ValueError):
    """409 ``idempotency_conflict``: the id was used before for a different message."""


@dataclass(frozen=True)
class TransactionalRequest:
    id: Any
    template: Any
    purpose: Any
    contact: Any
    data: Any = None


# --- Input -----------------------------------------------------------------------------------------


def _money(raw: Any) -> str:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError("Expected an amount, such as 42.50.")
    try:
        amount = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError("Expected an amount, such as 42.50.") from None
    if not amount.is_finite():
        raise ValueError("Expected an amount, such as 42.50.")
    return str(amount)


def _text(raw: Any) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ValueError("Expected text.")
    text = str(raw).strip()
    if len(text) > MAX_TEXT_LENGTH:
        raise ValueError(f"Longer than {MAX_TEXT_LENGTH} characters.")
    return text


def _datetime(raw: Any) -> str:
    message = "Expected a date and time in ISO 8601 with a UTC offset, such as 2027-03-01T09:30:00-05:00."
    if not isinstance(raw, str):
        raise ValueError(message)
    try:
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(message) from None
    if parsed.tzinfo is None:
        raise ValueError(message)
    return parsed.isoformat()


def _date(raw: Any) -> str:
    message = "Expected a date as YYYY-MM-DD."
    if not isinstance(raw, str) or len(raw.strip()) != 10:
        raise ValueError(message)
    try:
        return date.fromisoformat(raw.strip()).isoformat()
    except ValueError:
        raise ValueError(message) from None


def _items(raw: Any) -> list[dict[str, str]]:
    message = f"Expected a list of at most {MAX_ITEMS} items, each with description and amount."
    if not isinstance(raw, list) or len(raw) > MAX_ITEMS:
        raise ValueError(message)
    items = []
    for item in raw:
        if not isinstance(item, dict) or set(item) - {"description", "amount"}:
            raise ValueError(message)
        items.append({"description": _text(item.get("description", "")), "amount": _money(item.get("amount", 0))})
    return items


_BY_KIND = {"text": _text, "datetime": _datetime, "date": _date, "money": _money, "list": _items}


def clean_event_data(raw: Any, catalogue: dict[str, MergeField]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """``data`` as stored on the message (keys without ``event.``) and the errors by path."""
    errors: dict[str, list[str]] = {}
    if raw is None:
        return {}, errors
    if not isinstance(raw, dict):
        return {}, {"data": ["Expected an object of event.* fields."]}
    cleaned: dict[str, Any] = {}
    for key in sorted(raw, key=str):
        name = str(key)
        bare = name.removeprefix("event.")
        field = catalogue.get(f"event.{bare}")
        path = f"data.{bare[:40]}"
        if field is None or field.root != "event":
            errors[path] = ["Not an event.* merge field of the templates' catalogue."]
            continue
        value = raw[key]
        if value is None:
            continue
        try:
            cleaned[bare] = _BY_KIND.get(field.kind, _text)(value)
        except ValueError as problem:
            errors[path] = [str(problem)]
    return cleaned, errors


def _contact(tenant: Organisation, raw: Any, errors: dict[str, list[str]]) -> Contact | None:
    from campaigns.triggers import _EMAIL_INDEX, _EXTERNAL_ID_INDEX, _contact_ref
    from encryption.blind_index import BlindIndexer

    def error(path: str, message: str) -> None:
        errors.setdefault(path, []).append(message)

    ref = _contact_ref(raw, error)
    if ref is None:
        return None
    kind, value = ref
    contacts = Contact.objects.for_tenant(tenant)
    if kind == "id":
        matches = list(contacts.filter(pk=value)[:2])
    else:
        column = {"email": ("email_index", _EMAIL_INDEX), "external_id": ("external_id_index", _EXTERNAL_ID_INDEX)}
        field_name, index_name = column[kind]
        matches = list(contacts.filter(**{field_name: BlindIndexer(tenant)(index_name, value)})[:2])
    if len(matches) == 1:
        return matches[0]
    error("contact", "More than one contact matches: send the contact's id." if matches else "No contact matches.")
    return None


def _template(tenant: Organisation, raw: Any, errors: dict[str, list[str]]) -> EmailTemplate | None:
    from templates.selectors import template_get

    try:
        return template_get(tenant=tenant, template_id=str(uuid.UUID(str(raw))))
    except (ValueError, Http404):
        errors["template"] = ["No such template."]
        return None


def source_key_for(tenant: Organisation, request_id: str) -> str:
    from encryption.blind_index import BlindIndexer

    return SOURCE_PREFIX + BlindIndexer(tenant)(_ID_INDEX, request_id)


# --- The container ---------------------------------------------------------------------------------


def transactional_container(
    *, tenant: Organisation, user: User, actor: Actor, version: TemplateVersion, purpose: str
) -> Campaign:
    """The sending transactional container of (``version``, ``purpose``), created on first use.
    Raises TransactionalRefused when there is no verified sending domain. Inside a transaction."""
    from delivery.sending_domains import verified_sending_domains
    from templates.test_sends import TEST_FROM_LOCAL_PART

    containers = Campaign.objects.for_tenant(tenant).filter(
        kind=CampaignKind.TRANSACTIONAL,
        template_version=version,
        purpose=purpose,
        status__in=(CampaignStatus.SENDING, CampaignStatus.PAUSED),
    )
    found = containers.order_by("created_at").first()
    if found is not None:
        return found
    # Two first requests at once: the template's row lock lets one create, the other find it.
    EmailTemplate.objects.for_tenant(tenant).select_for_update().filter(pk=version.template_id).values_list(
        "pk"
    ).first()
    found = containers.order_by("created_at").first()
    if found is not None:
        return found
    domain = verified_sending_domains(tenant=tenant).first()
    if domain is None:
        raise TransactionalRefused(
            "no_sending_domain",
            "Transactional messages are sent from no-reply@ the first verified sending domain: verify one first.",
        )
    now = timezone.now()
    template = version.template
    container = Campaign.objects.create(
        tenant=tenant,
        kind=CampaignKind.TRANSACTIONAL,
        name=f"Transactional: {template.name}"[:180] + f" v{version.number}",
        purpose=purpose,
        template=template,
        template_version=version,
        from_name=tenant.name[:100],
        from_address=f"{TEST_FROM_LOCAL_PART}@{domain.domain}",
        schedule_kind=ScheduleKind.NOW,
        scheduled_at=now,
        status=CampaignStatus.SENDING,
        created_by=user,
        launched_by=user,
        launched_at=now,
    )
    record(
        tenant=tenant,
        action="campaign.transactional_created",
        actor=actor,
        target=Target.of(container),
        details={"template_version": version.number, "purpose": purpose},
    )
    return container


# --- The send --------------------------------------------------------------------------------------


def _replay(tenant: Organisation, source_key: str) -> Message | None:
    containers = list(
        Campaign.objects.for_tenant(tenant).filter(kind=CampaignKind.TRANSACTIONAL).values_list("pk", flat=True)
    )
    if not containers:
        return None
    return (
        Message.objects.for_tenant(tenant)
        .filter(campaign_id__in=containers, source_key=source_key)
        .select_related("campaign")
        .first()
    )


def _same_request(
    found: Message, template: EmailTemplate, purpose: str, contact: Contact, data: dict[str, Any]
) -> bool:
    stored = json.loads(found.event_data) if found.event_data else {}
    return (
        found.campaign.template_id == template.pk
        and found.campaign.purpose == purpose
        and found.contact_id == contact.pk
        and stored == json.loads(json.dumps(data, sort_keys=True, default=str))
    )


def transactional_send(*, tenant: Organisation, user: User, actor: Actor, request: TransactionalRequest) -> Enqueued:
    """Validate, find or create the container, enqueue (see the module's docstring). Raises
    TransactionalInvalid (400), TransactionalRefused or TransactionalConflict (409)."""
    from baa.gate import BaaRequired, require_active_baa
    from templates.selectors import approved_version

    require_tenant_is_current(tenant)
    errors: dict[str, list[str]] = {}
    request_id = request.id
    if isinstance(request_id, bool) or not isinstance(request_id, str | int) or not str(request_id).strip():
        errors["id"] = ["Required: your own unique id for this message (retries with it are harmless)."]
    elif len(str(request_id)) > MAX_ID_LENGTH:
        errors["id"] = [f"At most {MAX_ID_LENGTH} characters."]
    template = _template(tenant, request.template, errors)
    purpose = request.purpose if isinstance(request.purpose, str) else ""
    if not purpose:
        errors["purpose"] = ["Required: the consent purpose of the message (the template's)."]
    elif template is not None and purpose != template.purpose:
        errors["purpose"] = [
            f"Must be the template's purpose ({template.purpose}); the template is not sent otherwise."
        ]
    contact = _contact(tenant, request.contact, errors)
    data, data_errors = clean_event_data(request.data, merge_fields(tenant=tenant))
    errors.update(data_errors)
    if errors:
        raise TransactionalInvalid(errors)
    assert template is not None and contact is not None  # noqa: S101 - no errors
    source_key = source_key_for(tenant, str(request_id).strip())
    with transaction.atomic():
        found = _replay(tenant, source_key)
        if found is not None:
            if not _same_request(found, template, purpose, contact, data):
                raise TransactionalConflict("This id was used before for a different message.")
            return Enqueued(found, enqueue_outcome(found), True)
        version = approved_version(tenant=tenant, template=template)
        if version is None:
            raise TransactionalRefused("no_approved_version", "The template has no approved version to send.")
        try:
            require_active_baa(tenant=tenant, phi=bool(version.phi_fields) or bool(data))
        except BaaRequired as refused:
            raise TransactionalRefused("baa_required", str(refused)) from None
        container = transactional_container(tenant=tenant, user=user, actor=actor, version=version, purpose=purpose)
        enqueued = message_enqueue(
            tenant=tenant, campaign=container, contact=contact, source_key=source_key, event_data=data or None
        )
        if not enqueued.replayed and enqueued.message is not None:
            record(
                tenant=tenant,
                action="message.enqueued",
                actor=actor,
                target=Target.of(enqueued.message),
                details={
                    "campaign": str(container.pk),
                    "outcome": enqueued.outcome,
                    "reason_codes": list(enqueued.message.reason_codes),
                },
            )
    return enqueued


def transactional_message_get(*, tenant: Organisation, message_id: Any) -> Message:
    """A message of one of the organisation's transactional containers; 404 otherwise."""
    require_tenant_is_current(tenant)
    try:
        pk = int(message_id)
    except (TypeError, ValueError):
        raise Http404(NOT_FOUND) from None
    found = (
        Message.objects.for_tenant(tenant)
        .filter(pk=pk, campaign__kind=CampaignKind.TRANSACTIONAL)
        .only("id", "tenant_id", "campaign_id", "status", "reason_codes", "created_at", "updated_at")
        .first()
    )
    if found is None:
        raise Http404(NOT_FOUND)
    return found
