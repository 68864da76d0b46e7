"""Helpers for consent tests: a complete authorisation text and a signed authorisation."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from audit.services import Actor, system_actor
from consent.models import AuthorisationText, ConsentSource, MarketingAuthorisation
from consent.services import SignedAuthorisation, authorisation_text_publish, marketing_authorisation_record
from tenants.context import tenant_context

STAFF: Actor = system_actor("consent-tests")

COMPLETE_TEXT = {
    "information_description": "Your name, email address and the services you have used with us.",
    "disclosing_party": "Synthetic Health Clinic",
    "recipient_party": "Synthetic Health Clinic's marketing team",
    "purpose_description": "To tell you about new services and health events.",
    "expiry_statement": "This authorisation ends on the date shown below.",
    "revocation_statement": "You may revoke this in writing at any time by writing to the privacy office.",
    "conditioning_statement": "Your treatment, payment, enrolment or eligibility does not depend on signing.",
    "redisclosure_statement": "Information disclosed may be redisclosed by the recipient and no longer protected.",
    "involves_remuneration": False,
    "remuneration_statement": "",
}


def publish_text(tenant, name: str = "Marketing authorisation", **overrides) -> AuthorisationText:
    with tenant_context(tenant):
        return authorisation_text_publish(tenant=tenant, actor=STAFF, name=name, values={**COMPLETE_TEXT, **overrides})


def authorise(
    tenant, contact, *, text=None, purpose: str = "marketing", expires_in_days: int | None = 365
) -> MarketingAuthorisation:
    text = text or publish_text(tenant)
    today = timezone.localdate()
    with tenant_context(tenant):
        return marketing_authorisation_record(
            tenant=tenant,
            actor=STAFF,
            contact=contact,
            text=text,
            purpose=purpose,
            signed=SignedAuthorisation(
                signature_name="Testy Synthetic",
                signed_on=today,
                expires_on=today + timedelta(days=expires_in_days) if expires_in_days is not None else None,
                expiry_event="" if expires_in_days is not None else "End of the synthetic programme",
            ),
            source=ConsentSource.STAFF,
        )


def consent_rows_in_every_table(tenant, contact) -> None:
    """At least one row in each consent table for ``tenant`` (row-level security tests)."""
    import secrets

    from consent.models import ContactPreferences, OptInForm, OptInRequest, Topic
    from consent.services import (
        consent_set,
        purpose_create,
        suppression_add,
    )

    with tenant_context(tenant):
        purpose_create(tenant=tenant, actor=STAFF, key="newsletter", name="Newsletter", is_marketing=True)
        Topic.objects.create(tenant=tenant, key="flu", name="Flu clinics", purpose="marketing")
        consent_set(
            tenant=tenant, actor=STAFF, contact=contact, purpose="care", status="granted", source=ConsentSource.STAFF
        )
        ContactPreferences.objects.create(tenant=tenant, contact=contact)
        suppression_add(tenant=tenant, actor=STAFF, email="suppressed.synthetic@example.com", reason="manual")
        form = OptInForm.objects.create(
            tenant=tenant,
            public_id=secrets.token_hex(8),
            name="Synthetic form",
            heading="Stay in touch",
            purposes=["care"],
        )
        OptInRequest.objects.create(
            tenant=tenant,
            form=form,
            contact=contact,
            purposes=["care"],
            form_version=form.form_version,
            token_hash=secrets.token_hex(32),
            expires_at=timezone.now() + timedelta(days=1),
        )
    authorise(tenant, contact)
