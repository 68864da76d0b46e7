"""The consent staff pages: a contact's consent and history, authorisations, the unencrypted-email
choice, purposes and topics, authorisation texts and the suppression list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.tests.helpers import events, head_seq
from consent.models import (
    AuthorisationText,
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    ContactConsent,
    MarketingAuthorisation,
    Purpose,
    Suppression,
    SuppressionReason,
    Topic,
)
from consent.services import UNENCRYPTED_WARNING, UNENCRYPTED_WARNING_VERSION, Evidence, consent_set, suppression_add
from consent.tests.support import COMPLETE_TEXT, STAFF, authorise, publish_text
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db

ADMIN, MARKETER, COMPLIANCE = Role.ADMIN, Role.MARKETER, Role.COMPLIANCE_OFFICER


def _page(contact) -> str:
    return reverse("consent:contact_consent", kwargs={"contact_id": contact.pk})


def _set(tenant, contact, purpose, status, source=ConsentSource.FORM, evidence=None):
    with tenant_context(tenant):
        consent_set(
            tenant=tenant,
            actor=STAFF,
            contact=contact,
            purpose=purpose,
            status=status,
            source=source,
            evidence=evidence or Evidence(),
        )


def _rows(tenant, model, **filters):
    with tenant_context(tenant):
        return list(model.objects.for_tenant(tenant).filter(**filters))


# --- A contact's consent page -----------------------------------------------------------------


def test_the_page_shows_every_purpose_and_the_history_and_audits_the_showing(world, login):
    tenant = world.a.tenant
    contact = make_contact(tenant, first_name="Pagefirst", email="page.person@example.com")
    _set(tenant, contact, "billing", ConsentStatus.GRANTED)
    client = login(world.a.users[MARKETER], tenant)
    seq = head_seq(tenant)
    response = client.get(_page(contact))
    assert response.status_code == 200
    statuses = {row.purpose.key: row.status for row in response.context["statuses"]}
    assert statuses == {
        "appointment_reminders": "never_asked",
        "billing": "granted",
        "care": "never_asked",
        "marketing": "never_asked",
    }
    body = response.content.decode()
    assert "Billing and payment" in body and "Opt-in form" in body and "Never asked → Granted" in body
    # The contact appears masked only, and a marketer gets no buttons that change anything.
    assert "Pagefirst" not in body and "page.person@" not in body and "p•••@example.com" in body
    assert reverse("consent:contact_consent_set", kwargs={"contact_id": contact.pk}) not in body
    assert events(tenant, seq) == [("consent.history_viewed", {"evidence": False})]


def test_the_history_hides_ip_and_user_agent_until_a_step_up(world, login):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    evidence = Evidence(ip_address="198.51.100.23", user_agent="EvidenceBrowser/9.1", form_version="intake:v4")
    _set(tenant, contact, "care", ConsentStatus.GRANTED, evidence=evidence)
    client = login(world.a.users[COMPLIANCE], tenant)
    body = client.get(_page(contact)).content.decode()
    assert "intake:v4" in body
    assert "198.51.100.23" not in body and "EvidenceBrowser" not in body

    asked = client.get(_page(contact), {"show": "evidence"})
    assert asked.status_code == 302 and asked["Location"].startswith(reverse("authn:step_up"))

    client = login(world.a.users[COMPLIANCE], tenant, step_up=True)
    seq = head_seq(tenant)
    body = client.get(_page(contact), {"show": "evidence"}).content.decode()
    assert "198.51.100.23" in body and "EvidenceBrowser/9.1" in body
    assert events(tenant, seq) == [("consent.history_viewed", {"evidence": True})]


def test_staff_record_granted_then_revoked_as_themselves(world, login):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    officer = world.a.users[COMPLIANCE]
    client = login(officer, tenant)
    url = reverse("consent:contact_consent_set", kwargs={"contact_id": contact.pk})
    page = client.get(_page(contact)).content.decode()
    assert url in page and 'name="status" value="granted"' in page
    seq = head_seq(tenant)
    assert client.post(url, {"purpose": "appointment_reminders", "status": "granted"}).status_code == 302
    assert client.post(url, {"purpose": "appointment_reminders", "status": "revoked"}).status_code == 302
    assert events(tenant, seq) == [
        (
            "consent.changed",
            {"purpose": "appointment_reminders", "from": "never_asked", "to": "granted", "source": "staff"},
        ),
        (
            "consent.changed",
            {"purpose": "appointment_reminders", "from": "granted", "to": "revoked", "source": "staff"},
        ),
    ]
    history = _rows(tenant, ConsentEvent, contact_id=contact.pk)
    assert [(e.to_status, e.source, e.recorded_by_id) for e in history] == [
        ("granted", "staff", str(officer.pk)),
        ("revoked", "staff", str(officer.pk)),
    ]
    assert history[0].ip_address is None and history[0].user_agent is None


def test_staff_cannot_set_never_asked_or_pending(world, login):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    client = login(world.a.users[ADMIN], tenant)
    url = reverse("consent:contact_consent_set", kwargs={"contact_id": contact.pk})
    seq = head_seq(tenant)
    for status in ("never_asked", "pending"):
        response = client.post(url, {"purpose": "care", "status": status}, follow=True)
        assert "Choose a purpose and granted or revoked." in response.content.decode()
    assert [action for action, _ in events(tenant, seq)] == ["consent.history_viewed", "consent.history_viewed"]
    assert _rows(tenant, ContactConsent, contact=contact) == []


def test_a_marketer_may_read_but_not_change_consent(world, login):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    client = login(world.a.users[MARKETER], tenant)
    seq = head_seq(tenant)
    for name, data in [
        ("consent:contact_consent_set", {"purpose": "care", "status": "granted"}),
        ("consent:authorisation_record", {}),
        ("consent:unencrypted_email", {"accepts": "yes", "warning_given": "on"}),
    ]:
        assert client.post(reverse(name, kwargs={"contact_id": contact.pk}), data).status_code == 403, name
    assert events(tenant, seq) == []


def test_other_tenants_staff_get_404_for_a_contacts_consent(world, login):
    contact = make_contact(world.a.tenant)
    authorisation = authorise(world.a.tenant, contact)
    client = login(world.b.users[ADMIN], world.b.tenant, step_up=True)
    kwargs = {"contact_id": contact.pk}
    assert client.get(_page(contact)).status_code == 404
    assert (
        client.post(
            reverse("consent:contact_consent_set", kwargs=kwargs), {"purpose": "care", "status": "granted"}
        ).status_code
        == 404
    )
    assert client.get(reverse("consent:authorisation_record", kwargs=kwargs)).status_code == 404
    assert client.get(reverse("consent:unencrypted_email", kwargs=kwargs)).status_code == 404
    revoke = reverse("consent:authorisation_revoke", kwargs={"authorisation_id": authorisation.pk})
    assert client.post(revoke).status_code == 404
    assert _rows(world.a.tenant, ContactConsent, contact=contact) == []
    assert _rows(world.a.tenant, MarketingAuthorisation, pk=authorisation.pk)[0].revoked_at is None


def test_the_contact_page_links_to_consent(world, login):
    contact = make_contact(world.a.tenant)
    body = (
        login(world.a.users[MARKETER], world.a.tenant)
        .get(reverse("segments:contact_detail", kwargs={"contact_id": contact.pk}))
        .content.decode()
    )
    assert _page(contact) in body


# --- Marketing authorisations -----------------------------------------------------------------


def _authorisation_form(client, contact):
    return client.get(reverse("consent:authorisation_record", kwargs={"contact_id": contact.pk})).context["form"]


def test_the_authorisation_form_names_each_missing_element_and_records_nothing(world, login):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    text = publish_text(tenant)
    client = login(world.a.users[COMPLIANCE], tenant)
    url = reverse("consent:authorisation_record", kwargs={"contact_id": contact.pk})
    seq = head_seq(tenant)

    nothing = client.post(url, {"signature_method": "paper"})
    assert nothing.status_code == 200
    assert nothing.context["form"].errors["text"] == ["Choose the authorisation text the individual signed."]
    assert nothing.context["form"].errors["purpose"] == ["Choose the marketing purpose the authorisation is for."]

    response = client.post(url, {"text": str(text.pk), "purpose": "marketing", "signature_method": "paper"})
    errors = response.context["form"].errors
    assert errors["signature_name"] == ["The authorisation lacks the signature of the individual."]
    assert errors["signed_on"] == ["The authorisation lacks the date it was signed."]
    assert errors["expires_on"] == ["The authorisation lacks an expiration date or event."]
    body = response.content.decode()
    assert "lacks the signature of the individual" in body and "lacks an expiration date or event" in body

    future = timezone.localdate() + timedelta(days=3)
    response = client.post(
        url,
        {
            "text": str(text.pk),
            "purpose": "marketing",
            "signature_name": "Testy Synthetic",
            "signed_on": future.isoformat(),
            "signature_method": "paper",
            "expiry_event": "End of the synthetic programme",
        },
    )
    assert response.context["form"].errors["signed_on"] == ["The signature date is in the future."]
    assert events(tenant, seq) == []
    assert _rows(tenant, MarketingAuthorisation, contact=contact) == []


def test_only_marketing_purposes_and_current_text_versions_are_offered(world, login):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    publish_text(tenant)
    current = publish_text(tenant)
    form = _authorisation_form(login(world.a.users[ADMIN], tenant), contact)
    assert [value for value, _ in form.fields["text"].choices] == ["", str(current.pk)]
    assert [value for value, _ in form.fields["purpose"].choices] == ["", "marketing"]


def test_recording_and_revoking_an_authorisation(world, login):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    text = publish_text(tenant)
    client = login(world.a.users[COMPLIANCE], tenant)
    today = timezone.localdate()
    seq = head_seq(tenant)
    response = client.post(
        reverse("consent:authorisation_record", kwargs={"contact_id": contact.pk}),
        {
            "text": str(text.pk),
            "purpose": "marketing",
            "signature_name": "Signaturesynthetic Person",
            "signed_on": today.isoformat(),
            "signature_method": "paper",
            "expires_on": (today + timedelta(days=365)).isoformat(),
        },
    )
    assert response.status_code == 302 and response["Location"] == _page(contact)
    (authorisation,) = _rows(tenant, MarketingAuthorisation, contact=contact)
    assert authorisation.source == ConsentSource.STAFF and authorisation.text_id == text.pk
    body = client.get(_page(contact)).content.decode()
    assert "Valid" in body and "Signaturesynthetic" not in body  # the signature name is PHI: evidence only

    revoke = reverse("consent:authorisation_revoke", kwargs={"authorisation_id": authorisation.pk})
    assert client.post(revoke).status_code == 302
    assert client.post(revoke).status_code == 302  # twice changes nothing
    assert [action for action, _ in events(tenant, seq)] == [
        "consent.authorisation_recorded",
        "consent.history_viewed",
        "consent.authorisation_revoked",
    ]
    assert events(tenant, seq)[2][1] == {"purpose": "marketing", "source": "staff"}
    assert _rows(tenant, MarketingAuthorisation, pk=authorisation.pk)[0].revoked_at is not None


# --- Unencrypted email ------------------------------------------------------------------------


def test_the_unencrypted_email_choice_needs_the_warning_confirmed(world, login):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    client = login(world.a.users[COMPLIANCE], tenant)
    url = reverse("consent:unencrypted_email", kwargs={"contact_id": contact.pk})
    assert UNENCRYPTED_WARNING in client.get(url).content.decode()
    seq = head_seq(tenant)

    refused = client.post(url, {"accepts": "yes"})
    assert refused.status_code == 200
    assert refused.context["form"].errors["warning_given"] == [
        "Read and accept the warning about unencrypted email first."
    ]
    assert events(tenant, seq) == []

    assert client.post(url, {"accepts": "yes", "warning_given": "on"}).status_code == 302
    assert client.post(url, {"accepts": "no"}).status_code == 302  # withdrawing needs nothing
    assert events(tenant, seq) == [
        (
            "consent.unencrypted_email_changed",
            {"to": "accepted", "source": "staff", "warning_version": UNENCRYPTED_WARNING_VERSION},
        ),
        (
            "consent.unencrypted_email_changed",
            {"to": "declined", "source": "staff", "warning_version": UNENCRYPTED_WARNING_VERSION},
        ),
    ]


# --- Purposes and topics ----------------------------------------------------------------------


def test_purposes_are_added_archived_and_topics_added_with_audit(world, login):
    tenant = world.a.tenant
    client = login(world.a.users[COMPLIANCE], tenant)
    seq = head_seq(tenant)
    response = client.post(
        reverse("consent:purpose_create"),
        {"key": "research", "name": "Research studies", "description": "", "is_marketing": ""},
    )
    assert response.status_code == 302
    (purpose,) = _rows(tenant, Purpose)
    topic = client.post(reverse("consent:topic_create"), {"key": "flu", "name": "Flu clinics", "purpose": "research"})
    assert topic.status_code == 302
    assert client.post(reverse("consent:purpose_archive", kwargs={"purpose_id": purpose.pk})).status_code == 302
    assert events(tenant, seq) == [
        ("consent.purpose_created", {"key": "research", "is_marketing": False, "allows_phi": False}),
        ("consent.topic_created", {"key": "flu", "purpose": "research"}),
        ("consent.purpose_archived", {"key": "research"}),
    ]
    body = client.get(reverse("consent:purpose_list")).content.decode()
    assert "Research studies" in body and "Archived" in body and "Flu clinics" in body


def test_a_built_in_key_is_refused_by_name(world, login):
    client = login(world.a.users[ADMIN], world.a.tenant)
    seq = head_seq(world.a.tenant)
    response = client.post(reverse("consent:purpose_create"), {"key": "billing", "name": "Mine"})
    assert response.status_code == 400
    assert response.context["purpose_form"].errors["key"] == ["“billing” is a built-in purpose; choose another key."]
    assert events(world.a.tenant, seq) == []


def test_a_marketer_reads_purposes_but_cannot_add(world, login):
    client = login(world.a.users[MARKETER], world.a.tenant)
    body = client.get(reverse("consent:purpose_list")).content.decode()
    assert "Appointment reminders" in body and "Add a purpose" not in body
    assert client.post(reverse("consent:purpose_create"), {"key": "x", "name": "X"}).status_code == 403
    assert client.post(reverse("consent:topic_create"), {"key": "x", "name": "X", "purpose": "care"}).status_code == 403
    assert _rows(world.a.tenant, Purpose) == [] and _rows(world.a.tenant, Topic) == []


def test_other_tenants_cannot_archive_a_purpose(world, login):
    tenant = world.a.tenant
    response = login(world.a.users[ADMIN], tenant).post(
        reverse("consent:purpose_create"), {"key": "ours", "name": "Ours"}
    )
    assert response.status_code == 302
    (purpose,) = _rows(tenant, Purpose)
    client = login(world.b.users[ADMIN], world.b.tenant)
    assert client.post(reverse("consent:purpose_archive", kwargs={"purpose_id": purpose.pk})).status_code == 404
    assert not _rows(tenant, Purpose)[0].is_archived


# --- Authorisation texts ----------------------------------------------------------------------


def test_publishing_names_every_missing_element(world, login):
    tenant = world.a.tenant
    client = login(world.a.users[COMPLIANCE], tenant)
    seq = head_seq(tenant)
    response = client.post(reverse("consent:authorisation_text_publish"), {"name": "Newsletter"})
    assert response.status_code == 400
    errors = response.context["form"].errors
    expected = {
        "information_description": "a specific description of the information to be used or disclosed",
        "disclosing_party": "who is authorised to make the disclosure",
        "recipient_party": "who will receive the information",
        "purpose_description": "a description of each purpose of the use or disclosure",
        "expiry_statement": "an expiration date or event",
        "revocation_statement": "the right to revoke in writing and how to do it",
        "conditioning_statement": "whether treatment, payment, enrolment or eligibility may be conditioned on signing",
        "redisclosure_statement": "that disclosed information may be redisclosed and no longer protected",
    }
    for field, label in expected.items():
        assert errors[field] == [f"The authorisation lacks {label}."], field
    assert "remuneration_statement" not in errors
    body = response.content.decode()
    assert "The authorisation lacks who will receive the information." in body

    values = {**COMPLETE_TEXT, "name": "Newsletter", "involves_remuneration": "on", "remuneration_statement": ""}
    response = client.post(reverse("consent:authorisation_text_publish"), values)
    assert list(response.context["form"].errors) == ["remuneration_statement"]
    assert "financial remuneration from a third party" in response.context["form"].errors["remuneration_statement"][0]
    assert 'class="required-marker"' in response.content.decode()
    assert events(tenant, seq) == [] and _rows(tenant, AuthorisationText) == []


def test_a_new_version_is_prefilled_from_the_latest_and_the_list_shows_the_history(world, login):
    tenant = world.a.tenant
    first = publish_text(tenant, name="Newsletter")
    second = publish_text(tenant, name="Newsletter", disclosing_party="Synthetic Health Clinic, second wording")
    client = login(world.a.users[ADMIN], tenant)
    # Asked from the old version, the form still starts from the latest.
    form = client.get(reverse("consent:authorisation_text_revise", kwargs={"text_id": first.pk})).context["form"]
    assert form.initial["disclosing_party"] == "Synthetic Health Clinic, second wording"
    assert form.initial["name"] == "Newsletter"
    seq = head_seq(tenant)
    values = {**form.initial, "involves_remuneration": "", "recipient_party": "The third wording's recipient"}
    response = client.post(reverse("consent:authorisation_text_revise", kwargs={"text_id": second.pk}), values)
    assert response.status_code == 302
    assert events(tenant, seq) == [
        ("consent.authorisation_text_published", {"version": 3, "involves_remuneration": False})
    ]
    response = client.get(reverse("consent:authorisation_text_list"))
    (history,) = response.context["histories"]
    assert [text.version for text in history.versions] == [3, 2, 1]
    assert "Current: version 3" in response.content.decode()
    detail = client.get(reverse("consent:authorisation_text", kwargs={"text_id": first.pk})).content.decode()
    assert "Superseded" in detail and COMPLETE_TEXT["revocation_statement"] in detail


def test_a_marketer_reads_texts_but_cannot_publish(world, login):
    text = publish_text(world.a.tenant)
    client = login(world.a.users[MARKETER], world.a.tenant)
    body = client.get(reverse("consent:authorisation_text_list")).content.decode()
    assert "Marketing authorisation" in body and "Publish a new version" not in body
    assert client.get(reverse("consent:authorisation_text_publish")).status_code == 403
    revise = reverse("consent:authorisation_text_revise", kwargs={"text_id": text.pk})
    assert client.post(revise, {**COMPLETE_TEXT, "name": "Marketing authorisation"}).status_code == 403
    assert len(_rows(world.a.tenant, AuthorisationText)) == 1


def test_other_tenants_get_404_for_a_text(world, login):
    text = publish_text(world.a.tenant)
    client = login(world.b.users[ADMIN], world.b.tenant)
    assert client.get(reverse("consent:authorisation_text", kwargs={"text_id": text.pk})).status_code == 404
    revise = reverse("consent:authorisation_text_revise", kwargs={"text_id": text.pk})
    assert client.post(revise, {**COMPLETE_TEXT, "name": "Marketing authorisation"}).status_code == 404
    assert len(_rows(world.a.tenant, AuthorisationText)) == 1


# --- Suppression list -------------------------------------------------------------------------


def _suppress(tenant, email, reason=SuppressionReason.MANUAL):
    with tenant_context(tenant):
        return suppression_add(tenant=tenant, actor=STAFF, email=email, reason=reason)


def test_the_list_is_masked_paginated_and_within_a_query_budget(world, login, django_assert_max_num_queries):
    tenant = world.a.tenant
    for number in range(55):
        _suppress(tenant, f"suppressed{number}@example.org")
    client = login(world.a.users[COMPLIANCE], tenant)
    client.get(reverse("tenants:dashboard"))  # settle the session before counting queries
    with django_assert_max_num_queries(16):
        response = client.get(reverse("consent:suppression_list"))
    body = response.content.decode()
    assert response.context["page"].paginator.count == 55 and len(response.context["rows"]) == 50
    assert "suppressed" not in body and "s•••@example.org" in body
    assert len(client.get(reverse("consent:suppression_list"), {"page": 2}).context["rows"]) == 5


def test_adding_an_address_is_audited_and_the_address_not_repeated(world, login):
    tenant = world.a.tenant
    make_contact(tenant)  # the tenant's keys exist before counting audit events
    client = login(world.a.users[ADMIN], tenant)
    seq = head_seq(tenant)
    response = client.post(reverse("consent:suppression_list"), {"email": "Added.Person@Example.org"}, follow=True)
    assert "Added.Person" not in response.content.decode() and "A•••@example.org" in response.content.decode()
    (suppression,) = _rows(tenant, Suppression)
    assert suppression.reason == SuppressionReason.MANUAL and suppression.source == ConsentSource.STAFF
    assert events(tenant, seq) == [("suppression.added", {"reason": "manual", "source": "staff"})]
    bad = client.post(reverse("consent:suppression_list"), {"email": "not-an-address"})
    assert bad.status_code == 400 and bad.context["form"].errors["email"] == ["Enter a valid email address."]
    assert len(_rows(tenant, Suppression)) == 1


def test_lifting_asks_for_confirmation_then_lifts(world, login):
    tenant = world.a.tenant
    suppression = _suppress(tenant, "lift.me@example.org", SuppressionReason.HARD_BOUNCE)
    client = login(world.a.users[COMPLIANCE], tenant)
    url = reverse("consent:suppression_lift", kwargs={"suppression_id": suppression.pk})
    confirm = client.get(url)
    assert "Lift the suppression" in confirm.content.decode() and "l•••@example.org" in confirm.content.decode()
    assert _rows(tenant, Suppression)  # a GET lifts nothing
    seq = head_seq(tenant)
    assert client.post(url).status_code == 302
    assert _rows(tenant, Suppression) == []
    assert events(tenant, seq) == [("suppression.removed", {"reason": "hard_bounce"})]


def test_a_complaint_cannot_be_lifted_and_the_page_says_why(world, login):
    tenant = world.a.tenant
    suppression = _suppress(tenant, "complained@example.org", SuppressionReason.COMPLAINT)
    client = login(world.a.users[ADMIN], tenant)
    url = reverse("consent:suppression_lift", kwargs={"suppression_id": suppression.pk})
    page = client.get(url).content.decode()
    assert "cannot be lifted by staff" in page and "Lift the suppression</button>" not in page
    assert "Cannot be lifted" in client.get(reverse("consent:suppression_list")).content.decode()
    seq = head_seq(tenant)
    refused = client.post(url)
    assert refused.status_code == 400
    assert "A spam complaint cannot be lifted here" in refused.content.decode()
    assert events(tenant, seq) == [] and len(_rows(tenant, Suppression)) == 1


def test_suppressions_need_their_permission_and_stay_in_their_tenant(world, login):
    suppression = _suppress(world.a.tenant, "kept@example.org")
    url = reverse("consent:suppression_lift", kwargs={"suppression_id": suppression.pk})
    marketer = login(world.a.users[MARKETER], world.a.tenant)
    assert marketer.get(reverse("consent:suppression_list")).status_code == 403
    assert marketer.post(url).status_code == 403
    other = login(world.b.users[ADMIN], world.b.tenant)
    assert other.get(url).status_code == 404 and other.post(url).status_code == 404
    assert other.get(reverse("consent:suppression_list")).context["page"].paginator.count == 0
    assert len(_rows(world.a.tenant, Suppression)) == 1


# --- Navigation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        (MARKETER, ["Consent purposes", "Authorisation texts"], ["Suppression list", ">Consent<"]),
        (COMPLIANCE, ["Consent purposes", "Authorisation texts", "Suppression list", ">Consent<"], []),
        (ADMIN, ["Consent purposes", "Authorisation texts", "Suppression list", ">Consent<"], []),
    ],
)
def test_navigation_shows_consent_items_by_permission(world, login, role, shown, hidden):
    response = login(world.a.users[role], world.a.tenant).get(reverse("tenants:dashboard"))
    sidebar = response.content.decode().split('<nav class="sidebar"', 1)[1].split("</nav>", 1)[0]
    for label in shown:
        assert label in sidebar, label
    for label in hidden:
        assert label not in sidebar, label
