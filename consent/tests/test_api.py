"""The consent API: statuses, history, authorisations, suppressions, purposes and the report;
scopes, structured errors, cross-tenant 404s, audit events and query budgets."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.tests.helpers import events, head_seq
from consent.models import (
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    ContactConsent,
    MarketingAuthorisation,
    Suppression,
    SuppressionReason,
)
from consent.services import Evidence, consent_set, purpose_create, suppression_add
from consent.tests.support import STAFF, authorise, publish_text
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact, make_token

pytestmark = pytest.mark.django_db

READ, WRITE = "consent:read", "consent:write"

# Query budgets of the API list and report endpoints. About 20 of each are the request's own
# (token, tenant, access policy, session, the audit of the API call); the rest are the endpoint's,
# and none grows with the number of rows (each test adds rows and asks again).
HISTORY_QUERIES = 28
LIST_QUERIES = 23
PURPOSES_QUERIES = 23
REPORT_QUERIES = 27


def _url(name, **kwargs):
    return reverse(f"api:consent_api:{name}", kwargs=kwargs)


def _bearer(world, *scopes, tenant="a"):
    fixture = getattr(world, tenant)
    issued = make_token(fixture.tenant, fixture.users[Role.ADMIN], scopes=list(scopes))
    return {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}, issued


def _send(client, method, url, payload, headers):
    return getattr(client, method)(url, json.dumps(payload), content_type="application/json", **headers)


def _rows(tenant, model, **filters):
    with tenant_context(tenant):
        return list(model.objects.for_tenant(tenant).filter(**filters))


def _set(tenant, contact, purpose, status, evidence=None):
    with tenant_context(tenant):
        consent_set(
            tenant=tenant,
            actor=STAFF,
            contact=contact,
            purpose=purpose,
            status=status,
            source=ConsentSource.FORM,
            evidence=evidence or Evidence(),
        )


def _consent_events(tenant, seq):
    return [event for event in events(tenant, seq) if not event[0].startswith("api_token.")]


# --- Statuses ---------------------------------------------------------------------------------


def test_get_returns_every_purpose_with_never_asked(world, client):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    _set(tenant, contact, "care", ConsentStatus.GRANTED)
    headers, _ = _bearer(world, READ)
    response = client.get(_url("contact_consent", contact_id=contact.pk), **headers)
    assert response.status_code == 200
    body = response.json()
    assert body["contact_id"] == str(contact.pk) and body["suppressed"] is False
    assert body["accepts_unencrypted_phi"] is False
    statuses = {row["purpose"]: (row["status"], row["source"]) for row in body["statuses"]}
    assert statuses == {
        "appointment_reminders": ("never_asked", ""),
        "billing": ("never_asked", ""),
        "care": ("granted", "form"),
        "marketing": ("never_asked", ""),
    }
    assert contact.email not in response.content.decode()


@pytest.mark.parametrize("method", ["patch", "put"])
def test_setting_statuses_records_source_api_evidence_and_audit_in_order(world, client, method):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    headers, issued = _bearer(world, WRITE)
    seq = head_seq(tenant)
    payload = {
        "statuses": {"billing": "granted", "care": "pending"},
        "evidence": {"ip_address": "203.0.113.9", "user_agent": "EhrConnector/2.0", "form_version": "intake:v7"},
    }
    response = _send(client, method, _url("contact_consent", contact_id=contact.pk), payload, headers)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["changed"] == ["billing", "care"]
    assert {row["purpose"]: row["status"] for row in body["statuses"]}["care"] == "pending"
    assert _consent_events(tenant, seq) == [
        ("consent.changed", {"purpose": "billing", "from": "never_asked", "to": "granted", "source": "api"}),
        ("consent.changed", {"purpose": "care", "from": "never_asked", "to": "pending", "source": "api"}),
    ]
    with tenant_context(tenant):  # the evidence is decrypted with the tenant's key
        history = _rows(tenant, ConsentEvent, contact_id=contact.pk)
        evidence = {(e.purpose, e.source, e.ip_address, e.user_agent, e.form_version) for e in history}
    assert evidence == {
        ("billing", "api", "203.0.113.9", "EhrConnector/2.0", "intake:v7"),
        ("care", "api", "203.0.113.9", "EhrConnector/2.0", "intake:v7"),
    }
    assert {e.recorded_by_id for e in history} == {str(issued.token.pk)}
    # Setting the same again changes nothing and records nothing.
    seq = head_seq(tenant)
    again = _send(client, method, _url("contact_consent", contact_id=contact.pk), payload, headers)
    assert again.json()["changed"] == [] and _consent_events(tenant, seq) == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"statuses": {"no_such": "granted"}}, "statuses"),
        ({"statuses": {"care": "never_asked"}}, "statuses"),
        ({"statuses": {}}, "statuses"),
        ({"statuses": {"care": "granted"}, "evidence": {"ip_address": "not-an-ip"}}, "evidence"),
        ({}, "statuses"),
    ],
)
def test_bad_input_is_a_structured_400_and_changes_nothing(world, client, payload, field):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    headers, _ = _bearer(world, WRITE)
    response = _send(client, "patch", _url("contact_consent", contact_id=contact.pk), payload, headers)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"], error
    assert _rows(tenant, ContactConsent, contact=contact) == []


def test_an_unknown_purpose_is_named_and_a_refused_transition_explained(world, client):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    _set(tenant, contact, "care", ConsentStatus.GRANTED)
    headers, _ = _bearer(world, WRITE)
    url = _url("contact_consent", contact_id=contact.pk)
    unknown = _send(client, "patch", url, {"statuses": {"billing": "granted", "no_such": "granted"}}, headers)
    assert unknown.json()["error"]["fields"] == {"statuses": {"no_such": ["Unknown purpose."]}}
    seq = head_seq(tenant)
    # All or nothing: billing would be fine, care cannot go back to pending.
    refused = _send(client, "patch", url, {"statuses": {"billing": "granted", "care": "pending"}}, headers)
    assert refused.status_code == 400
    assert "already granted" in refused.json()["error"]["fields"]["statuses"][0]
    assert _consent_events(tenant, seq) == []
    assert [row.purpose for row in _rows(tenant, ContactConsent, contact=contact)] == ["care"]


def test_reading_needs_read_and_writing_needs_write(world, client):
    contact = make_contact(world.a.tenant)
    url = _url("contact_consent", contact_id=contact.pk)
    read_only, _ = _bearer(world, READ)
    response = _send(client, "patch", url, {"statuses": {"care": "granted"}}, read_only)
    assert response.status_code == 403 and response.json()["error"]["code"] == "insufficient_scope"
    contacts_only, _ = _bearer(world, "contacts:read")
    assert client.get(url, **contacts_only).status_code == 403
    assert _rows(world.a.tenant, ContactConsent, contact=contact) == []


def test_a_marketers_session_reads_but_cannot_write(world, login):
    contact = make_contact(world.a.tenant)
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    url = _url("contact_consent", contact_id=contact.pk)
    assert client.get(url).status_code == 200
    response = client.patch(url, json.dumps({"statuses": {"care": "granted"}}), content_type="application/json")
    assert response.status_code == 403
    assert _rows(world.a.tenant, ContactConsent, contact=contact) == []


# --- History ----------------------------------------------------------------------------------


def test_history_returns_evidence_only_when_asked_and_audits_both(world, client, django_assert_max_num_queries):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    evidence = Evidence(ip_address="192.0.2.44", user_agent="HistoryBrowser/3", form_version="web:v1")
    for status in (ConsentStatus.PENDING, ConsentStatus.GRANTED, ConsentStatus.REVOKED):
        _set(tenant, contact, "billing", status, evidence)
    headers, _ = _bearer(world, READ)
    url = _url("contact_consent_history", contact_id=contact.pk)
    client.get(url, **headers)  # the token's first use writes its last-used time
    seq = head_seq(tenant)
    # The request's own queries (token, tenant, access policy, audit) plus the page of history:
    # the same however long the history is.
    with django_assert_max_num_queries(HISTORY_QUERIES):
        plain = client.get(url, **headers)
    results = plain.json()["results"]
    assert [(r["from_status"], r["to_status"]) for r in results] == [
        ("never_asked", "pending"),
        ("pending", "granted"),
        ("granted", "revoked"),
    ]
    assert "ip_address" not in results[0] and "192.0.2.44" not in plain.content.decode()
    assert results[0]["form_version"] == "web:v1"
    for status in (ConsentStatus.GRANTED, ConsentStatus.REVOKED) * 5:
        _set(tenant, contact, "care", status)
    seq_longer = head_seq(tenant)
    with django_assert_max_num_queries(HISTORY_QUERIES):
        assert len(client.get(url, **headers).json()["results"]) == 13
    shown = client.get(url, {"evidence": "true"}, **headers).json()["results"]
    assert shown[0]["ip_address"] == "192.0.2.44" and shown[0]["user_agent"] == "HistoryBrowser/3"
    assert _consent_events(tenant, seq)[0] == ("consent.history_viewed", {"evidence": False})
    assert _consent_events(tenant, seq_longer) == [
        ("consent.history_viewed", {"evidence": False}),
        ("consent.history_viewed", {"evidence": True}),
    ]


# --- Authorisations ---------------------------------------------------------------------------


def test_a_refused_authorisation_names_each_missing_element(world, client):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    text = publish_text(tenant)
    headers, _ = _bearer(world, WRITE)
    seq = head_seq(tenant)
    response = _send(
        client,
        "post",
        _url("contact_authorisations", contact_id=contact.pk),
        {"text_id": str(text.pk), "purpose": "marketing"},
        headers,
    )
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields == {
        "signature_name": ["The authorisation lacks the signature of the individual."],
        "signed_on": ["The authorisation lacks the date it was signed."],
        "expires_on": ["The authorisation lacks an expiration date or event."],
    }
    not_marketing = _send(
        client,
        "post",
        _url("contact_authorisations", contact_id=contact.pk),
        {
            "text_id": str(text.pk),
            "purpose": "care",
            "signature_name": "Testy Synthetic",
            "signed_on": timezone.localdate().isoformat(),
            "expiry_event": "End of the programme",
        },
        headers,
    )
    assert "not a marketing purpose" in not_marketing.json()["error"]["fields"]["purpose"][0]
    assert _consent_events(tenant, seq) == [] and _rows(tenant, MarketingAuthorisation) == []


def test_only_the_current_text_version_and_this_tenants_texts_are_accepted(world, client):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    old = publish_text(tenant)
    publish_text(tenant)
    others = publish_text(world.b.tenant)
    headers, _ = _bearer(world, WRITE)
    url = _url("contact_authorisations", contact_id=contact.pk)
    signed = {"purpose": "marketing", "signature_name": "Testy Synthetic", "expiry_event": "End of the programme"}
    signed["signed_on"] = timezone.localdate().isoformat()
    stale = _send(client, "post", url, {**signed, "text_id": str(old.pk)}, headers)
    assert stale.status_code == 400 and "current version" in stale.json()["error"]["fields"]["text_id"][0]
    foreign = _send(client, "post", url, {**signed, "text_id": str(others.pk)}, headers)
    assert foreign.json()["error"]["fields"]["text_id"] == ["No such authorisation text."]
    assert _rows(tenant, MarketingAuthorisation) == []


def test_recording_listing_and_revoking_an_authorisation(world, client):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    text = publish_text(tenant)
    headers, _ = _bearer(world, READ, WRITE)
    today = timezone.localdate()
    seq = head_seq(tenant)
    created = _send(
        client,
        "post",
        _url("contact_authorisations", contact_id=contact.pk),
        {
            "text_id": str(text.pk),
            "purpose": "marketing",
            "signature_name": "Apisigned Synthetic",
            "signed_on": today.isoformat(),
            "signature_method": "electronic",
            "expires_on": (today + timedelta(days=90)).isoformat(),
            "evidence": {"ip_address": "198.51.100.7", "user_agent": "Portal/1"},
        },
        headers,
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["state"] == "valid" and body["source"] == "api" and body["text_version"] == 1
    assert "Apisigned" not in created.content.decode()  # the signature name is PHI: never returned
    listed = client.get(_url("contact_authorisations", contact_id=contact.pk), **headers).json()
    assert [row["id"] for row in listed] == [body["id"]]

    revoke = _url("authorisation_revoke", authorisation_id=body["id"])
    revoked = _send(client, "post", revoke, {}, headers)
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert _send(client, "post", revoke, {}, headers).status_code == 200  # twice changes nothing
    assert _consent_events(tenant, seq) == [
        ("consent.authorisation_recorded", {"purpose": "marketing", "text_version": 1, "source": "api"}),
        ("consent.authorisation_revoked", {"purpose": "marketing", "source": "api"}),
    ]
    with tenant_context(tenant):
        (signed_event, _revoked_event) = _rows(tenant, ConsentEvent, contact_id=contact.pk)
        assert signed_event.ip_address == "198.51.100.7" and signed_event.source == "api"


# --- Suppressions -----------------------------------------------------------------------------


def _suppress(tenant, email, reason=SuppressionReason.MANUAL):
    with tenant_context(tenant):
        return suppression_add(tenant=tenant, actor=STAFF, email=email, reason=reason)


def test_suppressions_are_added_masked_listed_within_a_budget(world, client, django_assert_max_num_queries):
    tenant = world.a.tenant
    make_contact(tenant)  # the tenant's keys exist before counting audit events
    headers, _ = _bearer(world, READ, WRITE)
    seq = head_seq(tenant)
    created = _send(client, "post", _url("suppression_list"), {"email": "Api.Added@Example.org"}, headers)
    assert created.status_code == 201
    assert created.json()["address"] == "A•••@example.org" and created.json()["reason"] == "manual"
    assert "Api.Added" not in created.content.decode()
    assert _consent_events(tenant, seq) == [("suppression.added", {"reason": "manual", "source": "api"})]
    for number in range(30):
        _suppress(tenant, f"listed{number}@example.org", SuppressionReason.HARD_BOUNCE)
    with django_assert_max_num_queries(LIST_QUERIES):
        listed = client.get(_url("suppression_list"), {"page_size": 20}, **headers)
    body = listed.json()
    assert len(body["results"]) == 20 and body["next"]
    assert "listed" not in listed.content.decode()
    assert body["results"][0]["address"] == "l•••@example.org"
    for number in range(30):
        _suppress(tenant, f"more{number}@example.org", SuppressionReason.UNSUBSCRIBED)
    with django_assert_max_num_queries(LIST_QUERIES):
        assert len(client.get(_url("suppression_list"), {"page_size": 50}, **headers).json()["results"]) == 50


def test_bad_suppression_input_is_structured(world, client):
    headers, _ = _bearer(world, WRITE)
    for payload, field in [({"email": "nope"}, "email"), ({"email": "a@example.org", "reason": "whim"}, "reason")]:
        response = _send(client, "post", _url("suppression_list"), payload, headers)
        assert response.status_code == 400 and field in response.json()["error"]["fields"]
        assert "nope" not in response.content.decode()
    assert _rows(world.a.tenant, Suppression) == []


def test_deleting_lifts_a_suppression_but_never_a_complaint(world, client):
    tenant = world.a.tenant
    bounce = _suppress(tenant, "bounced@example.org", SuppressionReason.HARD_BOUNCE)
    complaint = _suppress(tenant, "complained@example.org", SuppressionReason.COMPLAINT)
    headers, _ = _bearer(world, READ, WRITE)
    seq = head_seq(tenant)
    refused = client.delete(_url("suppression_detail", suppression_id=complaint.pk), **headers)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "complaint_not_liftable"
    assert "opt in again" in refused.json()["error"]["message"]
    shown = client.get(_url("suppression_detail", suppression_id=complaint.pk), **headers).json()
    assert shown["can_be_lifted"] is False and shown["address"] == "c•••@example.org"
    assert client.delete(_url("suppression_detail", suppression_id=bounce.pk), **headers).status_code == 204
    assert _consent_events(tenant, seq) == [("suppression.removed", {"reason": "hard_bounce"})]
    assert [s.pk for s in _rows(tenant, Suppression)] == [complaint.pk]


# --- Cross-tenant -----------------------------------------------------------------------------


def test_another_tenants_token_gets_404_and_changes_nothing(world, client):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    authorisation = authorise(tenant, contact)
    suppression = _suppress(tenant, "theirs@example.org")
    text = publish_text(tenant, name="Second text")
    headers, _ = _bearer(world, READ, WRITE, tenant="b")
    attempts = [
        ("get", _url("contact_consent", contact_id=contact.pk), None),
        ("patch", _url("contact_consent", contact_id=contact.pk), {"statuses": {"care": "granted"}}),
        ("get", _url("contact_consent_history", contact_id=contact.pk), None),
        ("get", _url("contact_authorisations", contact_id=contact.pk), None),
        (
            "post",
            _url("contact_authorisations", contact_id=contact.pk),
            {"text_id": str(text.pk), "purpose": "marketing"},
        ),
        ("post", _url("authorisation_revoke", authorisation_id=authorisation.pk), {}),
        ("get", _url("suppression_detail", suppression_id=suppression.pk), None),
        ("delete", _url("suppression_detail", suppression_id=suppression.pk), None),
    ]
    seq = head_seq(tenant)
    for method, url, payload in attempts:
        if payload is None:
            response = getattr(client, method)(url, **headers)
        else:
            response = _send(client, method, url, payload, headers)
        assert response.status_code == 404, (method, url, response.status_code)
        assert response.json()["error"]["code"] == "not_found"
    assert events(tenant, seq) == []
    assert _rows(tenant, ContactConsent, contact=contact) == []
    assert _rows(tenant, MarketingAuthorisation, pk=authorisation.pk)[0].revoked_at is None
    assert len(_rows(tenant, Suppression)) == 1
    # And B's lists hold none of A's rows.
    assert client.get(_url("suppression_list"), **headers).json()["results"] == []


# --- Purposes and the report ------------------------------------------------------------------


def test_purposes_list_built_in_and_own_within_a_budget(world, client, django_assert_max_num_queries):
    tenant = world.a.tenant
    with tenant_context(tenant):
        purpose_create(tenant=tenant, actor=STAFF, key="research", name="Research", is_marketing=True)
    with tenant_context(world.b.tenant):
        purpose_create(tenant=world.b.tenant, actor=STAFF, key="b_only", name="B only", is_marketing=False)
    headers, _ = _bearer(world, READ)
    client.get(_url("purpose_list"), **headers)
    with django_assert_max_num_queries(PURPOSES_QUERIES):
        response = client.get(_url("purpose_list"), **headers)
    rows = {row["key"]: row for row in response.json()}
    assert list(rows) == ["appointment_reminders", "billing", "care", "marketing", "research"]
    assert rows["research"]["is_marketing"] is True and rows["research"]["is_builtin"] is False
    with tenant_context(tenant):
        for number in range(10):
            purpose_create(tenant=tenant, actor=STAFF, key=f"own{number}", name=f"Own {number}", is_marketing=False)
    with django_assert_max_num_queries(PURPOSES_QUERIES):
        assert len(client.get(_url("purpose_list"), **headers).json()) == 15


def test_the_report_counts_never_asked_and_lists_expiring_by_id(world, client, django_assert_max_num_queries):
    tenant = world.a.tenant
    contacts = [make_contact(tenant) for _ in range(4)]
    _set(tenant, contacts[0], "billing", ConsentStatus.GRANTED)
    _set(tenant, contacts[1], "billing", ConsentStatus.REVOKED)
    soon = authorise(tenant, contacts[2], expires_in_days=5)
    authorise(tenant, contacts[3], expires_in_days=100)
    headers, _ = _bearer(world, READ)
    client.get(_url("report"), **headers)
    with django_assert_max_num_queries(REPORT_QUERIES):
        response = client.get(_url("report"), {"expiring_within": 10}, **headers)
    assert response.status_code == 200
    body = response.json()
    assert body["contacts_total"] == 4
    billing = next(row for row in body["purposes"] if row["purpose"] == "billing")
    assert (billing["granted"], billing["pending"], billing["revoked"], billing["never_asked"]) == (1, 0, 1, 2)
    assert {(c["kind"], c["purpose"], c["to_status"]): c["count"] for c in body["changes"]} == {
        ("consent", "billing", "granted"): 1,
        ("consent", "billing", "revoked"): 1,
        ("authorisation", "marketing", "signed"): 2,
    }
    assert [row["id"] for row in body["expiring"]] == [str(soon.pk)]
    assert body["expiring"][0]["contact_id"] == str(contacts[2].pk) and body["expiring_truncated"] is False
    for contact in contacts:
        assert contact.email not in response.content.decode()
    for _ in range(10):
        contact = make_contact(tenant)
        _set(tenant, contact, "care", ConsentStatus.GRANTED)
        authorise(tenant, contact, expires_in_days=3)
    with django_assert_max_num_queries(REPORT_QUERIES):
        assert len(client.get(_url("report"), {"expiring_within": 10}, **headers).json()["expiring"]) == 11


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-05-02", "to": "2026-05-01"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"expiring_within": 0}, "expiring_within"),
        ({"expiring_within": 1000}, "expiring_within"),
    ],
)
def test_bad_report_parameters_are_structured_400s(world, client, params, field):
    headers, _ = _bearer(world, READ)
    response = client.get(_url("report"), params, **headers)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_the_report_needs_its_permission_in_a_session(world, login):
    assert login(world.a.users[Role.MARKETER], world.a.tenant).get(_url("report")).status_code == 403
    assert login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant).get(_url("report")).status_code == 200


def test_the_schema_documents_the_consent_api(client):
    response = client.get(reverse("api:schema"), HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = json.loads(response.content)["paths"] if response["Content-Type"].startswith("application/json") else None
    text = response.content.decode()
    for path in (
        "/api/contacts/{contact_id}/consent/",
        "/api/contacts/{contact_id}/consent/history/",
        "/api/contacts/{contact_id}/authorisations/",
        "/api/authorisations/{authorisation_id}/revoke/",
        "/api/suppressions/",
        "/api/suppressions/{suppression_id}/",
        "/api/consent/purposes/",
        "/api/consent/report/",
    ):
        assert (path in paths) if paths is not None else (path in text), path
