"""Demo consent for ``seed_demo``: statuses for every purpose across the demo contacts, a HIPAA
marketing authorisation text, signed authorisations (some expiring soon), an own purpose with a
topic, and a few suppressions, so the consent pages and report have something to show.
Idempotent: an organisation that already has consent is left alone."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import timedelta

from django.utils import timezone

from audit.services import system_actor
from consent.imports import consent_import_batch
from consent.models import (
    ConsentSource,
    ConsentStatus,
    ContactConsent,
    MarketingAuthorisation,
    Purpose,
    SuppressionReason,
    Topic,
)
from consent.services import authorisation_text_publish, purpose_create, suppression_add, topic_create
from segments.models import Contact
from tenants.models import Organisation

DEMO_ACTOR = system_actor("seed_demo")
DEMO_AUTHORISATION_TEXT = {
    "information_description": "Your name, email address and the kinds of services you have received from us.",
    "disclosing_party": "The organisation named at the top of this form.",
    "recipient_party": "The same organisation's patient communications team.",
    "purpose_description": "To send you news about services, health events and offers that may interest you.",
    "expiry_statement": "This authorisation ends on the date written below, or earlier if you revoke it.",
    "revocation_statement": (
        "You may revoke this authorisation at any time by writing to our privacy office or by using the "
        "unsubscribe link in any email; revoking does not affect what was done before we received it."
    ),
    "conditioning_statement": (
        "Your treatment, payment, enrolment in a health plan or eligibility for benefits does not depend "
        "on whether you sign."
    ),
    "redisclosure_statement": (
        "Information disclosed under this authorisation may be redisclosed by the recipient and may no "
        "longer be protected by federal privacy rules."
    ),
    "involves_remuneration": False,
    "remuneration_statement": "",
}
# Share of demo contacts granting each purpose, and of those granting who later revoke.
_GRANT_SHARE = {"appointment_reminders": 0.85, "billing": 0.6, "care": 0.7, "marketing": 0.35, "flu_clinics": 0.2}
_REVOKE_SHARE = 0.08


def seed_demo_consent(*, tenant: Organisation, slug: str) -> bool:
    """Inside ``tenant_context(tenant)``. Returns whether anything was created. Consent is
    written in bulk (history rows included, one batch per source), as an import would."""
    if ContactConsent.objects.for_tenant(tenant).exists():
        return False
    rng = random.Random(f"consent:{slug}")  # noqa: S311 - the same synthetic demo data every time
    if not Purpose.objects.for_tenant(tenant).filter(key="flu_clinics").exists():
        purpose_create(
            tenant=tenant,
            actor=DEMO_ACTOR,
            key="flu_clinics",
            name="Flu clinic invitations",
            description="Invitations to seasonal vaccination clinics.",
            is_marketing=True,
        )
    if not Topic.objects.for_tenant(tenant).exists():
        topic_create(
            tenant=tenant, actor=DEMO_ACTOR, key="wellness_events", name="Wellness events", purpose="marketing"
        )
        topic_create(tenant=tenant, actor=DEMO_ACTOR, key="new_services", name="New services", purpose="marketing")
    text = authorisation_text_publish(
        tenant=tenant, actor=DEMO_ACTOR, name="Marketing authorisation", values=DEMO_AUTHORISATION_TEXT
    )
    today = timezone.localdate()
    now = timezone.now()
    contacts = list(Contact.objects.for_tenant(tenant).order_by("pk"))
    first: dict[str, list[tuple[uuid.UUID, dict[str, str]]]] = defaultdict(list)
    revoked: list[tuple[uuid.UUID, dict[str, str]]] = []
    authorisations: list[MarketingAuthorisation] = []
    sources = [ConsentSource.FORM, ConsentSource.IMPORT, ConsentSource.STAFF, ConsentSource.API]
    for contact in contacts:
        for purpose, share in _GRANT_SHARE.items():
            roll = rng.random()
            if roll < share:
                first[rng.choice(sources)].append((contact.pk, {purpose: ConsentStatus.GRANTED}))
                if rng.random() < _REVOKE_SHARE:
                    revoked.append((contact.pk, {purpose: ConsentStatus.REVOKED}))
                elif purpose in ("marketing", "flu_clinics") and rng.random() < 0.9:
                    authorisations.append(
                        MarketingAuthorisation(
                            tenant=tenant,
                            contact=contact,
                            text=text,
                            purpose=purpose,
                            signature_name=contact.full_name or "Demo Patient",
                            signature_method=MarketingAuthorisation.SignatureMethod.ELECTRONIC,
                            signed_on=today - timedelta(days=rng.randint(1, 300)),
                            expires_on=today + timedelta(days=rng.choice([5, 12, 25, 90, 200, 365, 700])),
                            source=ConsentSource.STAFF,
                        )
                    )
            elif roll < share + 0.1:
                first[ConsentSource.FORM].append((contact.pk, {purpose: ConsentStatus.PENDING}))
    for source, rows in first.items():
        consent_import_batch(
            tenant=tenant, recorded_by=DEMO_ACTOR, import_id="demo", rows=_merged(rows), at=now, source=source
        )
    consent_import_batch(
        tenant=tenant,
        recorded_by=DEMO_ACTOR,
        import_id="demo",
        rows=_merged(revoked),
        at=now + timedelta(seconds=1),
        source=ConsentSource.RECIPIENT,
    )
    MarketingAuthorisation.objects.bulk_create(authorisations)
    for contact in contacts[:: max(1, len(contacts) // 4)][:4]:
        suppression_add(
            tenant=tenant,
            actor=DEMO_ACTOR,
            email=contact.email,
            reason=rng.choice([SuppressionReason.HARD_BOUNCE, SuppressionReason.COMPLAINT, SuppressionReason.MANUAL]),
            source=ConsentSource.STAFF,
        )
    return True


def _merged(rows: list[tuple[uuid.UUID, dict[str, str]]]) -> list[tuple[uuid.UUID, dict[str, str]]]:
    """The rows with each contact once (its purposes merged), as one import batch takes them."""
    merged: dict[uuid.UUID, dict[str, str]] = defaultdict(dict)
    for contact_id, statuses in rows:
        merged[contact_id].update(statuses)
    return list(merged.items())
