"""Quarantine: holding a message (encrypted, audited without PHI), releasing and rejecting it
(compare-and-set, audited), and who may do what."""

from __future__ import annotations

import dataclasses

import pytest
from django.db import connection

from audit.tests.helpers import events, head_seq
from encryption.dlp.findings import LEVEL_PHI, Classification, Finding
from encryption.models import QuarantinedMessage, QuarantineStatus
from encryption.protection import ESCROW, QUARANTINE, VERIFIED_TLS
from encryption.quarantine import QuarantineError, quarantine_hold, quarantine_reject, quarantine_release
from encryption.selectors import quarantine_get, quarantine_list
from encryption.tests.support import (
    HOLD_DECISION,
    SYNTHETIC_SUBJECT,
    SYNTHETIC_TEXT,
    make_held,
    synthetic_classification,
)
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db


def _raw_columns(item) -> tuple[bytes, bytes]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT subject, text FROM encryption_quarantinedmessage WHERE id = %s", [item.pk])
        subject, text = cursor.fetchone()
    return bytes(subject), bytes(text)


def test_a_held_message_is_stored_encrypted_with_offsets_only(world):
    contact = make_contact(world.a.tenant)
    seq = head_seq(world.a.tenant)
    item = make_held(world.a, contact=contact)
    with tenant_context(world.a.tenant):
        subject, text = _raw_columns(item)
        stored = quarantine_get(tenant=world.a.tenant, item_id=item.pk)
        assert stored.subject == SYNTHETIC_SUBJECT and stored.text == SYNTHETIC_TEXT
    assert b"Testy" not in subject and b"ZZ-000000" not in text and b"synthetic-itis" not in text
    assert stored.status == QuarantineStatus.HELD and stored.contact_id == contact.pk
    assert stored.level == LEVEL_PHI
    # Findings: type and offsets (and confidence), never the text found.
    assert all(set(f) == {"type", "start", "end", "confidence"} for f in stored.findings)
    assert "Testy" not in str(stored.findings) and "Testy" not in str(stored.reasons)
    assert [r["code"] for r in stored.reasons] == ["phi_verified_tls", "phi_in_marketing"]
    # Audited by type and reason code, never content.
    [(action, details)] = events(world.a.tenant, seq)
    assert action == "quarantine.held"
    assert details == {
        "level": "phi",
        "finding_types": ["CONDITION", "MRN", "NAME", "PHONE"],
        "reasons": ["phi_verified_tls", "phi_in_marketing"],
        "source": "campaign",
    }


def test_only_a_quarantine_decision_is_held(world):
    for action in (VERIFIED_TLS, ESCROW, "block"):
        with pytest.raises(ValueError, match="Only a quarantine decision"):
            make_held(world.a, decision=dataclasses.replace(HOLD_DECISION, action=action))
    with tenant_context(world.a.tenant):
        assert not QuarantinedMessage.objects.for_tenant(world.a.tenant).exists()


def test_findings_outside_the_text_are_refused(world):
    bad = Classification(level=LEVEL_PHI, findings=(Finding("NAME", 0, 500, 0.9, "test"),))
    with pytest.raises(ValueError, match="offsets"):
        make_held(world.a, classification=bad)


def test_another_tenants_contact_is_refused(world):
    with pytest.raises(ValueError, match="another organisation"):
        make_held(world.a, contact=make_contact(world.b.tenant))


def test_the_row_outlives_its_contact(world):
    contact = make_contact(world.a.tenant)
    item = make_held(world.a, contact=contact)
    with tenant_context(world.a.tenant):
        contact.delete()
        kept = quarantine_get(tenant=world.a.tenant, item_id=item.pk)
        assert kept.contact_id is None and kept.text == SYNTHETIC_TEXT


def test_release_is_recorded_and_happens_once(world):
    officer = world.a.users[Role.COMPLIANCE_OFFICER]
    item = make_held(world.a)
    seq = head_seq(world.a.tenant)
    with tenant_context(world.a.tenant):
        released = quarantine_release(tenant=world.a.tenant, actor=officer, item=item, note="Checked item")
        assert released.status == QuarantineStatus.RELEASED
        stored = quarantine_get(tenant=world.a.tenant, item_id=item.pk)
        assert (stored.status, stored.decided_by, stored.decision_note) == ("released", officer, "Checked item")
        assert stored.decided_at is not None
        # A second decision, either way, is refused and changes nothing.
        with pytest.raises(QuarantineError, match="already"):
            quarantine_reject(tenant=world.a.tenant, actor=officer, item=item)
        with pytest.raises(QuarantineError, match="already"):
            quarantine_release(tenant=world.a.tenant, actor=officer, item=stored)
        assert quarantine_get(tenant=world.a.tenant, item_id=item.pk).status == QuarantineStatus.RELEASED
    # The note is kept with the item, not in the audit log.
    assert events(world.a.tenant, seq) == [("quarantine.released", {})]


def test_reject_is_recorded(world):
    officer = world.a.users[Role.COMPLIANCE_OFFICER]
    item = make_held(world.a)
    seq = head_seq(world.a.tenant)
    with tenant_context(world.a.tenant):
        quarantine_reject(tenant=world.a.tenant, actor=officer, item=item)
        assert quarantine_get(tenant=world.a.tenant, item_id=item.pk).status == QuarantineStatus.REJECTED
    assert events(world.a.tenant, seq) == [("quarantine.rejected", {})]


def test_a_long_note_is_refused(world):
    item = make_held(world.a)
    with tenant_context(world.a.tenant), pytest.raises(QuarantineError, match="at most"):
        quarantine_release(
            tenant=world.a.tenant, actor=world.a.users[Role.COMPLIANCE_OFFICER], item=item, note="x" * 1001
        )


def test_selectors_stay_in_their_tenant(world):
    from django.http import Http404

    item = make_held(world.a)
    with tenant_context(world.b.tenant):
        with pytest.raises(Http404):
            quarantine_get(tenant=world.b.tenant, item_id=item.pk)
        assert list(quarantine_list(tenant=world.b.tenant)) == []
    with tenant_context(world.a.tenant):
        assert [i.pk for i in quarantine_list(tenant=world.a.tenant)] == [item.pk]
        assert list(quarantine_list(tenant=world.a.tenant, status=QuarantineStatus.RELEASED)) == []


def test_hold_accepts_a_decision_from_the_policy(world):
    """The pipeline's path: decide, and hold when the answer is quarantine."""
    from encryption.protection import DEFAULT_SETTINGS, protection_decide
    from encryption.tests.support import MARKETING, VERIFIED

    classification = synthetic_classification()
    decision = protection_decide(
        policy=DEFAULT_SETTINGS,
        classification=classification,
        purpose=MARKETING,
        posture=VERIFIED,
        accepts_unencrypted_phi=False,
    )
    assert decision.action == QUARANTINE
    with tenant_context(world.a.tenant):
        item = quarantine_hold(
            tenant=world.a.tenant,
            contact=None,
            subject=SYNTHETIC_SUBJECT,
            text=SYNTHETIC_TEXT,
            html=None,
            classification=classification,
            decision=decision,
            source_ref="msg-1",
        )
        assert item.html is None and item.source_ref == "msg-1"
