"""Double opt-in: the organisation's hosted forms, a recipient's submission, and the one-click
confirmation that grants what they asked for. See docs/consent-recipients.md.

The confirmation secret is never stored: ``OptInRequest.token_hash`` is its SHA-256. The secret
itself is an HMAC of the request id under ``SECRET_KEY``, so the Celery task that emails the link
needs only ids, and a copy of the database alone opens nothing.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from functools import partial

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from audit.services import Actor, Target, record
from consent.models import ConsentSource, ConsentStatus, OptInForm, OptInRequest, SuppressionReason
from consent.purposes import UnknownPurpose, purpose_get, purposes_for
from consent.recipients import granted_purposes, suppressions_lift
from consent.services import RECIPIENT, ConsentError, Evidence, consent_set
from encryption.fields import blind_index_for
from sealpost.window_counter import count_in_window
from segments.contacts import ContactInputError, contact_create, normalise_email
from segments.models import Contact
from segments.selectors import contact_get
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

CONFIRM_SALT = "sealpost.consent.optin-confirm"
PUBLIC_ID_BYTES = 12  # 16 URL-safe characters
NAME_MAX = 100
HEADING_MAX = 200
INTRODUCTION_MAX = 2000


# --- Forms (staff) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptInFormInput:
    name: str
    heading: str
    introduction: str
    purposes: list[str]
    is_active: bool = True


def _clean_form_input(tenant: Organisation, data: OptInFormInput) -> OptInFormInput:
    errors: dict[str, str] = {}
    name, heading, introduction = data.name.strip(), data.heading.strip(), data.introduction.strip()
    if not name:
        errors["name"] = "Give the form a name (staff see it; recipients do not)."
    elif len(name) > NAME_MAX:
        errors["name"] = f"At most {NAME_MAX} characters."
    if not heading:
        errors["heading"] = "Give the form a heading: recipients see it above the form."
    elif len(heading) > HEADING_MAX:
        errors["heading"] = f"At most {HEADING_MAX} characters."
    if len(introduction) > INTRODUCTION_MAX:
        errors["introduction"] = f"At most {INTRODUCTION_MAX} characters."
    available = [p.key for p in purposes_for(tenant=tenant)]
    chosen = [key for key in available if key in set(data.purposes)]
    if not data.purposes:
        errors["purposes"] = "Choose at least one purpose recipients can agree to."
    elif len(chosen) != len(set(data.purposes)):
        errors["purposes"] = "Some of the purposes chosen do not exist or are archived."
    if errors:
        raise ConsentError(errors)
    return OptInFormInput(name, heading, introduction, chosen, data.is_active)


def _form_values(form: OptInForm) -> dict[str, object]:
    return {
        "name": form.name,
        "heading": form.heading,
        "introduction": form.introduction,
        "purposes": list(form.purposes),
        "is_active": form.is_active,
    }


def optin_form_create(*, tenant: Organisation, actor: Actor, data: OptInFormInput) -> OptInForm:
    require_tenant_is_current(tenant)
    cleaned = _clean_form_input(tenant, data)
    with transaction.atomic():
        form = OptInForm(
            tenant=tenant,
            public_id=secrets.token_urlsafe(PUBLIC_ID_BYTES),
            name=cleaned.name,
            heading=cleaned.heading,
            introduction=cleaned.introduction,
            purposes=cleaned.purposes,
            is_active=cleaned.is_active,
            version=1,
        )
        form.save()
        record(
            tenant=tenant,
            action="consent.optin_form_saved",
            actor=actor,
            target=Target.of(form),
            details={"version": form.version, "purposes": form.purposes, "created": True, "is_active": form.is_active},
        )
    return form


def optin_form_update(*, tenant: Organisation, actor: Actor, form: OptInForm, data: OptInFormInput) -> OptInForm:
    """Save changes; any change makes a new version (recorded with each consent given on it).
    Saving without a change does nothing."""
    require_tenant_is_current(tenant)
    cleaned = _clean_form_input(tenant, data)
    with transaction.atomic():
        locked = OptInForm.objects.for_tenant(tenant).select_for_update().get(pk=form.pk)
        before = _form_values(locked)
        after = {
            "name": cleaned.name,
            "heading": cleaned.heading,
            "introduction": cleaned.introduction,
            "purposes": cleaned.purposes,
            "is_active": cleaned.is_active,
        }
        changed = sorted(key for key in after if after[key] != before[key])
        if not changed:
            return locked
        for key, value in after.items():
            setattr(locked, key, value)
        locked.version += 1
        locked.save(update_fields=[*after, "version", "updated_at"])
        record(
            tenant=tenant,
            action="consent.optin_form_saved",
            actor=actor,
            target=Target.of(locked),
            details={"version": locked.version, "purposes": locked.purposes, "fields": changed},
        )
    return locked


def optin_forms_list(*, tenant: Organisation) -> QuerySet[OptInForm]:
    require_tenant_is_current(tenant)
    return OptInForm.objects.for_tenant(tenant).order_by("name", "id")


def optin_form_public_get(*, tenant: Organisation, public_id: str) -> OptInForm:
    """An active form by its public id, or 404."""
    require_tenant_is_current(tenant)
    found = OptInForm.objects.for_tenant(tenant).filter(public_id=public_id, is_active=True).first()
    if found is None:
        raise Http404("No such form.")
    return found


def optin_form_url(*, tenant: Organisation, form: OptInForm) -> str:
    path = reverse("consent_public:optin_form", args=[tenant.slug, form.public_id])
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def optin_form_purposes(*, tenant: Organisation, form: OptInForm) -> list[tuple[str, str, str]]:
    """(key, name, description) of the form's purposes that can still be granted, in form order."""
    rows = []
    for key in form.purposes:
        try:
            info = purpose_get(tenant=tenant, key=key)
        except UnknownPurpose:
            continue  # archived since the form was saved
        rows.append((info.key, info.name, info.description))
    return rows


# --- A submission ---------------------------------------------------------------------------------


def confirmation_secret(request: OptInRequest) -> str:
    digest = salted_hmac(CONFIRM_SALT, f"{request.tenant_id}:{request.pk}", algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii", errors="replace")).hexdigest()


def confirmation_token(request: OptInRequest) -> str:
    """What the link carries: the organisation's pk (to know whose rows to look in) and the secret."""
    return f"{request.tenant_id}.{confirmation_secret(request)}"


def confirmation_url(request: OptInRequest) -> str:
    path = reverse("consent_public:confirm", args=[confirmation_token(request)])
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def _address_allowance(tenant: Organisation, email_index: str) -> bool:
    """At most CONSENT_OPTIN_EMAILS_PER_ADDRESS confirmation emails per address per window, so
    the form cannot be used to flood someone's mailbox. Keyed by the blind index, not the address."""
    key = f"sealpost:optin:address:{tenant.pk}:{email_index}"
    return count_in_window(key, settings.CONSENT_OPTIN_RATE_WINDOW) <= settings.CONSENT_OPTIN_EMAILS_PER_ADDRESS


def _contact_for(tenant: Organisation, email: str) -> Contact:
    index = blind_index_for(Contact, "email_index", tenant, email)
    found = Contact.objects.for_tenant(tenant).filter(email_index=index).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return contact_create(tenant=tenant, actor=RECIPIENT, data={"email": email})
    except ContactInputError:
        # Created by a concurrent submission of the same address.
        return Contact.objects.for_tenant(tenant).get(email_index=index)


def optin_submit(
    *, tenant: Organisation, form: OptInForm, email: str, purposes: list[str], evidence: Evidence
) -> OptInRequest | None:
    """Record a submission: find or create the contact, set each chosen purpose not yet granted
    to pending, and (once committed) email a confirmation link. Returns the request, or None
    when there was nothing to confirm or the address had too many links recently; the caller
    must answer the same in every case, so nobody learns whether an address is known.

    Raises ``ContactInputError`` (a bad address) or ``ConsentError`` (no valid purpose chosen)."""
    require_tenant_is_current(tenant)
    offered = {key for key, _, _ in optin_form_purposes(tenant=tenant, form=form)}
    chosen = [key for key in form.purposes if key in offered and key in set(purposes)]
    if not chosen or len(chosen) != len(set(purposes)):
        raise ConsentError({"purposes": "Choose at least one of the options."})
    address = normalise_email(email)
    with transaction.atomic():
        contact = _contact_for(tenant, address)
        granted = granted_purposes(tenant=tenant, contact=contact)
        pending = [key for key in chosen if key not in granted]
        if not pending or not _address_allowance(tenant, contact.email_index):
            return None
        for key in pending:
            consent_set(
                tenant=tenant,
                actor=RECIPIENT,
                contact=contact,
                purpose=key,
                status=ConsentStatus.PENDING,
                source=ConsentSource.FORM,
                evidence=evidence,
            )
        request = OptInRequest(
            tenant=tenant,
            form=form,
            contact=contact,
            purposes=pending,
            form_version=form.form_version,
            expires_at=timezone.now() + timedelta(hours=settings.CONSENT_OPTIN_CONFIRM_HOURS),
        )
        request.token_hash = secret_hash(confirmation_secret(request))
        request.save()
        record(
            tenant=tenant,
            action="consent.confirmation_requested",
            actor=RECIPIENT,
            target=Target.of(request),
            details={"form_version": request.form_version, "purposes": pending},
        )
        from consent.tasks import optin_confirmation_email_task

        transaction.on_commit(partial(optin_confirmation_email_task.delay, tenant.pk, str(request.pk)))
    return request


def optin_confirmation_email(*, tenant: Organisation, request_id: str) -> EmailMessage | None:
    """The confirmation message, or None if the request is gone, confirmed or expired. It holds
    only what the recipient typed (their address, as the recipient) and the organisation's own
    wording: no name, nothing from the contact record. It is transactional, so it has no
    unsubscribe header and no preference-centre link (the confirmed page gives that)."""
    require_tenant_is_current(tenant)
    request = (
        OptInRequest.objects.for_tenant(tenant)
        .select_related("contact")
        .filter(pk=request_id, confirmed_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if request is None:
        return None
    names = []
    for key in request.purposes:
        try:
            names.append(purpose_get(tenant=tenant, key=key, allow_archived=True).name)
        except UnknownPurpose:
            continue
    listed = "\n".join(f"  - {name}" for name in names)
    body = (
        f"Please confirm that you want to receive these emails from {tenant.name}:\n\n"
        f"{listed}\n\n"
        "To confirm, open this link:\n"
        f"{confirmation_url(request)}\n\n"
        f"The link works for {settings.CONSENT_OPTIN_CONFIRM_HOURS} hours and only once.\n\n"
        "If you did not ask for this, ignore this message: nothing will be sent to you and\n"
        "your address will not be added to any list.\n"
    )
    return EmailMessage(
        subject=f"Please confirm your subscription to {tenant.name}",
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[request.contact.email],
        headers={"Auto-Submitted": "auto-generated"},
    )


# --- Confirmation ---------------------------------------------------------------------------------


class Outcome(StrEnum):
    PENDING = "pending"  # valid and waiting (only when looking, never after confirming)
    CONFIRMED = "confirmed"
    ALREADY_CONFIRMED = "already_confirmed"
    EXPIRED = "expired"
    INVALID = "invalid"


@dataclass(frozen=True)
class ConfirmResult:
    outcome: Outcome
    request: OptInRequest | None = None


def _parse_token(token: str) -> tuple[int, str] | None:
    tenant_part, dot, secret = token.partition(".")
    if not dot or not tenant_part.isdigit() or not (20 <= len(secret) <= 64):
        return None
    return int(tenant_part), secret


def confirmation_token_tenant_id(token: str) -> int | None:
    parsed = _parse_token(token)
    return parsed[0] if parsed else None


def optin_request_state(*, tenant: Organisation, token: str) -> ConfirmResult:
    """Where a confirmation link stands, changing nothing (what the GET shows)."""
    require_tenant_is_current(tenant)
    parsed = _parse_token(token)
    if parsed is None or parsed[0] != tenant.pk:
        return ConfirmResult(Outcome.INVALID)
    request = (
        OptInRequest.objects.for_tenant(tenant).select_related("form").filter(token_hash=secret_hash(parsed[1])).first()
    )
    if request is None:
        return ConfirmResult(Outcome.INVALID)
    if request.confirmed_at is not None:
        return ConfirmResult(Outcome.ALREADY_CONFIRMED, request)
    if request.expires_at <= timezone.now():
        return ConfirmResult(Outcome.EXPIRED, request)
    return ConfirmResult(Outcome.PENDING, request)


def optin_confirm(*, tenant: Organisation, token: str, evidence: Evidence) -> ConfirmResult:
    """Confirm once: the request is claimed with a compare-and-set on ``confirmed_at``, so two
    concurrent clicks grant once. Each purpose is granted with the evidence of this click and
    the form version the recipient submitted; a confirmed opt-in also lifts an earlier
    unsubscribe-from-everything or spam complaint for the address (the recipient has opted in
    again, through a form, as the suppression list asks)."""
    require_tenant_is_current(tenant)
    state = optin_request_state(tenant=tenant, token=token)
    if state.outcome != Outcome.PENDING or state.request is None:
        return state
    request = state.request
    now = timezone.now()
    with transaction.atomic():
        claimed = (
            OptInRequest.objects.for_tenant(tenant)
            .filter(pk=request.pk, confirmed_at__isnull=True, expires_at__gt=now)
            .update(confirmed_at=now)
        )
        if claimed != 1:
            return optin_request_state(tenant=tenant, token=token)
        contact = contact_get(tenant=tenant, contact_id=request.contact_id)
        granted = []
        grant_evidence = Evidence(evidence.ip_address, evidence.user_agent, request.form_version)
        for key in request.purposes:
            try:
                if purpose_get(tenant=tenant, key=key).is_archived:
                    continue
            except UnknownPurpose:
                continue  # archived since the form was submitted: it can be granted no more
            consent_set(
                tenant=tenant,
                actor=RECIPIENT,
                contact=contact,
                purpose=key,
                status=ConsentStatus.GRANTED,
                source=ConsentSource.FORM,
                evidence=grant_evidence,
            )
            granted.append(key)
        record(
            tenant=tenant,
            action="consent.optin_confirmed",
            actor=RECIPIENT,
            target=Target.of(request),
            details={"form_version": request.form_version, "purposes": granted},
        )
        if granted:
            suppressions_lift(
                tenant=tenant,
                contact=contact,
                reasons=[SuppressionReason.UNSUBSCRIBED, SuppressionReason.COMPLAINT],
                source=ConsentSource.FORM,
            )
    request.confirmed_at = now
    return ConfirmResult(Outcome.CONFIRMED, request)
