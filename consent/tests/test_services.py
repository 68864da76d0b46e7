"""Consent services and the send decision: transitions with their history and audit events,
marketing authorisations, suppression, unsubscribe, and the unencrypted-email choice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit.tests.helpers import events, head_seq
from consent.models import ConsentEvent, ConsentSource, ConsentStatus, ContactConsent, SuppressionReason
from consent.selectors import (
    Refusal,
    accepts_unencrypted_phi,
    contact_consent_history,
    contact_consent_statuses,
    expiring_authorisations,
    send_decision,
    sendable_contact_ids,
    sendable_contacts,
)
from consent.services import (
    ConsentError,
    Evidence,
    consent_set,
    contact_unsubscribe_all,
    marketing_authorisation_revoke,
    purpose_create,
    suppression_add,
    suppression_remove,
    unencrypted_email_set,
)
from consent.tests.support import COMPLETE_TEXT, STAFF, authorise, publish_text
from segments.models import Contact
from tenants.context import tenant_context
from tests.factories import make_contact

pytestmark = pytest.mark.django_db


def _set(tenant, contact, purpose, status, source=ConsentSource.STAFF, evidence=None):
    with tenant_context(tenant):
        return consent_set(
            tenant=tenant,
            actor=STAFF,
            contact=contact,
            purpose=purpose,
            status=status,
            source=source,
            evidence=evidence or Evidence(),
        )


def _decision(tenant, contact, purpose, at=None):
    with tenant_context(tenant):
        return send_decision(tenant=tenant, contact=contact, purpose=purpose, at=at)


def test_every_transition_appends_history_and_an_audit_event(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    seq = head_seq(tenant)
    evidence = Evidence(ip_address="192.0.2.10", user_agent="SyntheticBrowser/1.0", form_version="form1:v2")
    _set(tenant, contact, "billing", ConsentStatus.PENDING, ConsentSource.FORM, evidence)
    _set(tenant, contact, "billing", ConsentStatus.GRANTED, ConsentSource.FORM, evidence)
    _set(tenant, contact, "billing", ConsentStatus.REVOKED, ConsentSource.RECIPIENT)
    _set(tenant, contact, "billing", ConsentStatus.GRANTED, ConsentSource.API)

    transitions = [
        ("never_asked", "pending", "form"),
        ("pending", "granted", "form"),
        ("granted", "revoked", "recipient"),
        ("revoked", "granted", "api"),
    ]
    assert events(tenant, seq) == [
        ("consent.changed", {"purpose": "billing", "from": old, "to": new, "source": source})
        for old, new, source in transitions
    ]
    with tenant_context(tenant):
        history = list(contact_consent_history(tenant=tenant, contact_id=contact.pk))
        assert [(e.from_status, e.to_status, e.source) for e in history] == transitions
        assert history[0].ip_address == "192.0.2.10"
        assert history[0].user_agent == "SyntheticBrowser/1.0"
        assert history[0].form_version == "form1:v2"
        assert history[0].recorded_by_label == STAFF.label
        assert ContactConsent.objects.get(contact=contact, purpose="billing").status == ConsentStatus.GRANTED


def test_setting_the_same_status_records_nothing(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    _set(tenant, contact, "care", ConsentStatus.GRANTED)
    seq = head_seq(tenant)
    change = _set(tenant, contact, "care", ConsentStatus.GRANTED)
    assert not change.changed
    assert events(tenant, seq) == []


@pytest.mark.parametrize(
    ("first", "then", "message"),
    [
        (ConsentStatus.GRANTED, ConsentStatus.PENDING, "already granted"),
        (ConsentStatus.GRANTED, ConsentStatus.NEVER_ASKED, "never asked"),
    ],
)
def test_refused_transitions_change_nothing(world, first, then, message):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    _set(tenant, contact, "care", first)
    seq = head_seq(tenant)
    with pytest.raises(ConsentError, match=message):
        _set(tenant, contact, "care", then)
    assert events(tenant, seq) == []


def test_unknown_purpose_is_refused(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    from consent.purposes import UnknownPurpose

    with pytest.raises(UnknownPurpose):
        _set(tenant, contact, "no_such_purpose", ConsentStatus.GRANTED)


def test_consent_history_is_append_only_in_the_database(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    _set(tenant, contact, "care", ConsentStatus.GRANTED)
    with tenant_context(tenant):
        for statement in ("UPDATE consent_consentevent SET to_status = 'revoked'", "DELETE FROM consent_consentevent"):
            with (
                pytest.raises(DatabaseError, match="permission denied"),
                transaction.atomic(),
                connection.cursor() as cursor,
            ):
                cursor.execute(statement)


def test_history_outlives_the_contact(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    _set(tenant, contact, "care", ConsentStatus.GRANTED)
    with tenant_context(tenant):
        Contact.objects.filter(pk=contact.pk).delete()
        assert not ContactConsent.objects.filter(contact_id=contact.pk).exists()
        assert ConsentEvent.objects.filter(contact_id=contact.pk).count() == 1


def test_non_marketing_send_needs_granted_consent(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    assert _decision(tenant, contact, "appointment_reminders").reason == Refusal.NO_CONSENT
    _set(tenant, contact, "appointment_reminders", ConsentStatus.PENDING)
    assert _decision(tenant, contact, "appointment_reminders").reason == Refusal.NO_CONSENT
    _set(tenant, contact, "appointment_reminders", ConsentStatus.GRANTED)
    assert _decision(tenant, contact, "appointment_reminders").allowed
    _set(tenant, contact, "appointment_reminders", ConsentStatus.REVOKED)
    assert _decision(tenant, contact, "appointment_reminders").reason == Refusal.NO_CONSENT


def test_marketing_send_refused_without_authorisation(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    _set(tenant, contact, "marketing", ConsentStatus.GRANTED)
    assert _decision(tenant, contact, "marketing") == send_decision_refused(Refusal.NO_AUTHORISATION)
    authorise(tenant, contact)
    assert _decision(tenant, contact, "marketing").allowed


def send_decision_refused(reason):
    from consent.selectors import SendDecision

    return SendDecision(False, reason)


def test_marketing_send_refused_with_an_expired_authorisation(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    _set(tenant, contact, "marketing", ConsentStatus.GRANTED)
    authorise(tenant, contact, expires_in_days=10)
    assert _decision(tenant, contact, "marketing").allowed
    later = timezone.now() + timedelta(days=11)
    assert _decision(tenant, contact, "marketing", at=later).reason == Refusal.AUTHORISATION_EXPIRED


def test_marketing_send_refused_after_the_authorisation_is_revoked(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    _set(tenant, contact, "marketing", ConsentStatus.GRANTED)
    authorisation = authorise(tenant, contact)
    seq = head_seq(tenant)
    with tenant_context(tenant):
        marketing_authorisation_revoke(
            tenant=tenant, actor=STAFF, authorisation=authorisation, source=ConsentSource.RECIPIENT
        )
    assert [a for a, _ in events(tenant, seq)] == ["consent.authorisation_revoked"]
    assert _decision(tenant, contact, "marketing").reason == Refusal.AUTHORISATION_REVOKED


@pytest.mark.parametrize(
    ("field", "named"),
    [
        ("information_description", "description of the information"),
        ("disclosing_party", "authorised to make the disclosure"),
        ("recipient_party", "who will receive"),
        ("purpose_description", "each purpose"),
        ("expiry_statement", "expiration date or event"),
        ("revocation_statement", "right to revoke"),
        ("conditioning_statement", "conditioned"),
        ("redisclosure_statement", "redisclosed"),
    ],
)
def test_authorisation_text_missing_an_element_is_refused_by_name(world, field, named):
    tenant = world.a.tenant
    seq = head_seq(tenant)
    with pytest.raises(ConsentError) as refused:
        publish_text(tenant, **{field: "  "})
    assert any(named in message for message in refused.value.messages)
    assert len(refused.value.messages) == 1
    assert events(tenant, seq) == []


def test_third_party_remuneration_needs_its_statement(world):
    tenant = world.a.tenant
    with pytest.raises(ConsentError, match="financial remuneration"):
        publish_text(tenant, involves_remuneration=True, remuneration_statement="")
    text = publish_text(tenant, involves_remuneration=True, remuneration_statement="We are paid by Synthetic Pharma.")
    assert text.involves_remuneration


def test_authorisation_texts_are_versioned(world):
    tenant = world.a.tenant
    first = publish_text(tenant)
    second = publish_text(tenant, purpose_description="To tell you about flu clinics.")
    assert (first.version, second.version) == (1, 2)
    with tenant_context(tenant):
        first.refresh_from_db()
    assert first.purpose_description == COMPLETE_TEXT["purpose_description"]


def test_authorisation_needs_an_expiry_and_a_marketing_purpose(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    from consent.services import SignedAuthorisation, marketing_authorisation_record

    text = publish_text(tenant)
    with tenant_context(tenant), pytest.raises(ConsentError) as refused:
        marketing_authorisation_record(
            tenant=tenant,
            actor=STAFF,
            contact=contact,
            text=text,
            purpose="billing",
            signed=SignedAuthorisation(signature_name="", signed_on=timezone.localdate()),
            source=ConsentSource.STAFF,
        )
    messages = " ".join(refused.value.messages)
    assert "not a marketing purpose" in messages
    assert "signature" in messages
    assert "expiration date or event" in messages


def test_custom_marketing_purpose_needs_authorisation_too(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    with tenant_context(tenant):
        purpose_create(tenant=tenant, actor=STAFF, key="flu_clinics", name="Flu clinics", is_marketing=True)
    _set(tenant, contact, "flu_clinics", ConsentStatus.GRANTED)
    assert _decision(tenant, contact, "flu_clinics").reason == Refusal.NO_AUTHORISATION
    authorise(tenant, contact, purpose="flu_clinics")
    assert _decision(tenant, contact, "flu_clinics").allowed


def test_custom_purpose_cannot_reuse_a_builtin_key(world):
    tenant = world.a.tenant
    with tenant_context(tenant), pytest.raises(ConsentError, match="built-in"):
        purpose_create(tenant=tenant, actor=STAFF, key="billing", name="Bills", is_marketing=False)


def test_suppression_wins_over_granted_consent_and_matches_a_reimported_address(world):
    tenant = world.a.tenant
    contact = make_contact(tenant, email="suppressed.synthetic@example.com")
    _set(tenant, contact, "care", ConsentStatus.GRANTED)
    with tenant_context(tenant):
        suppression = suppression_add(
            tenant=tenant, actor=STAFF, email="Suppressed.Synthetic@Example.com", reason=SuppressionReason.HARD_BOUNCE
        )
    assert _decision(tenant, contact, "care").reason == Refusal.SUPPRESSED
    with tenant_context(tenant):
        Contact.objects.filter(pk=contact.pk).delete()
    again = make_contact(tenant, email="suppressed.synthetic@example.com")
    _set(tenant, again, "care", ConsentStatus.GRANTED)
    assert _decision(tenant, again, "care").reason == Refusal.SUPPRESSED
    with tenant_context(tenant):
        suppression_remove(tenant=tenant, actor=STAFF, suppression=suppression)
    assert _decision(tenant, again, "care").allowed


def test_unsubscribe_all_revokes_everything_and_suppresses(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    for purpose in ("care", "billing"):
        _set(tenant, contact, purpose, ConsentStatus.GRANTED)
    seq = head_seq(tenant)
    with tenant_context(tenant):
        contact_unsubscribe_all(
            tenant=tenant, actor=STAFF, contact=contact, source=ConsentSource.RECIPIENT, evidence=Evidence()
        )
        statuses = {s.purpose.key: s.status for s in contact_consent_statuses(tenant=tenant, contact=contact)}
    assert statuses["care"] == statuses["billing"] == ConsentStatus.REVOKED
    assert [a for a, _ in events(tenant, seq)] == ["consent.changed", "consent.changed", "suppression.added"]
    assert _decision(tenant, contact, "care").reason == Refusal.SUPPRESSED


def test_sendable_contacts_matches_send_decision(world):
    tenant = world.a.tenant
    people = [make_contact(tenant) for _ in range(6)]
    _set(tenant, people[0], "marketing", ConsentStatus.GRANTED)
    authorise(tenant, people[0])
    _set(tenant, people[1], "marketing", ConsentStatus.GRANTED)  # no authorisation
    authorise(tenant, people[2])  # authorisation but no consent
    _set(tenant, people[3], "marketing", ConsentStatus.GRANTED)
    authorise(tenant, people[3], expires_in_days=None)  # expiry event, still valid
    _set(tenant, people[4], "marketing", ConsentStatus.GRANTED)
    authorise(tenant, people[4])
    with tenant_context(tenant):
        suppression_add(tenant=tenant, actor=STAFF, email=people[4].email, reason=SuppressionReason.COMPLAINT)
        chosen = set(
            sendable_contacts(tenant=tenant, purpose="marketing", contacts=Contact.objects.all()).values_list(
                "pk", flat=True
            )
        )
    expected = {p.pk for p in people if _decision(tenant, p, "marketing").allowed}
    assert chosen == expected == {people[0].pk, people[3].pk}


@pytest.mark.parametrize("purpose", ["marketing", "appointment_reminders", "no_such_purpose"])
def test_sendable_contact_ids_agrees_with_sendable_contacts(world, purpose):
    """The send pipeline's per-batch check (separate lookups) keeps exactly whom the launch's
    one-query check keeps, for a marketing purpose (authorisations), another, and an unknown."""
    tenant = world.a.tenant
    people = [make_contact(tenant) for _ in range(7)]
    for person in people[:5]:
        _set(tenant, person, "marketing", ConsentStatus.GRANTED)
        _set(tenant, person, "appointment_reminders", ConsentStatus.GRANTED)
    _set(tenant, people[5], "appointment_reminders", ConsentStatus.REVOKED)
    authorise(tenant, people[0])
    authorise(tenant, people[2])
    authorise(tenant, people[6])  # authorised, no consent
    with tenant_context(tenant):
        suppression_add(tenant=tenant, actor=STAFF, email=people[2].email, reason=SuppressionReason.COMPLAINT)
        one_query = set(
            sendable_contacts(tenant=tenant, purpose=purpose, contacts=Contact.objects.all()).values_list(
                "pk", flat=True
            )
        )
        batch = sendable_contact_ids(tenant=tenant, purpose=purpose, contact_ids=[p.pk for p in people])
    assert batch == one_query
    assert (
        batch
        == {
            "marketing": {people[0].pk},
            "appointment_reminders": {people[0].pk, people[1].pk, people[3].pk, people[4].pk},
            "no_such_purpose": set(),
        }[purpose]
    )


def test_unencrypted_email_needs_the_warning_and_is_recorded(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    with tenant_context(tenant):
        with pytest.raises(ConsentError, match="warning"):
            unencrypted_email_set(
                tenant=tenant, actor=STAFF, contact=contact, accepts=True, warning_accepted=False, source="recipient"
            )
        assert not accepts_unencrypted_phi(tenant=tenant, contact=contact)
        seq = head_seq(tenant)
        unencrypted_email_set(
            tenant=tenant,
            actor=STAFF,
            contact=contact,
            accepts=True,
            warning_accepted=True,
            source="recipient",
            evidence=Evidence(ip_address="198.51.100.7"),
        )
        assert accepts_unencrypted_phi(tenant=tenant, contact=contact)
        event = contact_consent_history(tenant=tenant, contact_id=contact.pk).get()
        assert (event.kind, event.to_status, event.ip_address) == ("unencrypted_email", "accepted", "198.51.100.7")
        assert event.form_version.startswith("unencrypted-warning:")
    assert [a for a, _ in events(tenant, seq)] == ["consent.unencrypted_email_changed"]


def test_expiring_authorisations_are_reported_ahead(world):
    tenant = world.a.tenant
    soon, later, never = make_contact(tenant), make_contact(tenant), make_contact(tenant)
    expiring = authorise(tenant, soon, expires_in_days=20)
    authorise(tenant, later, expires_in_days=200)
    authorise(tenant, never, expires_in_days=None)
    with tenant_context(tenant):
        found = list(expiring_authorisations(tenant=tenant, within_days=30))
    assert [a.pk for a in found] == [expiring.pk]


def test_other_tenants_consent_is_invisible(world):
    contact = make_contact(world.a.tenant)
    _set(world.a.tenant, contact, "care", ConsentStatus.GRANTED)
    with tenant_context(world.b.tenant):
        assert not ContactConsent.objects.exists()
        assert not ConsentEvent.objects.exists()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM consent_contactconsent")
            assert cursor.fetchone()[0] == 0
