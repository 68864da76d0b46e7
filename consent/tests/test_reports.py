"""The consent report: counts by purpose and status (with "never asked"), changes over a period,
expiring authorisations, the CSV export and its audit event, and query budgets."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.tests.helpers import events, head_seq
from consent.models import ConsentSource, ConsentStatus
from consent.reports import consent_counts, report_period
from consent.services import consent_set, purpose_archive, purpose_create
from consent.tests.support import STAFF, authorise, publish_text
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db

REPORT = "consent:report"
EXPORT = "consent:report_export"


def _set(tenant, contact, purpose, status, source=ConsentSource.FORM):
    with tenant_context(tenant):
        consent_set(tenant=tenant, actor=STAFF, contact=contact, purpose=purpose, status=status, source=source)


def _fixture(tenant):
    """Five contacts: billing granted x2, revoked x1, pending x1 (one never asked); marketing
    granted x1; an archived purpose of the organisation's own that one contact still holds."""
    contacts = [make_contact(tenant) for _ in range(5)]
    _set(tenant, contacts[0], "billing", ConsentStatus.GRANTED)
    _set(tenant, contacts[1], "billing", ConsentStatus.GRANTED)
    _set(tenant, contacts[2], "billing", ConsentStatus.GRANTED)
    _set(tenant, contacts[2], "billing", ConsentStatus.REVOKED, ConsentSource.RECIPIENT)
    _set(tenant, contacts[3], "billing", ConsentStatus.PENDING)
    _set(tenant, contacts[0], "marketing", ConsentStatus.GRANTED, ConsentSource.STAFF)
    with tenant_context(tenant):
        research = purpose_create(tenant=tenant, actor=STAFF, key="research", name="Research", is_marketing=False)
        unused = purpose_create(tenant=tenant, actor=STAFF, key="unused", name="Unused", is_marketing=False)
    _set(tenant, contacts[4], "research", ConsentStatus.GRANTED)
    with tenant_context(tenant):
        purpose_archive(tenant=tenant, actor=STAFF, purpose=research)
        purpose_archive(tenant=tenant, actor=STAFF, purpose=unused)
    return contacts


def _table(counts):
    return {row.purpose.key: (row.granted, row.pending, row.revoked, row.never_asked) for row in counts.purposes}


def test_counts_by_purpose_and_status_with_never_asked(world):
    tenant = world.a.tenant
    _fixture(tenant)
    make_contact(world.b.tenant)  # another tenant's contacts count for nothing here
    with tenant_context(tenant):
        counts = consent_counts(tenant=tenant)
    assert counts.contacts_total == 5
    assert _table(counts) == {
        "appointment_reminders": (0, 0, 0, 5),
        "billing": (2, 1, 1, 1),
        "care": (0, 0, 0, 5),
        "marketing": (1, 0, 0, 4),
        "research": (1, 0, 0, 4),  # archived, but someone still holds it; "unused" is left out
    }


def test_the_report_page_shows_the_numbers_within_a_query_budget(world, login, django_assert_max_num_queries):
    tenant = world.a.tenant
    contacts = _fixture(tenant)
    expiring = authorise(tenant, contacts[0], expires_in_days=10)
    authorise(tenant, contacts[1], expires_in_days=60)
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], tenant)
    client.get(reverse("tenants:dashboard"))  # settle the session before counting queries
    # The request's own (session binding, access policy, emergency access, navigation), then the
    # report: purposes, contact total, one grouped count, changes grouped, a page of changes and
    # its count, expiring authorisations with their texts.
    with django_assert_max_num_queries(22):
        response = client.get(reverse(REPORT))
    assert response.status_code == 200
    assert _table(response.context["counts"])["billing"] == (2, 1, 1, 1)
    changes = {(c.kind, c.purpose, c.to_status): c.count for c in response.context["change_counts"]}
    assert changes[("consent", "billing", "granted")] == 3
    assert changes[("consent", "billing", "revoked")] == 1
    assert changes[("consent", "billing", "pending")] == 1
    assert changes[("authorisation", "marketing", "signed")] == 2
    assert [a.pk for a in response.context["expiring"]] == [expiring.pk]
    body = response.content.decode()
    contact_link = reverse("consent:contact_consent", kwargs={"contact_id": contacts[0].pk})
    assert contact_link in body
    assert (
        '<tr data-purpose="billing"><th scope="row">Billing and payment</th><td>2</td><td>1</td><td>1</td><td>1</td></tr>'
        in body
    )
    # Names and addresses never appear: contacts by id only.
    for contact in contacts:
        assert contact.email not in body and contact.last_name not in body

    # The budget does not grow with the data.
    more = [make_contact(tenant) for _ in range(20)]
    for contact in more:
        _set(tenant, contact, "care", ConsentStatus.GRANTED)
        authorise(tenant, contact, text=None, expires_in_days=5)
    with django_assert_max_num_queries(22):
        response = client.get(reverse(REPORT))
    assert _table(response.context["counts"])["care"] == (20, 0, 0, 5)
    assert len(response.context["expiring"]) == 21


def test_changes_are_limited_to_the_period_and_paginated(world, login):
    tenant = world.a.tenant
    contacts = [make_contact(tenant) for _ in range(60)]
    for contact in contacts:
        _set(tenant, contact, "care", ConsentStatus.GRANTED)
    client = login(world.a.users[Role.ADMIN], tenant)
    today = timezone.localdate()
    response = client.get(reverse(REPORT), {"start": today.isoformat(), "end": today.isoformat()})
    assert response.context["changes"].paginator.count == 60 and len(response.context["changes"]) == 50
    page2 = client.get(reverse(REPORT), {"start": today.isoformat(), "end": today.isoformat(), "page": 2})
    assert len(page2.context["changes"]) == 10
    before = {"start": (today - timedelta(days=10)).isoformat(), "end": (today - timedelta(days=1)).isoformat()}
    earlier = client.get(reverse(REPORT), before)
    assert earlier.context["changes"].paginator.count == 0 and earlier.context["change_counts"] == []
    backwards = client.get(reverse(REPORT), {"start": today.isoformat(), "end": before["start"]})
    assert "The start of the period is after its end." in backwards.content.decode()


def test_expiring_within_is_chosen(world, login):
    tenant = world.a.tenant
    soon = authorise(tenant, make_contact(tenant), expires_in_days=10)
    later = authorise(tenant, make_contact(tenant), expires_in_days=45)
    authorise(tenant, make_contact(tenant), expires_in_days=None)  # an expiry event: no date to report
    client = login(world.a.users[Role.ADMIN], tenant)
    assert [a.pk for a in client.get(reverse(REPORT)).context["expiring"]] == [soon.pk]
    wider = client.get(reverse(REPORT), {"expiring_within": 60}).context["expiring"]
    assert [a.pk for a in wider] == [soon.pk, later.pk]


def test_marketers_get_no_report(world, login):
    client = login(world.a.users[Role.MARKETER], world.a.tenant, step_up=True)
    assert client.get(reverse(REPORT)).status_code == 403
    assert client.get(reverse(EXPORT)).status_code == 403


def test_the_export_needs_a_step_up(world, login):
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    seq = head_seq(world.a.tenant)
    response = client.get(reverse(EXPORT))
    assert response.status_code == 302 and response["Location"].startswith(reverse("authn:step_up"))
    assert events(world.a.tenant, seq) == []


def test_the_csv_export_has_ids_purposes_statuses_and_dates_and_is_audited(world, login):
    tenant = world.a.tenant
    contacts = _fixture(tenant)
    text = publish_text(tenant)
    expiring = authorise(tenant, contacts[1], text=text, expires_in_days=7)
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], tenant, step_up=True)
    today = timezone.localdate()
    seq = head_seq(tenant)
    response = client.get(
        reverse(EXPORT), {"start": today.isoformat(), "end": today.isoformat(), "expiring_within": 14}
    )
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert response["Cache-Control"] == "no-store" and "attachment" in response["Content-Disposition"]
    body = response.content.decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    summary = {(r["purpose"], r["status"]): int(r["count"]) for r in rows if r["section"] == "summary"}
    assert summary[("billing", "granted")] == 2 and summary[("billing", "never_asked")] == 1
    assert summary[("appointment_reminders", "never_asked")] == 5
    statuses = {(r["contact_id"], r["purpose"]): (r["status"], r["source"]) for r in rows if r["section"] == "status"}
    assert statuses[(str(contacts[2].pk), "billing")] == ("revoked", "recipient")
    assert statuses[(str(contacts[0].pk), "marketing")] == ("granted", "staff")
    assert len(statuses) == 6
    changes = [r for r in rows if r["section"] == "change" and r["contact_id"] == str(contacts[2].pk)]
    assert [(r["from_status"], r["status"]) for r in changes] == [("never_asked", "granted"), ("granted", "revoked")]
    assert all(r["date"].startswith(today.isoformat()) for r in changes)
    (expiry,) = [r for r in rows if r["section"] == "expiring"]
    assert expiry["contact_id"] == str(expiring.contact_id)
    assert expiry["date"] == (today + timedelta(days=7)).isoformat()
    for contact in contacts:
        assert contact.email not in body and contact.last_name not in body and contact.external_id not in body
    assert events(tenant, seq) == [
        (
            "consent.report_exported",
            {"format": "csv", "from": today.isoformat(), "to": today.isoformat(), "expiring_within": 14},
        )
    ]


def test_a_period_longer_than_allowed_is_refused():
    from consent.reports import ReportPeriodError

    today = timezone.localdate()
    with pytest.raises(ReportPeriodError):
        report_period(start=today - timedelta(days=5000), end=today)
    period = report_period(start=None, end=None, today=today)
    assert period.end == today and (period.end - period.start).days == 29
