"""Agreements through their states, the published text, the expiry task and the sub-processor
register, with the audit events each change writes, in order."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import actor_for_user
from audit.tests.helpers import events, head_seq
from baa.models import (
    Agreement,
    AgreementStatus,
    BaaDocumentVersion,
    BaaStatus,
    ImmutableDocument,
    SubProcessor,
    text_sha256,
)
from baa.selectors import document_current
from baa.services import (
    SUPERSEDED_REASON,
    BaaError,
    SubProcessorInput,
    agreement_countersign,
    agreement_expire_due,
    agreement_sign,
    subprocessor_add,
    subprocessor_remove,
    subprocessor_update,
)
from baa.tasks import expire_agreements_task
from baa.tests.support import SIGNER, make_active, make_draft, make_subprocessor, reload_agreement, terminate
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db

# The elements 45 CFR 164.504(e) requires of a business associate contract.
REQUIRED_SECTIONS = [
    "PERMITTED USES AND DISCLOSURES",
    "SAFEGUARDS",
    "REPORTING",
    "Breach of Unsecured PHI",
    "SUBCONTRACTORS",
    "ACCESS, AMENDMENT AND ACCOUNTING",
    "AVAILABILITY OF BOOKS AND RECORDS",
    "TERM AND TERMINATION",
    "Return or destruction of PHI",
]


def _sign(fixture, agreement, **overrides):
    admin = fixture.users[Role.ADMIN]
    values = {**SIGNER, "document_sha256": agreement.document.sha256, "ip": "192.0.2.10", **overrides}
    with tenant_context(fixture.tenant):
        return agreement_sign(
            tenant=fixture.tenant, actor=actor_for_user(admin), agreement=agreement, signed_by=admin, **values
        )


# --- The published text ---------------------------------------------------------------------------


def test_version_1_is_published_with_the_sha256_of_its_exact_text():
    document = document_current()
    assert document is not None and document.version == 1
    assert document.sha256 == text_sha256(document.text)
    for section in REQUIRED_SECTIONS:
        assert section in document.text, section


def test_a_published_version_cannot_be_changed_or_deleted():
    document = document_current()
    document.text += " (edited)"
    with pytest.raises(ImmutableDocument):
        document.save()
    with pytest.raises(ImmutableDocument):
        document.delete()
    forged = BaaDocumentVersion(version=99, title="Forged", text="Other text", sha256="0" * 64)
    with pytest.raises(ImmutableDocument):
        forged.save()  # a hash that is not the text's


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE baa_baadocumentversion SET text = 'edited'",
        "DELETE FROM baa_baadocumentversion",
        "INSERT INTO baa_baadocumentversion (id, version, title, text, sha256, published_at)"
        " VALUES (gen_random_uuid(), 2, 't', 'x', 'y', now())",
    ],
)
def test_the_application_role_can_only_read_published_versions(statement):
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert document_current().sha256 == text_sha256(document_current().text)


# --- Draft → signed → active ---------------------------------------------------------------------


def test_signing_moves_draft_to_signed_to_active_with_events_in_order(world, settings):
    settings.BAA_COUNTERSIGNER_NAME = "Robin Countersigner"
    settings.BAA_COUNTERSIGNER_TITLE = "Privacy Officer"
    seq = head_seq(world.a.tenant)
    draft = make_draft(world.a)
    assert draft.status == AgreementStatus.DRAFT and draft.document.version == 1
    now = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
    active = _sign(world.a, draft, now=now)

    document = document_current()
    assert active.status == AgreementStatus.ACTIVE
    assert (active.signer_name, active.signer_title, active.signer_organisation) == (
        "Avery Signer",
        "Practice administrator",
        "Org A",
    )
    assert active.signed_by == world.a.users[Role.ADMIN]
    assert active.signed_at == now and active.signer_ip == "192.0.2.10"
    assert active.signed_sha256 == document.sha256
    assert (active.countersigner_name, active.countersigner_title) == ("Robin Countersigner", "Privacy Officer")
    assert active.countersigned_at == now
    assert active.effective_date == date(2026, 12, 1)
    assert active.expiry_date == date(2026, 12, 1) + timedelta(days=settings.BAA_TERM_DAYS)
    assert events(world.a.tenant, seq) == [
        ("baa.drafted", {"document_version": 1, "document_sha256": document.sha256}),
        ("baa.signed", {"document_version": 1, "document_sha256": document.sha256}),
        (
            "baa.activated",
            {"document_version": 1, "effective_date": "2026-12-01", "expiry_date": active.expiry_date.isoformat()},
        ),
    ]


def test_the_countersignature_is_recorded_as_sealpost_not_the_signer(world):
    seq = head_seq(world.a.tenant)
    make_active(world.a)
    with tenant_context(world.a.tenant):
        rows = list(
            AuditEvent.objects.filter(chain_id=world.a.tenant.pk, seq__gt=seq)
            .order_by("seq")
            .values_list("action", "actor_type", "actor_id", "actor_label")
        )
    admin = world.a.users[Role.ADMIN]
    assert rows == [
        ("baa.drafted", "user", str(admin.pk), admin.email),
        ("baa.signed", "user", str(admin.pk), admin.email),
        ("baa.activated", "system", "", "baa_countersign"),
    ]


def test_only_a_signed_agreement_can_be_countersigned(world):
    draft = make_draft(world.a)
    seq = head_seq(world.a.tenant)
    with tenant_context(world.a.tenant), pytest.raises(BaaError):
        agreement_countersign(tenant=world.a.tenant, agreement=draft)
    assert reload_agreement(world.a, draft.pk).status == AgreementStatus.DRAFT
    assert events(world.a.tenant, seq) == []


def test_an_agreement_cannot_be_signed_twice(world):
    active = make_active(world.a)
    seq = head_seq(world.a.tenant)
    with pytest.raises(BaaError, match="already signed"):
        _sign(world.a, active, signer_name="Someone Else")
    agreement = reload_agreement(world.a, active.pk)
    assert agreement.status == AgreementStatus.ACTIVE and agreement.signer_name == "Avery Signer"
    assert events(world.a.tenant, seq) == []


def test_a_text_other_than_the_one_shown_is_not_signed(world):
    draft = make_draft(world.a)
    seq = head_seq(world.a.tenant)
    with pytest.raises(BaaError, match="text changed"):
        _sign(world.a, draft, document_sha256="f" * 64)
    assert reload_agreement(world.a, draft.pk).status == AgreementStatus.DRAFT
    assert events(world.a.tenant, seq) == []


@pytest.mark.parametrize("field", ["signer_name", "signer_title", "signer_organisation"])
def test_each_signature_field_is_required(world, field):
    draft = make_draft(world.a)
    with pytest.raises(BaaError) as raised:
        _sign(world.a, draft, **{field: "   "})
    assert raised.value.field == field
    assert reload_agreement(world.a, draft.pk).status == AgreementStatus.DRAFT


def test_preparing_again_returns_the_same_draft(world):
    seq = head_seq(world.a.tenant)
    first, second = make_draft(world.a), make_draft(world.a)
    assert first.pk == second.pk
    assert [action for action, _ in events(world.a.tenant, seq)] == ["baa.drafted"]


def test_the_database_allows_one_active_and_one_pending_agreement_per_tenant(world):
    active = make_active(world.a)
    make_draft(world.a)
    with tenant_context(world.a.tenant):
        for status in (AgreementStatus.ACTIVE, AgreementStatus.DRAFT):
            duplicate = Agreement(tenant=world.a.tenant, document=active.document, status=status)
            for field in ("signed_at", "countersigned_at"):
                setattr(duplicate, field, timezone.now())
            duplicate.signed_sha256 = active.signed_sha256
            duplicate.effective_date, duplicate.expiry_date = active.effective_date, active.expiry_date
            with pytest.raises(IntegrityError), transaction.atomic():
                duplicate.save()
    # Another tenant is not affected by A's agreement.
    assert make_active(world.b).status == AgreementStatus.ACTIVE


def test_a_newer_agreement_supersedes_the_active_one(world):
    first = make_active(world.a)
    seq = head_seq(world.a.tenant)
    second = _sign(world.a, make_draft(world.a))
    old = reload_agreement(world.a, first.pk)
    assert second.status == AgreementStatus.ACTIVE
    assert old.status == AgreementStatus.TERMINATED and old.termination_reason == SUPERSEDED_REASON
    assert old.terminated_by is None and old.termination_date is not None
    assert [action for action, _ in events(world.a.tenant, seq)] == [
        "baa.drafted",
        "baa.signed",
        "baa.terminated",
        "baa.activated",
    ]
    assert events(world.a.tenant, seq)[2][1] == {
        "document_version": 1,
        "superseded": True,
        "superseded_by": str(second.pk),
    }


# --- Termination and expiry -----------------------------------------------------------------------


def test_an_admin_terminates_with_a_reason_and_it_is_audited_without_it(world):
    active = make_active(world.a)
    seq = head_seq(world.a.tenant)
    terminated = terminate(world.a, active, reason="Contract ended with the clinic's network.")
    assert terminated.status == AgreementStatus.TERMINATED
    assert terminated.termination_reason == "Contract ended with the clinic's network."
    assert terminated.terminated_by == world.a.users[Role.ADMIN]
    assert terminated.termination_date == timezone.now().astimezone(UTC).date()
    assert events(world.a.tenant, seq) == [("baa.terminated", {"document_version": 1, "superseded": False})]
    with pytest.raises(BaaError, match="Only an active"):
        terminate(world.a, terminated)


def test_termination_needs_a_reason(world):
    active = make_active(world.a)
    with pytest.raises(BaaError) as raised:
        terminate(world.a, active, reason="  ")
    assert raised.value.field == "reason"
    assert reload_agreement(world.a, active.pk).status == AgreementStatus.ACTIVE


def test_expire_due_marks_an_agreement_past_its_expiry_date_once(world):
    long_ago = timezone.now() - timedelta(days=settings.BAA_TERM_DAYS + 2)
    active = make_active(world.a, now=long_ago)
    current = make_active(world.b)
    seq = head_seq(world.a.tenant)
    with tenant_context(world.a.tenant):
        assert agreement_expire_due(tenant=world.a.tenant) == 1
        assert agreement_expire_due(tenant=world.a.tenant) == 0
    expired = reload_agreement(world.a, active.pk)
    assert expired.status == AgreementStatus.EXPIRED and expired.expired_at is not None
    assert events(world.a.tenant, seq) == [
        ("baa.expired", {"document_version": 1, "expiry_date": expired.expiry_date.isoformat()}),
    ]
    with tenant_context(world.b.tenant):
        assert agreement_expire_due(tenant=world.b.tenant) == 0
    assert reload_agreement(world.b, current.pk).status == AgreementStatus.ACTIVE


def test_the_beat_task_expires_due_agreements_of_every_tenant(world):
    long_ago = timezone.now() - timedelta(days=settings.BAA_TERM_DAYS + 1)
    first, second = make_active(world.a, now=long_ago), make_active(world.b, now=long_ago)
    assert settings.CELERY_BEAT_SCHEDULE["baa-expire"]["task"] == expire_agreements_task.name
    assert expire_agreements_task() == 2
    assert reload_agreement(world.a, first.pk).status == AgreementStatus.EXPIRED
    assert reload_agreement(world.b, second.pk).status == AgreementStatus.EXPIRED
    assert expire_agreements_task() == 0


# --- Sub-processors -------------------------------------------------------------------------------


def _input(**overrides):
    values = {
        "name": "Amazon SES",
        "purpose": "Email delivery",
        "handles_phi": True,
        "baa_status": BaaStatus.SIGNED,
        "baa_date": date(2026, 1, 15),
    }
    values.update(overrides)
    return SubProcessorInput(**values)


def test_subprocessor_add_update_remove_are_audited_in_order(world):
    admin = actor_for_user(world.a.users[Role.ADMIN])
    seq = head_seq(world.a.tenant)
    added = make_subprocessor(world.a)
    with tenant_context(world.a.tenant):
        subprocessor_update(tenant=world.a.tenant, actor=admin, subprocessor=added, data=_input())  # no change
        updated = subprocessor_update(
            tenant=world.a.tenant,
            actor=admin,
            subprocessor=added,
            data=_input(purpose="Email delivery and bounces", baa_status=BaaStatus.PENDING, baa_date=date(2026, 2, 1)),
        )
        assert (updated.purpose, updated.baa_status) == ("Email delivery and bounces", "pending")
        subprocessor_remove(tenant=world.a.tenant, actor=admin, subprocessor=updated)
        assert not SubProcessor.objects.for_tenant(world.a.tenant).exists()
    assert events(world.a.tenant, seq) == [
        ("subprocessor.added", {"handles_phi": True, "baa_status": "signed"}),
        (
            "subprocessor.updated",
            {"fields": ["purpose", "baa_status", "baa_date"], "handles_phi": True, "baa_status": "pending"},
        ),
        ("subprocessor.removed", {}),
    ]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"handles_phi": True, "baa_status": BaaStatus.NOT_REQUIRED}, "baa_status"),
        ({"baa_status": BaaStatus.SIGNED, "baa_date": None}, "baa_date"),
        ({"name": "  "}, "name"),
        ({"purpose": ""}, "purpose"),
        ({"baa_status": "maybe"}, "baa_status"),
        ({"name": "amazon ses"}, "name"),  # the same name as the existing one, another case
    ],
)
def test_invalid_subprocessors_are_refused_and_change_nothing(world, overrides, field):
    make_subprocessor(world.a)
    seq = head_seq(world.a.tenant)
    with tenant_context(world.a.tenant), pytest.raises(BaaError) as raised:
        subprocessor_add(
            tenant=world.a.tenant, actor=actor_for_user(world.a.users[Role.ADMIN]), data=_input(**overrides)
        )
    assert raised.value.field == field
    with tenant_context(world.a.tenant):
        assert SubProcessor.objects.for_tenant(world.a.tenant).count() == 1
    assert events(world.a.tenant, seq) == []


def test_no_person_names_or_free_text_reach_the_audit_log(world):
    seq = head_seq(world.a.tenant)
    active = make_active(world.a)
    terminate(world.a, active, reason="Confidential reason about Jane Patient")
    make_subprocessor(world.a, name="Hosting Company Inc")
    with tenant_context(world.a.tenant):
        stored = " ".join(
            json.dumps(details) + label
            for details, label in AuditEvent.objects.filter(chain_id=world.a.tenant.pk, seq__gt=seq).values_list(
                "details", "actor_label"
            )
        )
    for text in ("Avery Signer", "Jane Patient", "Hosting Company", "Practice administrator", "192.0.2.10"):
        assert text not in stored
