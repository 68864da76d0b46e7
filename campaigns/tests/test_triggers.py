"""Trigger events (issue 13): the API's validation with structured errors, idempotency by the
caller's id, PHI fields encrypted at rest, batches all or nothing, organisation-defined types,
correlation, scopes and cross-tenant isolation."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from audit.tests.helpers import events as audit_events
from campaigns.models import TriggerEvent, TriggerType
from campaigns.triggers import trigger_event_payload
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact, make_token

pytestmark = pytest.mark.django_db

PROVIDER = "Dr. Synthetica Quill"
APPOINTMENT = "APPT-SYNTH-88412"


def bearer(fixture, scopes=("events:write",)):
    issued = make_token(fixture.tenant, fixture.users[Role.ADMIN], scopes=list(scopes))
    return {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}


def booking(contact, *, event_id="evt-1", **data):
    payload = {
        "appointment_id": APPOINTMENT,
        "appointment_at": "2027-03-15T09:30:00-04:00",
        "provider_name": PROVIDER,
        "department": "Cardiology",
    }
    payload.update(data)
    return {
        "id": event_id,
        "type": "appointment.scheduled",
        "contact": {"external_id": contact.external_id},
        "occurred_at": "2027-03-01T12:00:00Z",
        "data": payload,
    }


def post(client, path, body, headers):
    return client.post(path, body, content_type="application/json", **headers)


def stored(fixture):
    with tenant_context(fixture.tenant):
        return list(TriggerEvent.objects.for_tenant(fixture.tenant).order_by("received_at"))


def audit_details(fixture, action):
    return [details for name, details in audit_events(fixture.tenant) if name == action]


@pytest.fixture
def frozen_now(monkeypatch):
    """'Now' after the example events' times."""
    from django.utils import timezone

    fixed = datetime(2027, 3, 2, 8, tzinfo=UTC)
    monkeypatch.setattr(timezone, "now", lambda: fixed)
    return fixed


def test_an_event_is_stored_with_its_phi_fields_encrypted(world, client, frozen_now):
    a = world.a
    contact = make_contact(a.tenant)
    response = post(client, "/api/events/", booking(contact), bearer(a))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["type"] == "appointment.scheduled" and body["contact_id"] == str(contact.pk)
    assert body["replayed"] is False and body["occurred_at"].startswith("2027-03-01T12:00:00")
    [event] = stored(a)
    assert str(event.pk) == body["id"]
    assert event.data == {"department": "Cardiology"}  # the one non-PHI field
    with tenant_context(a.tenant):
        assert trigger_event_payload(event) == {
            "appointment_id": APPOINTMENT,
            "appointment_at": "2027-03-15T13:30:00+00:00",
            "provider_name": PROVIDER,
            "department": "Cardiology",
        }
        assert event.source_id == "evt-1"
    with tenant_context(a.tenant), connection.cursor() as cursor:
        cursor.execute("SELECT phi_data, source_id, data::text FROM campaigns_triggerevent")
        phi, source, data = cursor.fetchone()
    for secret in (PROVIDER.encode(), APPOINTMENT.encode(), b"evt-1"):
        assert secret not in bytes(phi) and secret not in bytes(source) and secret.decode() not in data
    [details] = audit_details(a, "trigger_events.received")
    assert details == {"stored": 1, "replayed": 0, "types": ["appointment.scheduled"]}


def test_a_retry_with_the_same_id_is_a_replay_and_stores_nothing(world, client, frozen_now):
    a = world.a
    contact = make_contact(a.tenant)
    first = post(client, "/api/events/", booking(contact), bearer(a))
    again = post(client, "/api/events/", booking(contact), bearer(a))
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["replayed"] is True
    assert len(stored(a)) == 1


def test_the_same_id_with_different_content_is_refused(world, client, frozen_now):
    a = world.a
    contact = make_contact(a.tenant)
    assert post(client, "/api/events/", booking(contact), bearer(a)).status_code == 201
    moved = booking(contact, appointment_at="2027-03-16T09:30:00-04:00")
    response = post(client, "/api/events/", moved, bearer(a))
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "idempotency_conflict" and list(error["fields"]) == ["id"]
    assert len(stored(a)) == 1


def test_bad_fields_are_named_by_path_and_never_quoted(world, client, frozen_now):
    a = world.a
    contact = make_contact(a.tenant)
    event = booking(
        contact,
        appointment_at="2027-03-15T09:30:00",  # no UTC offset
        provider=["not", "text"],
        diagnosis="Synthetic secret diagnosis",  # not a field of the type
    )
    del event["data"]["appointment_id"]
    event["occurred_at"] = "2099-01-01T00:00:00Z"
    response = post(client, "/api/events/", event, bearer(a))
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {
        "data.appointment_id",
        "data.appointment_at",
        "data.provider",
        "data.diagnosis",
        "occurred_at",
    }
    assert fields["data.appointment_id"] == ["Required."]
    assert "UTC offset" in fields["data.appointment_at"][0]
    assert b"Synthetic secret" not in response.content and b"2027-03-15T09:30" not in response.content
    assert stored(a) == []


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"type": "appointment.rescheduled"}, "type"),
        ({"contact": {}}, "contact"),
        ({"contact": {"email": "x@example.com", "external_id": "E1"}}, "contact"),
        ({"contact": {"id": "not-a-uuid"}}, "contact.id"),
        ({"contact": {"external_id": "EXT-NOBODY"}}, "contact"),
        ({"id": ""}, "id"),
        ({"id": "x" * 201}, "id"),
        ({"data": "starts tomorrow"}, "data"),
        ({"color": "red"}, "color"),
    ],
)
def test_each_malformed_part_gets_its_own_error(world, client, frozen_now, change, path):
    a = world.a
    event = booking(make_contact(a.tenant))
    event.update(change)
    response = post(client, "/api/events/", event, bearer(a))
    assert response.status_code == 400
    assert path in response.json()["error"]["fields"]
    assert stored(a) == []


def test_field_types_are_strict(world, client, frozen_now):
    a = world.a
    contact = make_contact(a.tenant)
    base = {
        "id": "bill-1",
        "type": "bill.issued",
        "contact": {"email": contact.email.upper()},  # emails match whatever their case
    }
    wrong = post(
        client,
        "/api/events/",
        {**base, "data": {"bill_id": "B-1", "amount_due": "12.50", "due_date": "03/31/2027"}},
        bearer(a),
    )
    assert wrong.status_code == 400
    assert set(wrong.json()["error"]["fields"]) == {"data.amount_due", "data.due_date"}
    right = post(
        client,
        "/api/events/",
        {**base, "data": {"bill_id": "B-1", "amount_due": 12.5, "due_date": "2027-03-31"}},
        bearer(a),
    )
    assert right.status_code == 201
    with tenant_context(a.tenant):
        [event] = stored(a)
        assert trigger_event_payload(event) == {"bill_id": "B-1", "amount_due": 12.5, "due_date": "2027-03-31"}


def test_a_batch_is_all_or_nothing_and_names_the_bad_event(world, client, frozen_now):
    a = world.a
    contacts = [make_contact(a.tenant) for _ in range(3)]
    events = [booking(c, event_id=f"evt-{n}") for n, c in enumerate(contacts)]
    events[1]["data"]["appointment_at"] = "next tuesday"
    response = post(client, "/api/events/batch/", {"events": events}, bearer(a))
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["events.1.data.appointment_at"]
    assert stored(a) == []
    events[1]["data"]["appointment_at"] = "2027-03-20T10:00:00+00:00"
    events.append(booking(contacts[0], event_id="evt-0"))  # a retry inside the batch
    response = post(client, "/api/events/batch/", {"events": events}, bearer(a))
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["replayed"] for r in results] == [False, False, False, True]
    assert results[3]["id"] == results[0]["id"]
    assert len(stored(a)) == 3
    [details] = audit_details(a, "trigger_events.received")
    assert details == {"stored": 3, "replayed": 1, "types": ["appointment.scheduled"]}


@pytest.mark.parametrize("body", [{}, {"events": []}, {"events": "all"}, {"events": [{}] * 501}, []])
def test_a_batch_needs_a_list_of_1_to_500_events(world, client, body):
    response = post(client, "/api/events/batch/", body, bearer(world.a))
    assert response.status_code == 400 and "events" in response.json()["error"]["fields"]


def test_a_cancellation_shares_its_bookings_correlation_index(world, client, frozen_now):
    a = world.a
    contact = make_contact(a.tenant)
    post(client, "/api/events/", booking(contact), bearer(a))
    cancel = {
        "id": "evt-cancel",
        "type": "appointment.cancelled",
        "contact": {"id": str(contact.pk)},
        "data": {"appointment_id": APPOINTMENT.lower()},  # ids match whatever their case
    }
    assert post(client, "/api/events/", cancel, bearer(a)).status_code == 201
    other = booking(contact, event_id="evt-2", appointment_id="APPT-SYNTH-00001")
    assert post(client, "/api/events/", other, bearer(a)).status_code == 201
    indexes = [event.correlation_index for event in stored(a)]
    assert indexes[0] == indexes[1] != indexes[2] and all(indexes)


def test_an_organisation_defines_its_own_type_and_receives_it(world, client, frozen_now):
    from audit.services import actor_for_user
    from campaigns.triggers import TriggerInputError, trigger_type_create

    a = world.a
    actor = actor_for_user(a.users[Role.ADMIN])
    with tenant_context(a.tenant):
        with pytest.raises(TriggerInputError) as refused:
            trigger_type_create(
                tenant=a.tenant,
                actor=actor,
                key="appointment.scheduled",
                label="Mine",
                fields=[{"key": "x", "type": "colour"}, {"key": "x", "type": "text"}],
                correlation_field="y",
            )
        assert set(refused.value.fields) == {"key", "fields.0.type", "fields.1.key", "correlation_field"}
        trigger_type_create(
            tenant=a.tenant,
            actor=actor,
            key="vaccine.due",
            label="Vaccine due",
            fields=[
                {"key": "vaccine", "label": "Vaccine", "type": "choice", "choices": ["Flu", "COVID-19"]},
                {"key": "clinic_code", "type": "text", "is_phi": False, "required": True},
            ],
        )
    types = client.get("/api/event-types/", **bearer(a)).json()["results"]
    mine = next(t for t in types if t["key"] == "vaccine.due")
    assert mine["builtin"] is False and [f["is_phi"] for f in mine["fields"]] == [True, False]
    assert {t["key"] for t in types} >= {"appointment.scheduled", "bill.issued", "prescription.due"}
    contact = make_contact(a.tenant)
    event = {"id": "v-1", "type": "vaccine.due", "contact": {"id": str(contact.pk)}}
    bad = post(client, "/api/events/", {**event, "data": {"vaccine": "Measles", "clinic_code": "N1"}}, bearer(a))
    assert bad.status_code == 400 and list(bad.json()["error"]["fields"]) == ["data.vaccine"]
    good = post(client, "/api/events/", {**event, "data": {"vaccine": "flu", "clinic_code": "N1"}}, bearer(a))
    assert good.status_code == 201
    [stored_event] = stored(a)
    assert stored_event.data == {"clinic_code": "N1"}
    with tenant_context(a.tenant):
        assert trigger_event_payload(stored_event)["vaccine"] == "Flu"
    # Another organisation does not have the type.
    b_contact = make_contact(world.b.tenant)
    other = post(
        client,
        "/api/events/",
        {"id": "v-1", "type": "vaccine.due", "contact": {"id": str(b_contact.pk)}, "data": {"clinic_code": "N1"}},
        bearer(world.b),
    )
    assert other.status_code == 400 and "type" in other.json()["error"]["fields"]
    with tenant_context(world.b.tenant):
        assert not TriggerType.objects.for_tenant(world.b.tenant).exists()


def test_events_write_scope_is_required(world, client):
    a = world.a
    event = booking(make_contact(a.tenant))
    for path, body in (("/api/events/", event), ("/api/events/batch/", {"events": [event]})):
        response = post(client, path, body, bearer(a, ["campaigns:write", "contacts:write"]))
        assert response.status_code == 403 and response.json()["error"]["code"] == "insufficient_scope"
    assert client.get("/api/event-types/", **bearer(a, ["campaigns:read"])).status_code == 403
    assert post(client, "/api/events/", event, {}).status_code in (401, 403)
    assert stored(a) == []


def test_another_organisations_contact_cannot_be_the_subject(world, client, frozen_now):
    a, b = world.a, world.b
    contact = make_contact(a.tenant)
    by_id = {**booking(contact), "contact": {"id": str(contact.pk)}}
    for event in (booking(contact), by_id):
        response = post(client, "/api/events/", event, bearer(b))
        assert response.status_code == 400
        assert response.json()["error"]["fields"]["contact"] == ["No contact matches: create the contact first."]
    assert stored(a) == [] and stored(b) == []


def test_the_same_caller_id_in_two_organisations_is_two_events(world, client, frozen_now):
    a, b = world.a, world.b
    first = post(client, "/api/events/", booking(make_contact(a.tenant)), bearer(a))
    second = post(client, "/api/events/", booking(make_contact(b.tenant)), bearer(b))
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]


def test_an_ambiguous_external_id_asks_for_the_contact_id(world, client, frozen_now):
    a = world.a
    make_contact(a.tenant, external_id="EXT-TWIN")
    twin = make_contact(a.tenant, external_id="EXT-TWIN")
    response = post(client, "/api/events/", booking(twin), bearer(a))
    assert response.status_code == 400
    assert "contact's id" in response.json()["error"]["fields"]["contact"][0]


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_store_one_event(world):
    """Two requests with the same id at the same moment: one stores, the other is a replay."""
    from django.db import connections
    from django.test import Client

    a = world.a
    contact = make_contact(a.tenant)
    headers = bearer(a)
    event = booking(contact)
    event["occurred_at"] = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def send() -> None:
        try:
            barrier.wait()
            codes.append(post(Client(), "/api/events/", event, headers).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200, 201]
    assert len(stored(a)) == 1
