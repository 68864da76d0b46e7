"""Writes to consent: every change takes the contact's consent row under a lock, appends to the
history with its evidence and records an audit event, all in one transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import ActorType
from audit.services import Actor, Target, record
from consent.models import (
    AuthorisationText,
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    ContactConsent,
    ContactPreferences,
    EventKind,
    MarketingAuthorisation,
    Purpose,
    Suppression,
    SuppressionReason,
    Topic,
)
from consent.purposes import BUILTIN_KEYS, PurposeInfo, purpose_get
from encryption.fields import blind_index_for
from segments.contacts import normalise_email
from segments.models import Contact
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

# The warning a recipient accepts before choosing PHI by ordinary email; its version is kept as
# evidence with the choice, so a later rewording does not change what they agreed to.
UNENCRYPTED_WARNING_VERSION = "2026-11"
UNENCRYPTED_WARNING = (
    "Ordinary email is not encrypted end to end. If you choose it, messages about your health, "
    "appointments or bills may be read by others while they travel or in your mailbox, for example "
    "by your email provider or by anyone who can open your email. You can change this back at any "
    "time. If you do not choose it, we only send such messages over a verified encrypted "
    "connection, or we keep them in our secure portal and email you a link."
)


class ConsentError(ValidationError):
    """A consent change that is not allowed; the message says why (and never holds PHI)."""


@dataclass(frozen=True)
class Evidence:
    """What proves a consent change: where it came from and, for recipients, their browser."""

    ip_address: str = ""
    user_agent: str = ""
    form_version: str = ""


NO_EVIDENCE = Evidence()
RECIPIENT = Actor(ActorType.RECIPIENT, "", "recipient")


def _recorded_by(actor: Actor) -> dict[str, str]:
    return {
        "recorded_by_type": str(actor.type),
        "recorded_by_id": actor.id,
        "recorded_by_label": actor.label[:200],
    }


def _event(
    *,
    tenant: Organisation,
    contact: Contact,
    kind: str,
    purpose: str,
    from_status: str,
    to_status: str,
    source: str,
    actor: Actor,
    evidence: Evidence,
    at: datetime,
) -> ConsentEvent:
    event = ConsentEvent(
        tenant=tenant,
        contact_id=contact.pk,
        kind=kind,
        purpose=purpose,
        from_status=from_status,
        to_status=to_status,
        source=source,
        occurred_at=at,
        ip_address=evidence.ip_address or None,
        user_agent=evidence.user_agent[:512] or None,
        form_version=evidence.form_version[:64],
        **_recorded_by(actor),
    )
    event.save()
    return event


# --- Consent per purpose ----------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentChange:
    purpose: str
    from_status: str
    to_status: str

    @property
    def changed(self) -> bool:
        return self.from_status != self.to_status


def _check_transition(purpose: PurposeInfo, current: str, new: str, source: str) -> None:
    if new == ConsentStatus.NEVER_ASKED:
        raise ConsentError("Consent cannot be set back to “never asked”; revoke it instead.")
    if new not in ConsentStatus.values:
        raise ConsentError(f"Unknown consent status {new!r}.")
    if source not in ConsentSource.values:
        raise ConsentError(f"Unknown consent source {source!r}.")
    if new == ConsentStatus.PENDING and current == ConsentStatus.GRANTED:
        raise ConsentError(f"Consent for {purpose.name} is already granted; it cannot go back to pending.")
    if new == ConsentStatus.GRANTED and purpose.is_archived:
        raise ConsentError(f"The purpose {purpose.name} is archived; consent to it cannot be granted.")


def consent_set(
    *,
    tenant: Organisation,
    actor: Actor,
    contact: Contact,
    purpose: str,
    status: str,
    source: str,
    evidence: Evidence = NO_EVIDENCE,
) -> ConsentChange:
    """Set ``contact``'s consent for ``purpose``. Setting the status it already has changes
    nothing and records nothing."""
    require_tenant_is_current(tenant)
    info = purpose_get(tenant=tenant, key=purpose, allow_archived=True)
    with transaction.atomic():
        row = ContactConsent.objects.for_tenant(tenant).select_for_update().filter(contact=contact, purpose=purpose)
        current = row.first()
        from_status = current.status if current else ConsentStatus.NEVER_ASKED
        _check_transition(info, from_status, status, source)
        change = ConsentChange(purpose, from_status, status)
        if not change.changed:
            return change
        now = timezone.now()
        if current is None:
            ContactConsent(
                tenant=tenant, contact=contact, purpose=purpose, status=status, source=source, changed_at=now
            ).save()
        else:
            current.status, current.source, current.changed_at = status, source, now
            current.save(update_fields=["status", "source", "changed_at"])
        _event(
            tenant=tenant,
            contact=contact,
            kind=EventKind.CONSENT,
            purpose=purpose,
            from_status=from_status,
            to_status=status,
            source=source,
            actor=actor,
            evidence=evidence,
            at=now,
        )
        record(
            tenant=tenant,
            action="consent.changed",
            actor=actor,
            target=Target.of(contact),
            details={"purpose": purpose, "from": from_status, "to": status, "source": source},
        )
    return change


def consent_set_many(
    *,
    tenant: Organisation,
    actor: Actor,
    contact: Contact,
    statuses: dict[str, str],
    source: str,
    evidence: Evidence = NO_EVIDENCE,
) -> list[ConsentChange]:
    """Several purposes at once, all or nothing."""
    with transaction.atomic():
        return [
            consent_set(
                tenant=tenant,
                actor=actor,
                contact=contact,
                purpose=purpose,
                status=status,
                source=source,
                evidence=evidence,
            )
            for purpose, status in statuses.items()
        ]


def contact_unsubscribe(
    *, tenant: Organisation, actor: Actor, contact: Contact, purpose: str, source: str, evidence: Evidence
) -> ConsentChange:
    """Revoke one purpose (a List-Unsubscribe of a message sent for that purpose)."""
    return consent_set(
        tenant=tenant,
        actor=actor,
        contact=contact,
        purpose=purpose,
        status=ConsentStatus.REVOKED,
        source=source,
        evidence=evidence,
    )


def contact_unsubscribe_all(
    *, tenant: Organisation, actor: Actor, contact: Contact, source: str, evidence: Evidence
) -> list[ConsentChange]:
    """Revoke every purpose the contact had granted or was asked about and suppress the address,
    so nothing more is sent even for purposes added later."""
    with transaction.atomic():
        purposes = list(
            ContactConsent.objects.for_tenant(tenant)
            .filter(contact=contact)
            .exclude(status=ConsentStatus.REVOKED)
            .order_by("purpose")
            .values_list("purpose", flat=True)
        )
        changes = [
            contact_unsubscribe(
                tenant=tenant, actor=actor, contact=contact, purpose=purpose, source=source, evidence=evidence
            )
            for purpose in purposes
        ]
        suppression_add(
            tenant=tenant, actor=actor, email=contact.email, reason=SuppressionReason.UNSUBSCRIBED, source=source
        )
    return changes


# --- Suppression ------------------------------------------------------------------------------


def suppression_key(*, tenant: Organisation, email: str) -> str:
    """The blind index an address is suppressed under: the same as ``Contact.email_index``."""
    return blind_index_for(Contact, "email_index", tenant, normalise_email(email))


def suppression_add(
    *, tenant: Organisation, actor: Actor, email: str, reason: str, source: str = ConsentSource.STAFF
) -> Suppression:
    """Suppress an address for a reason; adding it again for the same reason changes nothing."""
    require_tenant_is_current(tenant)
    if reason not in SuppressionReason.values:
        raise ConsentError(f"Unknown suppression reason {reason!r}.")
    address = normalise_email(email)
    if not address:
        raise ConsentError("Enter an email address to suppress.")
    key = suppression_key(tenant=tenant, email=address)
    existing = Suppression.objects.for_tenant(tenant).filter(email_index=key, reason=reason).first()
    if existing is not None:
        return existing
    suppression = Suppression(
        tenant=tenant,
        email=address,
        email_index=key,
        reason=reason,
        source=source,
        created_by_label=actor.label[:200],
    )
    try:
        with transaction.atomic():
            suppression.save()
    except IntegrityError:
        # Added by a concurrent request (a double click on unsubscribe): the same end state.
        return Suppression.objects.for_tenant(tenant).get(email_index=key, reason=reason)
    record(
        tenant=tenant,
        action="suppression.added",
        actor=actor,
        target=Target.of(suppression),
        details={"reason": reason, "source": source},
    )
    return suppression


def suppression_remove(*, tenant: Organisation, actor: Actor, suppression: Suppression) -> None:
    require_tenant_is_current(tenant)
    if suppression.reason == SuppressionReason.COMPLAINT:
        raise ConsentError("A spam complaint cannot be lifted here: the recipient must opt in again through a form.")
    record(
        tenant=tenant,
        action="suppression.removed",
        actor=actor,
        target=Target.of(suppression),
        details={"reason": suppression.reason},
    )
    suppression.delete()


# --- Purposes and topics ----------------------------------------------------------------------


def purpose_create(
    *,
    tenant: Organisation,
    actor: Actor,
    key: str,
    name: str,
    description: str = "",
    is_marketing: bool,
    allows_phi: bool = False,
) -> Purpose:
    require_tenant_is_current(tenant)
    if key in BUILTIN_KEYS:
        raise ConsentError(f"“{key}” is a built-in purpose; choose another key.")
    if Purpose.objects.for_tenant(tenant).filter(key=key).exists():
        raise ConsentError(f"There is already a purpose with the key “{key}”.")
    purpose = Purpose(
        tenant=tenant,
        key=key,
        name=name,
        description=description,
        is_marketing=is_marketing,
        allows_phi=allows_phi,
    )
    purpose.full_clean()
    purpose.save()
    record(
        tenant=tenant,
        action="consent.purpose_created",
        actor=actor,
        target=Target.of(purpose),
        details={"key": key, "is_marketing": is_marketing, "allows_phi": allows_phi},
    )
    return purpose


def purpose_archive(*, tenant: Organisation, actor: Actor, purpose: Purpose) -> Purpose:
    """Archived purposes can be granted no more; their history stays. Keys are never reused."""
    require_tenant_is_current(tenant)
    purpose.is_archived = True
    purpose.save(update_fields=["is_archived"])
    record(
        tenant=tenant,
        action="consent.purpose_archived",
        actor=actor,
        target=Target.of(purpose),
        details={"key": purpose.key},
    )
    return purpose


def topic_create(*, tenant: Organisation, actor: Actor, key: str, name: str, purpose: str) -> Topic:
    require_tenant_is_current(tenant)
    purpose_get(tenant=tenant, key=purpose)
    if Topic.objects.for_tenant(tenant).filter(key=key).exists():
        raise ConsentError(f"There is already a topic with the key “{key}”.")
    topic = Topic(tenant=tenant, key=key, name=name, purpose=purpose)
    topic.full_clean()
    topic.save()
    record(
        tenant=tenant,
        action="consent.topic_created",
        actor=actor,
        target=Target.of(topic),
        details={"key": key, "purpose": purpose},
    )
    return topic


# --- Preferences and the unencrypted-email choice --------------------------------------------


def _preferences_for_update(tenant: Organisation, contact: Contact) -> ContactPreferences:
    preferences, _ = (
        ContactPreferences.objects.for_tenant(tenant)
        .select_for_update()
        .get_or_create(contact=contact, defaults={"tenant": tenant})
    )
    return preferences


def preferences_update(
    *,
    tenant: Organisation,
    actor: Actor,
    contact: Contact,
    frequency: str,
    topics_declined: Iterable[str],
) -> ContactPreferences:
    require_tenant_is_current(tenant)
    if frequency not in ContactPreferences.Frequency.values:
        raise ConsentError("Choose how often you would like to hear from us.")
    known = set(Topic.objects.for_tenant(tenant).values_list("key", flat=True))
    declined = sorted(set(topics_declined))
    unknown = [key for key in declined if key not in known]
    if unknown:
        raise ConsentError("Some of the topics chosen do not exist.")
    with transaction.atomic():
        preferences = _preferences_for_update(tenant, contact)
        changed = []
        if preferences.frequency != frequency:
            changed.append("frequency")
        if sorted(preferences.topics_declined) != declined:
            changed.append("topics")
        if not changed:
            return preferences
        preferences.frequency, preferences.topics_declined = frequency, declined
        preferences.save(update_fields=["frequency", "topics_declined", "updated_at"])
        record(
            tenant=tenant,
            action="consent.preferences_changed",
            actor=actor,
            target=Target.of(contact),
            details={"fields": changed, "frequency": frequency},
        )
    return preferences


def unencrypted_email_set(
    *,
    tenant: Organisation,
    actor: Actor,
    contact: Contact,
    accepts: bool,
    warning_accepted: bool,
    source: str,
    evidence: Evidence = NO_EVIDENCE,
) -> ContactPreferences:
    """Record the recipient's choice to receive PHI by ordinary email, which needs the warning
    (``UNENCRYPTED_WARNING``) to have been shown and accepted; withdrawing needs nothing."""
    require_tenant_is_current(tenant)
    if accepts and not warning_accepted:
        raise ConsentError("Read and accept the warning about unencrypted email first.")
    with transaction.atomic():
        preferences = _preferences_for_update(tenant, contact)
        if preferences.accepts_unencrypted_phi == accepts:
            return preferences
        now = timezone.now()
        before = "accepted" if preferences.accepts_unencrypted_phi else "declined"
        after = "accepted" if accepts else "declined"
        preferences.accepts_unencrypted_phi = accepts
        preferences.unencrypted_phi_changed_at = now
        preferences.unencrypted_warning_version = UNENCRYPTED_WARNING_VERSION if accepts else ""
        preferences.save(
            update_fields=[
                "accepts_unencrypted_phi",
                "unencrypted_phi_changed_at",
                "unencrypted_warning_version",
                "updated_at",
            ]
        )
        _event(
            tenant=tenant,
            contact=contact,
            kind=EventKind.UNENCRYPTED_EMAIL,
            purpose="",
            from_status=before,
            to_status=after,
            source=source,
            actor=actor,
            evidence=Evidence(
                evidence.ip_address,
                evidence.user_agent,
                evidence.form_version or f"unencrypted-warning:{UNENCRYPTED_WARNING_VERSION}",
            ),
            at=now,
        )
        record(
            tenant=tenant,
            action="consent.unencrypted_email_changed",
            actor=actor,
            target=Target.of(contact),
            details={"to": after, "source": source, "warning_version": UNENCRYPTED_WARNING_VERSION},
        )
    return preferences


# --- HIPAA marketing authorisations -----------------------------------------------------------

# Each required element of an authorisation (45 CFR 164.508(c)(1)-(2)), the field holding it
# and how a refusal names it.
REQUIRED_ELEMENTS: tuple[tuple[str, str], ...] = (
    ("information_description", "a specific description of the information to be used or disclosed"),
    ("disclosing_party", "who is authorised to make the disclosure"),
    ("recipient_party", "who will receive the information"),
    ("purpose_description", "a description of each purpose of the use or disclosure"),
    ("expiry_statement", "an expiration date or event"),
    ("revocation_statement", "the right to revoke in writing and how to do it"),
    ("conditioning_statement", "whether treatment, payment, enrolment or eligibility may be conditioned on signing"),
    ("redisclosure_statement", "that disclosed information may be redisclosed and no longer protected"),
)
REMUNERATION_ELEMENT = (
    "remuneration_statement",
    "that the organisation receives financial remuneration from a third party (45 CFR 164.508(a)(3)(ii))",
)
AUTHORISATION_TEXT_FIELDS = [name for name, _ in REQUIRED_ELEMENTS] + [
    "involves_remuneration",
    "remuneration_statement",
]


def authorisation_missing_elements(values: dict[str, Any]) -> list[str]:
    """The required elements ``values`` lacks, as sentences naming each one."""
    missing = [label for name, label in REQUIRED_ELEMENTS if not str(values.get(name) or "").strip()]
    if values.get("involves_remuneration") and not str(values.get("remuneration_statement") or "").strip():
        missing.append(REMUNERATION_ELEMENT[1])
    return missing


def authorisation_text_publish(
    *, tenant: Organisation, actor: Actor, name: str, values: dict[str, Any]
) -> AuthorisationText:
    """Publish the next version of the authorisation text ``name``; refused, naming each
    missing element, if any required element is empty."""
    require_tenant_is_current(tenant)
    name = name.strip()
    if not name:
        raise ConsentError("Give the authorisation text a name.")
    missing = authorisation_missing_elements(values)
    if missing:
        raise ConsentError([f"The authorisation lacks {label}." for label in missing])
    with transaction.atomic():
        latest = (
            AuthorisationText.objects.for_tenant(tenant)
            .select_for_update()
            .filter(name=name)
            .order_by("-version")
            .first()
        )
        text = AuthorisationText(
            tenant=tenant,
            name=name,
            version=(latest.version + 1) if latest else 1,
            created_by_label=actor.label[:200],
            **{
                key: values.get(key) or ("" if key != "involves_remuneration" else False)
                for key in AUTHORISATION_TEXT_FIELDS
            },
        )
        text.save()
        record(
            tenant=tenant,
            action="consent.authorisation_text_published",
            actor=actor,
            target=Target.of(text),
            details={"version": text.version, "involves_remuneration": text.involves_remuneration},
        )
    return text


@dataclass(frozen=True)
class SignedAuthorisation:
    signature_name: str
    signed_on: date
    signature_method: str = MarketingAuthorisation.SignatureMethod.ELECTRONIC
    expires_on: date | None = None
    expiry_event: str = ""


def marketing_authorisation_record(
    *,
    tenant: Organisation,
    actor: Actor,
    contact: Contact,
    text: AuthorisationText,
    purpose: str,
    signed: SignedAuthorisation,
    source: str,
    evidence: Evidence = NO_EVIDENCE,
) -> MarketingAuthorisation:
    """Record a contact's signed authorisation for a marketing purpose."""
    require_tenant_is_current(tenant)
    require_tenant_is_current(text.tenant)
    info = purpose_get(tenant=tenant, key=purpose)
    errors = []
    if not info.is_marketing:
        errors.append(f"{info.name} is not a marketing purpose; it needs consent, not an authorisation.")
    missing = authorisation_missing_elements({key: getattr(text, key) for key in AUTHORISATION_TEXT_FIELDS})
    errors += [f"The authorisation text lacks {label}." for label in missing]
    if not signed.signature_name.strip():
        errors.append("The authorisation lacks the signature of the individual.")
    if signed.signed_on is None:
        errors.append("The authorisation lacks the date it was signed.")
    elif signed.signed_on > timezone.localdate():
        errors.append("The signature date is in the future.")
    if signed.expires_on is None and not signed.expiry_event.strip():
        errors.append("The authorisation lacks an expiration date or event.")
    if signed.expires_on is not None and signed.signed_on is not None and signed.expires_on < signed.signed_on:
        errors.append("The expiration date is before the signature date.")
    if signed.signature_method not in MarketingAuthorisation.SignatureMethod.values:
        errors.append("Choose how the authorisation was signed.")
    if errors:
        raise ConsentError(errors)
    with transaction.atomic():
        authorisation = MarketingAuthorisation(
            tenant=tenant,
            contact=contact,
            text=text,
            purpose=purpose,
            signature_name=signed.signature_name.strip(),
            signature_method=signed.signature_method,
            signed_on=signed.signed_on,
            expires_on=signed.expires_on,
            expiry_event=signed.expiry_event.strip()[:200],
            source=source,
        )
        authorisation.save()
        _event(
            tenant=tenant,
            contact=contact,
            kind=EventKind.AUTHORISATION,
            purpose=purpose,
            from_status="",
            to_status="signed",
            source=source,
            actor=actor,
            evidence=Evidence(evidence.ip_address, evidence.user_agent, f"{text.name}:v{text.version}"[:64]),
            at=timezone.now(),
        )
        record(
            tenant=tenant,
            action="consent.authorisation_recorded",
            actor=actor,
            target=Target.of(authorisation),
            details={"purpose": purpose, "text_version": text.version, "source": source},
        )
    return authorisation


def marketing_authorisation_revoke(
    *,
    tenant: Organisation,
    actor: Actor,
    authorisation: MarketingAuthorisation,
    source: str,
    evidence: Evidence = NO_EVIDENCE,
) -> MarketingAuthorisation:
    """Revoke an authorisation (the individual's written revocation, or its expiry event
    having happened). Revoking twice changes nothing."""
    require_tenant_is_current(tenant)
    with transaction.atomic():
        locked = MarketingAuthorisation.objects.for_tenant(tenant).select_for_update().get(pk=authorisation.pk)
        if locked.revoked_at is not None:
            return locked
        locked.revoked_at = timezone.now()
        locked.revocation_source = source
        locked.save(update_fields=["revoked_at", "revocation_source"])
        _event(
            tenant=tenant,
            contact=locked.contact,
            kind=EventKind.AUTHORISATION,
            purpose=locked.purpose,
            from_status="signed",
            to_status="revoked",
            source=source,
            actor=actor,
            evidence=evidence,
            at=locked.revoked_at,
        )
        record(
            tenant=tenant,
            action="consent.authorisation_revoked",
            actor=actor,
            target=Target.of(locked),
            details={"purpose": locked.purpose, "source": source},
        )
    return locked
