"""Consent columns in contact imports: cells validated with every other cell, consent written
with its history in the import's transaction, a recipient's own revocation never overturned."""

from __future__ import annotations

import pytest

from audit.tests.helpers import events, head_seq
from consent.models import ConsentEvent, ConsentSource, ConsentStatus, ContactConsent
from consent.services import Evidence, consent_set
from consent.tests.support import STAFF
from segments.models import Contact, ImportStatus
from segments.tests.test_imports import _run
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db

MAPPING = {"Email": "email", "Reminders": "consent.appointment_reminders", "Marketing": "consent.marketing"}


def _statuses(tenant):
    with tenant_context(tenant):
        emails = {contact.pk: contact.email for contact in Contact.objects.all()}
        return {(emails[row.contact_id], row.purpose): (row.status, row.source) for row in ContactConsent.objects.all()}


def test_import_sets_consent_with_history_and_one_audit_summary(world):
    tenant = world.a.tenant
    known = make_contact(tenant, email="known.synthetic@example.com")
    with tenant_context(tenant):
        consent_set(
            tenant=tenant,
            actor=STAFF,
            contact=known,
            purpose="marketing",
            status=ConsentStatus.GRANTED,
            source=ConsentSource.STAFF,
        )
    seq = head_seq(tenant)
    text = "Email,Reminders,Marketing\nnew.synthetic@example.com,yes,\nknown.synthetic@example.com,granted,no\n"
    contact_import = _run(world, text, mapping=MAPPING)
    assert contact_import.status == ImportStatus.DONE
    assert _statuses(tenant) == {
        ("new.synthetic@example.com", "appointment_reminders"): ("granted", "import"),
        ("known.synthetic@example.com", "appointment_reminders"): ("granted", "import"),
        ("known.synthetic@example.com", "marketing"): ("revoked", "import"),
    }
    with tenant_context(tenant):
        imported = ConsentEvent.objects.filter(source=ConsentSource.IMPORT).order_by("purpose", "to_status")
        assert {(e.purpose, e.from_status, e.to_status) for e in imported} == {
            ("appointment_reminders", "never_asked", "granted"),
            ("marketing", "granted", "revoked"),
        }
        assert all(e.form_version == f"import:{contact_import.pk}" for e in imported)
        assert {e.recorded_by_label for e in imported} == {world.a.users[Role.MARKETER].email}
    recorded = events(tenant, seq)
    assert [action for action, _ in recorded][-2:] == ["contact.import_finished", "consent.imported"]
    assert recorded[-1][1] == {
        "purposes": ["appointment_reminders", "marketing"],
        "granted": 2,
        "revoked": 1,
        "kept_revoked": 0,
    }


def test_import_never_regrants_what_the_recipient_revoked(world):
    tenant = world.a.tenant
    contact = make_contact(tenant, email="revoked.synthetic@example.com")
    with tenant_context(tenant):
        for status, source in (
            (ConsentStatus.GRANTED, ConsentSource.FORM),
            (ConsentStatus.REVOKED, ConsentSource.RECIPIENT),
        ):
            consent_set(
                tenant=tenant,
                actor=STAFF,
                contact=contact,
                purpose="marketing",
                status=status,
                source=source,
                evidence=Evidence(),
            )
    _run(
        world,
        "Email,Marketing\nrevoked.synthetic@example.com,granted\n",
        mapping={"Email": "email", "Marketing": "consent.marketing"},
    )
    assert _statuses(tenant)[("revoked.synthetic@example.com", "marketing")] == ("revoked", "recipient")


def test_bad_consent_cells_fail_the_import_and_write_nothing(world):
    tenant = world.a.tenant
    text = "Email,Reminders,Marketing\nfirst.synthetic@example.com,yes,no\nsecond.synthetic@example.com,perhaps,\n"
    contact_import = _run(world, text, mapping=MAPPING)
    assert contact_import.status == ImportStatus.INVALID
    assert [(e["row"], e["column"]) for e in contact_import.errors] == [(3, "Reminders")]
    assert "granted or revoked" in contact_import.errors[0]["message"]
    assert _statuses(tenant) == {}


def test_unknown_purpose_column_is_refused(world):
    from segments.imports import ImportInputError

    with pytest.raises(ImportInputError, match="not a consent purpose"):
        _run(world, "Email,X\nx.synthetic@example.com,yes\n", mapping={"Email": "email", "X": "consent.nope"})
