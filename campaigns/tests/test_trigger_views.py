"""The trigger events page: types with their PHI fields, the latest events without their payload,
adding an organisation's own type (roles, errors, audit), bounded queries, and isolation."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.services import actor_for_user
from audit.tests.helpers import actions
from campaigns.models import TriggerType
from campaigns.triggers import trigger_events_receive
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db

PROVIDER = "Dr. Synthetica Quill"
LIST, CREATE = reverse("campaigns:trigger_list"), reverse("campaigns:trigger_type_create")


def receive(fixture, count=1):
    contact = make_contact(fixture.tenant)
    with tenant_context(fixture.tenant):
        trigger_events_receive(
            tenant=fixture.tenant,
            actor=actor_for_user(fixture.users[Role.ADMIN]),
            items=[
                {
                    "id": f"evt-{n}",
                    "type": "appointment.scheduled",
                    "contact": {"id": str(contact.pk)},
                    "data": {
                        "appointment_id": f"A-{n}",
                        "appointment_at": "2027-01-05T10:00:00+00:00",
                        "provider_name": PROVIDER,
                    },
                }
                for n in range(count)
            ],
        )
    return contact


def type_form(key="referral.received", **rows):
    data = {
        "key": key,
        "label": "Referral received",
        "description": "",
        "correlation_field": "referral_id",
        "fields-TOTAL_FORMS": "8",
        "fields-INITIAL_FORMS": "0",
        "fields-MIN_NUM_FORMS": "0",
        "fields-MAX_NUM_FORMS": "8",
        "fields-0-key": "referral_id",
        "fields-0-type": "text",
        "fields-0-required": "on",
        "fields-0-is_phi": "on",
        "fields-1-key": "clinic_code",
        "fields-1-type": "text",
    }
    for n in range(2, 8):
        data[f"fields-{n}-type"] = "text"
        data[f"fields-{n}-is_phi"] = "on"
    data.update(rows)
    return data


def test_the_page_lists_types_and_events_without_their_payload(world, login, django_assert_max_num_queries):
    contact = receive(world.a, count=30)
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    with django_assert_max_num_queries(16):
        response = client.get(LIST)
    assert response.status_code == 200
    page = response.content.decode()
    assert "appointment.scheduled" in page and "prescription.due" in page and "pill-phi" in page
    assert page.count(reverse("segments:contact_detail", args=[contact.pk])) == 30
    assert PROVIDER not in page and "A-1" not in page


def test_a_marketer_adds_a_type_and_it_is_audited(world, login):
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    assert client.get(CREATE).status_code == 200
    response = client.post(CREATE, type_form())
    assert response.status_code == 302
    with tenant_context(world.a.tenant):
        created = TriggerType.objects.for_tenant(world.a.tenant).get()
    assert created.correlation_field == "referral_id"
    assert [(f["key"], f["required"], f["is_phi"]) for f in created.fields] == [
        ("referral_id", True, True),
        ("clinic_code", False, False),
    ]
    assert "trigger_type.created" in actions(world.a.tenant)
    assert "referral.received" in client.get(LIST).content.decode()


def test_bad_input_is_explained_and_nothing_is_added(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    response = client.post(CREATE, type_form(key="Appointment Scheduled", **{"fields-1-key": "referral_id"}))
    assert response.status_code == 400
    page = response.content.decode()
    assert "Lower-case words joined by dots" in page and "Field row 2: Used by another field." in page
    response = client.post(CREATE, type_form(key="appointment.scheduled"))
    assert response.status_code == 400 and "An event type with this key exists." in response.content.decode()
    with tenant_context(world.a.tenant):
        assert not TriggerType.objects.for_tenant(world.a.tenant).exists()


def test_a_compliance_officer_reads_but_cannot_add(world, login):
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    response = client.get(LIST)
    assert response.status_code == 200 and CREATE not in response.content.decode()
    assert client.get(CREATE).status_code == 403
    assert client.post(CREATE, type_form()).status_code == 403


def test_another_organisations_types_and_events_are_not_shown(world, login):
    receive(world.a)
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    client.post(CREATE, type_form())
    assert "referral.received" in client.get(LIST).content.decode()  # also shows the flash message
    other = login(world.b.users[Role.ADMIN], world.b.tenant).get(LIST).content.decode()
    assert "referral.received" not in other and "No events received yet" in other
