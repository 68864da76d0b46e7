"""What recipients do through their links: unsubscribe (one click, the page, or by mail) and
change their choices in the preference centre. The acting party is always the recipient
(``consent.services.RECIPIENT``); each change goes through the consent services, so it has its
history row with evidence and its audit event."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import transaction

from audit.services import Target, record
from consent.links import InvalidLink, LinkTarget, purpose_tag, read_mailto_address
from consent.models import (
    ConsentSource,
    ConsentStatus,
    ContactConsent,
    ContactPreferences,
    Suppression,
    SuppressionReason,
    Topic,
)
from consent.purposes import UnknownPurpose, purpose_get, purposes_for
from consent.selectors import PurposeStatus, contact_consent_statuses, contact_preferences, is_suppressed
from consent.services import (
    RECIPIENT,
    ConsentChange,
    ConsentError,
    Evidence,
    consent_set,
    contact_unsubscribe,
    contact_unsubscribe_all,
    preferences_update,
    unencrypted_email_set,
)
from segments.models import Contact
from tenants.context import require_tenant_is_current, tenant_context
from tenants.models import Organisation
from tenants.tasks import active_organisation

logger = logging.getLogger(__name__)


class Channel:
    """How an unsubscribe reached us (audit details)."""

    ONE_CLICK = "one_click"  # the RFC 8058 POST a mailbox provider makes
    PAGE = "page"  # the button on the unsubscribe page
    MAILTO = "mailto"  # an email to the List-Unsubscribe mailto address
    PREFERENCE_CENTRE = "preference_centre"


# --- Resolving a link ---------------------------------------------------------------------------


def link_organisation(target: LinkTarget) -> Organisation:
    """The (active) organisation a link belongs to; a link of a closed organisation is invalid."""
    tenant = active_organisation(target.tenant_id)
    if tenant is None:
        raise InvalidLink("The link is not valid.")
    return tenant


@contextmanager
def recipient_context(target: LinkTarget) -> Iterator[tuple[Organisation, Contact | None]]:
    """Run as the link's organisation, with its contact (None if it has been removed since).

    A recipient's link is the authority here, whoever is signed in: a staff member of another
    organisation who opens their own preference link still acts for the link's organisation,
    so the request's tenant (if any) is deliberately switched away from for this block."""
    tenant = link_organisation(target)
    with tenant_context(tenant, switch_from_active=True):
        yield tenant, recipient_contact(tenant=tenant, contact_id=target.contact_id)


def recipient_contact(*, tenant: Organisation, contact_id: uuid.UUID) -> Contact | None:
    require_tenant_is_current(tenant)
    return Contact.objects.for_tenant(tenant).filter(pk=contact_id).first()


# --- Suppressions lifted by a new affirmative choice -------------------------------------------


def suppressions_lift(*, tenant: Organisation, contact: Contact, reasons: Iterable[str], source: str) -> list[str]:
    """Remove the contact's address from the suppression list for ``reasons``: only when the
    recipient has just chosen, themselves, to hear from the organisation again. Returns the
    reasons lifted."""
    require_tenant_is_current(tenant)
    lifted = []
    rows = Suppression.objects.for_tenant(tenant).filter(email_index=contact.email_index, reason__in=list(reasons))
    for suppression in rows.order_by("reason"):
        record(
            tenant=tenant,
            action="suppression.removed",
            actor=RECIPIENT,
            target=Target.of(suppression),
            details={"reason": suppression.reason, "source": source},
        )
        lifted.append(suppression.reason)
        suppression.delete()
    return lifted


# --- Unsubscribe ----------------------------------------------------------------------------------


def recipient_unsubscribe(
    *,
    tenant: Organisation,
    contact: Contact,
    purpose: str,
    channel: str,
    evidence: Evidence,
    message_id: int | None = None,
) -> list[ConsentChange]:
    """Revoke ``purpose`` at once, or with no purpose revoke everything and suppress the
    address. Doing it again changes nothing (but is still recorded as a request).
    ``message_id``: the campaign message whose link was followed, if the link named one; the
    ``unsubscribed`` event then counts for its campaign."""
    require_tenant_is_current(tenant)
    with transaction.atomic():
        was_suppressed = (
            not purpose
            and Suppression.objects.for_tenant(tenant)
            .filter(email_index=contact.email_index, reason=SuppressionReason.UNSUBSCRIBED)
            .exists()
        )
        if purpose:
            try:
                purpose_get(tenant=tenant, key=purpose, allow_archived=True)
            except UnknownPurpose:
                purpose = ""  # cannot happen for a link we signed; err towards sending less
        if purpose:
            changes = [
                contact_unsubscribe(
                    tenant=tenant,
                    actor=RECIPIENT,
                    contact=contact,
                    purpose=purpose,
                    source=ConsentSource.RECIPIENT,
                    evidence=evidence,
                )
            ]
        else:
            changes = contact_unsubscribe_all(
                tenant=tenant, actor=RECIPIENT, contact=contact, source=ConsentSource.RECIPIENT, evidence=evidence
            )
        record(
            tenant=tenant,
            action="consent.unsubscribed",
            actor=RECIPIENT,
            target=Target.of(contact),
            details={
                "channel": channel,
                "purpose": purpose or "all",
                "changed": sum(1 for change in changes if change.changed),
            },
        )
        if any(change.changed for change in changes) or (not purpose and not was_suppressed):
            _report_unsubscribe(tenant, contact, channel, message_id)
    return changes


def _report_unsubscribe(tenant: Organisation, contact: Contact, channel: str, message_id: int | None) -> None:
    """One ``unsubscribed`` event per request that revoked something. A link sent in a campaign
    message names that message (sealed, ``consent.links``): the event then has its campaign,
    message and recipient domain. Other links (and mailto addresses) name the contact only."""
    from reporting.models import EventKind
    from reporting.sources import message_event_record

    message_event_record(
        tenant=tenant,
        kind=EventKind.UNSUBSCRIBED,
        message_id=message_id,
        contact_id=contact.pk,
        detail=channel,
        message_of_contact=True,
    )


class MailUnsubscribeResult:
    DONE = "done"
    INVALID = "invalid"


def unsubscribe_by_mail(*, to_address: str) -> str:
    """Process a message sent to a List-Unsubscribe mailto address: ``to_address`` is the
    envelope recipient. Returns ``MailUnsubscribeResult.DONE`` (also when the contact no longer
    exists: there is nobody left to send to) or ``INVALID`` for an address we did not make."""
    try:
        target = read_mailto_address(to_address)
        tenant = link_organisation(target)
    except InvalidLink:
        return MailUnsubscribeResult.INVALID
    with tenant_context(tenant, switch_from_active=True):
        contact = recipient_contact(tenant=tenant, contact_id=target.contact_id)
        if contact is None:
            return MailUnsubscribeResult.DONE
        if target.purpose_tag:
            keys = [
                p.key
                for p in purposes_for(tenant=tenant, include_archived=True)
                if purpose_tag(p.key) == target.purpose_tag
            ]
            if not keys:
                return MailUnsubscribeResult.INVALID
        else:
            keys = [""]
        # Two purposes sharing a 32-bit tag is improbable; if it happens, both are revoked
        # rather than neither: the recipient asked for less mail.
        with transaction.atomic():
            for key in keys:
                recipient_unsubscribe(
                    tenant=tenant,
                    contact=contact,
                    purpose=key,
                    channel=Channel.MAILTO,
                    evidence=Evidence(form_version="list-unsubscribe-mailto"),
                )
    logger.info("unsubscribe by mail processed", extra={"tenant_id": tenant.pk, "contact_id": str(contact.pk)})
    return MailUnsubscribeResult.DONE


# --- The preference centre -----------------------------------------------------------------------


@dataclass(frozen=True)
class PreferenceCentre:
    """What the preference centre shows a recipient (no name, no address)."""

    purposes: list[PurposeStatus]
    topics: list[Topic]
    preferences: ContactPreferences
    suppressed: bool
    # The recipient asked not to be tracked (opens and clicks; reporting.tracking).
    tracking_opt_out: bool = False

    @property
    def granted(self) -> set[str]:
        return {row.purpose.key for row in self.purposes if row.status == ConsentStatus.GRANTED}


def preference_centre_get(*, tenant: Organisation, contact: Contact) -> PreferenceCentre:
    require_tenant_is_current(tenant)
    return PreferenceCentre(
        purposes=contact_consent_statuses(tenant=tenant, contact=contact),
        topics=list(Topic.objects.for_tenant(tenant).order_by("name")),
        preferences=contact_preferences(tenant=tenant, contact=contact),
        suppressed=is_suppressed(tenant=tenant, contact=contact),
        tracking_opt_out=contact.tracking_opt_out,
    )


@dataclass(frozen=True)
class PreferenceChoices:
    granted: frozenset[str]
    frequency: str
    topics_declined: frozenset[str]
    accepts_unencrypted: bool
    warning_accepted: bool
    # Opt out of open and click tracking (True), allow it (False), or leave it (None).
    tracking_opt_out: bool | None = None


@dataclass
class PreferenceSaveResult:
    consent_changes: list[ConsentChange] = field(default_factory=list)
    lifted: list[str] = field(default_factory=list)


def preference_centre_save(
    *,
    tenant: Organisation,
    contact: Contact,
    choices: PreferenceChoices,
    evidence: Evidence,
    message_id: int | None = None,
) -> PreferenceSaveResult:
    """Apply the recipient's choices, all or nothing. A ticked purpose is granted, an unticked
    one that was granted or pending is revoked; archived purposes are left as they are. Choosing
    PHI by ordinary email needs the warning accepted. Granting anything lifts an earlier
    "unsubscribe from everything" (the recipient has just chosen to hear from us again).
    ``message_id``: the campaign message the preference link came in, if it named one."""
    require_tenant_is_current(tenant)
    centre = preference_centre_get(tenant=tenant, contact=contact)
    current = centre.preferences.accepts_unencrypted_phi
    if choices.accepts_unencrypted and not current and not choices.warning_accepted:
        raise ConsentError({"warning_accepted": "Tick the box to confirm you have read the warning."})
    result = PreferenceSaveResult()
    with transaction.atomic():
        for row in centre.purposes:
            if row.purpose.is_archived:
                continue
            wanted = row.purpose.key in choices.granted
            if wanted and row.status != ConsentStatus.GRANTED:
                new = ConsentStatus.GRANTED
            elif not wanted and row.status in (ConsentStatus.GRANTED, ConsentStatus.PENDING):
                new = ConsentStatus.REVOKED
            else:
                continue
            result.consent_changes.append(
                consent_set(
                    tenant=tenant,
                    actor=RECIPIENT,
                    contact=contact,
                    purpose=row.purpose.key,
                    status=new,
                    source=ConsentSource.RECIPIENT,
                    evidence=evidence,
                )
            )
        preferences_update(
            tenant=tenant,
            actor=RECIPIENT,
            contact=contact,
            frequency=choices.frequency,
            topics_declined=choices.topics_declined,
        )
        if choices.accepts_unencrypted != current:
            unencrypted_email_set(
                tenant=tenant,
                actor=RECIPIENT,
                contact=contact,
                accepts=choices.accepts_unencrypted,
                warning_accepted=choices.warning_accepted,
                source=ConsentSource.RECIPIENT,
                evidence=evidence,
            )
        if choices.tracking_opt_out is not None and choices.tracking_opt_out != contact.tracking_opt_out:
            from segments.contacts import contact_update

            # Audited as contact.updated naming the field, with the recipient as actor.
            contact_update(
                tenant=tenant, actor=RECIPIENT, contact=contact, data={"tracking_opt_out": choices.tracking_opt_out}
            )
        if any(change.to_status == ConsentStatus.REVOKED for change in result.consent_changes):
            _report_unsubscribe(tenant, contact, Channel.PREFERENCE_CENTRE, message_id)
        if any(change.to_status == ConsentStatus.GRANTED for change in result.consent_changes):
            result.lifted = suppressions_lift(
                tenant=tenant, contact=contact, reasons=[SuppressionReason.UNSUBSCRIBED], source=ConsentSource.RECIPIENT
            )
    return result


def granted_purposes(*, tenant: Organisation, contact: Contact) -> set[str]:
    require_tenant_is_current(tenant)
    return set(
        ContactConsent.objects.for_tenant(tenant)
        .filter(contact=contact, status=ConsentStatus.GRANTED)
        .values_list("purpose", flat=True)
    )
