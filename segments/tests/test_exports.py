"""The contact CSV export: step-up, permission, PHI attributes, formula-injection safety,
keyset batches, and its audit event."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from audit.tests.helpers import events, head_seq
from segments import imports
from segments.attributes import contact_attributes_apply, dictionary_for
from segments.models import AttributeDefinition, AttributeType, Contact
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db


def _rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def _with_visit(tenant, contact, date):
    with tenant_context(tenant):
        contact = Contact.objects.for_tenant(tenant).get(pk=contact.pk)
        contact_attributes_apply(contact=contact, values={"next_visit": date}, dictionary=dictionary_for(tenant=tenant))
        contact.save()


def test_export_streams_every_contact_with_phi_and_is_audited(world, login, monkeypatch):
    tenant = world.a.tenant
    monkeypatch.setattr(imports, "EXPORT_BATCH_SIZE", 2)
    with tenant_context(tenant):
        AttributeDefinition.objects.create(
            tenant=tenant, key="next_visit", label="Next visit", type=AttributeType.DATE, is_phi=True
        )
    made = [make_contact(tenant, tags={"vip": True}) for _ in range(4)]
    formula = make_contact(tenant, first_name='=HYPERLINK("http://x")', last_name="@SUM(A1)")
    _with_visit(tenant, made[0], "2026-03-04")
    make_contact(world.b.tenant)
    since = head_seq(tenant)
    response = login(world.a.users[Role.ADMIN], tenant, step_up=True).get(reverse("segments:contact_export"))
    assert response.status_code == 200 and response.streaming
    assert response["Cache-Control"] == "no-store"
    rows = _rows(response)
    assert rows[0] == [
        "id",
        "email",
        "first_name",
        "last_name",
        "external_id",
        "language",
        "time_zone",
        "tags",
        "next_visit",
    ]
    assert [row[0] for row in rows[1:]] == [str(contact.pk) for contact in [*made, formula]]
    assert rows[1][8] == "2026-03-04" and rows[1][7] == "vip"
    assert rows[5][2:4] == ['\'=HYPERLINK("http://x")', "'@SUM(A1)"]
    assert [event for event in events(tenant, since) if event[0].startswith("contact.")] == [
        ("contact.exported", {"count": 5, "filtered_by_tag": False, "format": "csv"})
    ]


def test_export_filtered_by_tag(world, login):
    tenant = world.a.tenant
    tagged = make_contact(tenant, tags={"diabetes": True})
    make_contact(tenant)
    response = login(world.a.users[Role.COMPLIANCE_OFFICER], tenant, step_up=True).get(
        reverse("segments:contact_export"), {"tag": "Diabetes"}
    )
    rows = _rows(response)
    assert [row[0] for row in rows[1:]] == [str(tagged.pk)]


def test_export_needs_a_fresh_step_up(world, login):
    make_contact(world.a.tenant)
    since = head_seq(world.a.tenant)
    response = login(world.a.users[Role.ADMIN], world.a.tenant).get(reverse("segments:contact_export"))
    assert response.status_code == 302
    assert "step-up" in response["Location"] or "step_up" in response["Location"] or "stepup" in response["Location"]
    assert [event for event in events(world.a.tenant, since) if event[0] == "contact.exported"] == []


def test_marketers_cannot_export(world, login):
    response = login(world.a.users[Role.MARKETER], world.a.tenant, step_up=True).get(reverse("segments:contact_export"))
    assert response.status_code == 403


def test_export_csv_holds_one_batch_at_a_time(world):
    """The iterator reads batch by batch (keyset), each in its own short tenant context."""
    tenant = world.a.tenant
    for _ in range(5):
        make_contact(tenant)
    with tenant_context(tenant):
        chunks = imports.contact_export_csv(tenant=tenant, batch_size=2)
    texts = list(chunks)  # consumed outside any tenant context, as a streaming response is
    assert len(texts) == 1 + 3
    assert sum(text.count("\n") for text in texts[1:]) == 5
