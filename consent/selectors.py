"""Reads of consent. ``send_decision`` and ``sendable_contacts`` are what campaign launch and the
send pipeline ask (at launch, and again just before each message is handed to the transport):
a revocation, an unsubscribe or a suppression after launch wins."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from consent.models import (
    AuthorisationText,
    ConsentEvent,
    ConsentStatus,
    ContactConsent,
    ContactPreferences,
    MarketingAuthorisation,
    OptInForm,
    Purpose,
    Suppression,
    Topic,
)
from consent.purposes import PurposeInfo, UnknownPurpose, purpose_get, purposes_for
from segments.models import Contact
from tenants.context import require_tenant_is_current
from tenants.models import Organisation


class Refusal:
    """Why a message may not be sent (stable codes, for events and the UI)."""

    UNKNOWN_PURPOSE = "unknown_purpose"
    SUPPRESSED = "suppressed"
    NO_CONSENT = "no_consent"
    NO_AUTHORISATION = "no_authorisation"
    AUTHORISATION_EXPIRED = "authorisation_expired"
    AUTHORISATION_REVOKED = "authorisation_revoked"


@dataclass(frozen=True)
class SendDecision:
    allowed: bool
    reason: str = ""


ALLOWED = SendDecision(True)


def _valid_authorisations(tenant: Organisation, purpose: str, today: date) -> QuerySet[MarketingAuthorisation]:
    return MarketingAuthorisation.objects.for_tenant(tenant).filter(
        Q(expires_on__isnull=True) | Q(expires_on__gte=today), purpose=purpose, revoked_at__isnull=True
    )


def _authorisation_refusal(tenant: Organisation, contact: Contact, purpose: str, today: date) -> str:
    if _valid_authorisations(tenant, purpose, today).filter(contact=contact).exists():
        return ""
    others = MarketingAuthorisation.objects.for_tenant(tenant).filter(contact=contact, purpose=purpose)
    if others.filter(revoked_at__isnull=False).exists():
        return Refusal.AUTHORISATION_REVOKED
    if others.exists():
        return Refusal.AUTHORISATION_EXPIRED
    return Refusal.NO_AUTHORISATION


def send_decision(*, tenant: Organisation, contact: Contact, purpose: str, at: datetime | None = None) -> SendDecision:
    """May a message for ``purpose`` go to ``contact`` now? Suppressed addresses get nothing;
    otherwise consent must be granted, and a marketing purpose also needs a valid (unexpired,
    unrevoked) authorisation."""
    require_tenant_is_current(tenant)
    try:
        info = purpose_get(tenant=tenant, key=purpose)
    except UnknownPurpose:
        return SendDecision(False, Refusal.UNKNOWN_PURPOSE)
    if Suppression.objects.for_tenant(tenant).filter(email_index=contact.email_index).exists():
        return SendDecision(False, Refusal.SUPPRESSED)
    granted = ContactConsent.objects.for_tenant(tenant).filter(
        contact=contact, purpose=purpose, status=ConsentStatus.GRANTED
    )
    if not granted.exists():
        return SendDecision(False, Refusal.NO_CONSENT)
    if info.is_marketing:
        today = timezone.localdate(at) if at else timezone.localdate()
        refusal = _authorisation_refusal(tenant, contact, purpose, today)
        if refusal:
            return SendDecision(False, refusal)
    return ALLOWED


def sendable_contacts(
    *, tenant: Organisation, purpose: str, contacts: QuerySet[Contact], at: datetime | None = None
) -> QuerySet[Contact]:
    """``contacts`` narrowed, in one query, to those ``send_decision`` would allow: launch
    freezes an audience with this."""
    require_tenant_is_current(tenant)
    try:
        info = purpose_get(tenant=tenant, key=purpose)
    except UnknownPurpose:
        return contacts.none()
    granted = ContactConsent.objects.for_tenant(tenant).filter(
        contact=OuterRef("pk"), purpose=purpose, status=ConsentStatus.GRANTED
    )
    suppressed = Suppression.objects.for_tenant(tenant).filter(email_index=OuterRef("email_index"))
    allowed = contacts.filter(Exists(granted)).exclude(Exists(suppressed))
    if info.is_marketing:
        today = timezone.localdate(at) if at else timezone.localdate()
        authorised = _valid_authorisations(tenant, purpose, today).filter(contact=OuterRef("pk"))
        allowed = allowed.filter(Exists(authorised))
    return allowed


def sendable_contact_ids(
    *, tenant: Organisation, purpose: str, contact_ids: Iterable[Any], at: datetime | None = None
) -> set[Any]:
    """The ids among ``contact_ids`` (a batch, a few hundred) that ``sendable_contacts`` would
    keep, by separate lookups on literal lists (consents, suppressions, authorisations) instead
    of one query with correlated sub-selects, whose plan depends on table statistics: right
    after a large import, before the tables were analysed, that query took a minute a batch.
    The send pipeline re-checks each batch with this."""
    require_tenant_is_current(tenant)
    wanted = list(dict.fromkeys(contact_ids))
    if not wanted:
        return set()
    try:
        info = purpose_get(tenant=tenant, key=purpose)
    except UnknownPurpose:
        return set()
    indexes = dict(Contact.objects.for_tenant(tenant).filter(pk__in=wanted).values_list("pk", "email_index"))
    granted = set(
        ContactConsent.objects.for_tenant(tenant)
        .filter(contact_id__in=list(indexes), purpose=purpose, status=ConsentStatus.GRANTED)
        .values_list("contact_id", flat=True)
    )
    suppressed = set(
        Suppression.objects.for_tenant(tenant)
        .filter(email_index__in=[indexes[c] for c in granted])
        .values_list("email_index", flat=True)
    )
    allowed = {c for c in granted if indexes[c] not in suppressed}
    if info.is_marketing and allowed:
        today = timezone.localdate(at) if at else timezone.localdate()
        allowed &= set(
            _valid_authorisations(tenant, purpose, today)
            .filter(contact_id__in=list(allowed))
            .values_list("contact_id", flat=True)
        )
    return allowed


def accepts_unencrypted_phi(*, tenant: Organisation, contact: Contact) -> bool:
    """True only when the contact chose, after the warning, to get PHI by ordinary email."""
    require_tenant_is_current(tenant)
    return ContactPreferences.objects.for_tenant(tenant).filter(contact=contact, accepts_unencrypted_phi=True).exists()


@dataclass(frozen=True)
class PurposeStatus:
    purpose: PurposeInfo
    status: str
    source: str
    changed_at: datetime | None

    @property
    def status_label(self) -> str:
        return ConsentStatus(self.status).label


def contact_consent_statuses(*, tenant: Organisation, contact: Contact) -> list[PurposeStatus]:
    """Every purpose with the contact's status for it ("never asked" where there is no row)."""
    require_tenant_is_current(tenant)
    rows = {row.purpose: row for row in ContactConsent.objects.for_tenant(tenant).filter(contact=contact)}
    statuses = []
    for purpose in purposes_for(tenant=tenant, include_archived=True):
        row = rows.get(purpose.key)
        if row is None and purpose.is_archived:
            continue
        statuses.append(
            PurposeStatus(
                purpose,
                row.status if row else ConsentStatus.NEVER_ASKED,
                row.source if row else "",
                row.changed_at if row else None,
            )
        )
    return statuses


def contact_consent_history(*, tenant: Organisation, contact_id: uuid.UUID) -> QuerySet[ConsentEvent]:
    """The contact's consent history, oldest first; kept after the contact is removed."""
    require_tenant_is_current(tenant)
    return ConsentEvent.objects.for_tenant(tenant).filter(contact_id=contact_id).order_by("occurred_at", "id")


def contact_preferences(*, tenant: Organisation, contact: Contact) -> ContactPreferences:
    """The contact's preferences, or the defaults (unsaved) if they never chose."""
    require_tenant_is_current(tenant)
    found = ContactPreferences.objects.for_tenant(tenant).filter(contact=contact).first()
    return found or ContactPreferences(tenant=tenant, contact=contact)


def contact_authorisations(*, tenant: Organisation, contact: Contact) -> QuerySet[MarketingAuthorisation]:
    require_tenant_is_current(tenant)
    return MarketingAuthorisation.objects.for_tenant(tenant).filter(contact=contact).select_related("text")


def authorisation_get(*, tenant: Organisation, authorisation_id: uuid.UUID) -> MarketingAuthorisation:
    require_tenant_is_current(tenant)
    found = (
        MarketingAuthorisation.objects.for_tenant(tenant)
        .select_related("text", "contact")
        .filter(pk=authorisation_id)
        .first()
    )
    if found is None:
        raise Http404("No such authorisation.")
    return found


def authorisation_text_get(*, tenant: Organisation, text_id: uuid.UUID) -> AuthorisationText:
    require_tenant_is_current(tenant)
    found = AuthorisationText.objects.for_tenant(tenant).filter(pk=text_id).first()
    if found is None:
        raise Http404("No such authorisation text.")
    return found


def authorisation_texts_current(*, tenant: Organisation) -> list[AuthorisationText]:
    """The latest version of each authorisation text, by name."""
    require_tenant_is_current(tenant)
    latest: dict[str, AuthorisationText] = {}
    for text in AuthorisationText.objects.for_tenant(tenant).order_by("name", "-version"):
        latest.setdefault(text.name, text)
    return list(latest.values())


def expiring_authorisations(
    *, tenant: Organisation, within_days: int = 30, today: date | None = None
) -> QuerySet[MarketingAuthorisation]:
    """Valid authorisations whose expiry date falls in the next ``within_days`` days."""
    require_tenant_is_current(tenant)
    today = today or timezone.localdate()
    return (
        MarketingAuthorisation.objects.for_tenant(tenant)
        .filter(revoked_at__isnull=True, expires_on__gte=today, expires_on__lte=today + timedelta(days=within_days))
        .select_related("text")
        .order_by("expires_on", "id")
    )


def suppression_list(*, tenant: Organisation) -> QuerySet[Suppression]:
    require_tenant_is_current(tenant)
    return Suppression.objects.for_tenant(tenant).order_by("-created_at", "id")


def suppression_get(*, tenant: Organisation, suppression_id: uuid.UUID) -> Suppression:
    require_tenant_is_current(tenant)
    found = Suppression.objects.for_tenant(tenant).filter(pk=suppression_id).first()
    if found is None:
        raise Http404("No such suppression.")
    return found


def is_suppressed(*, tenant: Organisation, contact: Contact) -> bool:
    require_tenant_is_current(tenant)
    return Suppression.objects.for_tenant(tenant).filter(email_index=contact.email_index).exists()


def optin_form_get(*, tenant: Organisation, form_id: uuid.UUID) -> OptInForm:
    require_tenant_is_current(tenant)
    found = OptInForm.objects.for_tenant(tenant).filter(pk=form_id).first()
    if found is None:
        raise Http404("No such form.")
    return found


def purpose_row_get(*, tenant: Organisation, purpose_id: uuid.UUID) -> Purpose:
    """One of the organisation's own purposes (built-in ones have no row)."""
    require_tenant_is_current(tenant)
    found = Purpose.objects.for_tenant(tenant).filter(pk=purpose_id).first()
    if found is None:
        raise Http404("No such purpose.")
    return found


def purpose_rows(*, tenant: Organisation) -> QuerySet[Purpose]:
    """The organisation's own purposes, archived ones included, by name."""
    require_tenant_is_current(tenant)
    return Purpose.objects.for_tenant(tenant).order_by("is_archived", "name")


def topic_list(*, tenant: Organisation) -> QuerySet[Topic]:
    require_tenant_is_current(tenant)
    return Topic.objects.for_tenant(tenant).order_by("purpose", "name")
