"""The gate: PHI needs an agreement in force (judged by its dates), other mail never waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from baa.gate import BaaRequired, GateCode, phi_sending_decision, require_active_baa
from baa.models import AgreementStatus
from baa.tests.support import make_active, make_draft, reload_agreement, terminate
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db


def _decide(fixture, **kwargs):
    with tenant_context(fixture.tenant):
        return phi_sending_decision(tenant=fixture.tenant, **kwargs)


def _require(fixture, **kwargs):
    with tenant_context(fixture.tenant):
        return require_active_baa(tenant=fixture.tenant, **kwargs)


def test_without_an_agreement_phi_is_refused_and_other_mail_allowed(world):
    refused = _decide(world.a, phi=True)
    assert not refused.allowed and refused.code == GateCode.NO_AGREEMENT
    assert refused.sign_url == reverse("baa:status")
    assert "admin must sign" in refused.reason
    with pytest.raises(BaaRequired) as raised:
        _require(world.a)
    assert raised.value.decision == refused and str(raised.value) == refused.reason

    allowed = _decide(world.a, phi=False)
    assert allowed.allowed and allowed.code == GateCode.NOT_PHI
    assert _require(world.a, phi=False).allowed


def test_an_unsigned_draft_does_not_open_the_gate(world):
    draft = make_draft(world.a)
    decision = _decide(world.a)
    assert (decision.allowed, decision.code, decision.agreement_id) == (False, GateCode.UNSIGNED, str(draft.pk))
    with pytest.raises(BaaRequired):
        _require(world.a)


def test_an_active_agreement_allows_phi_for_its_own_tenant_only(world):
    active = make_active(world.a)
    decision = _require(world.a)
    assert (decision.allowed, decision.code, decision.agreement_id) == (True, GateCode.ACTIVE, str(active.pk))
    assert decision.expiry_date == active.expiry_date
    assert not _decide(world.b).allowed
    with pytest.raises(BaaRequired):
        _require(world.b)


def test_a_terminated_agreement_refuses_phi_at_once(world):
    active = make_active(world.a)
    terminate(world.a, active)
    decision = _decide(world.a)
    assert (decision.allowed, decision.code, decision.agreement_id) == (False, GateCode.TERMINATED, str(active.pk))
    assert "terminated" in decision.reason
    with pytest.raises(BaaRequired):
        _require(world.a)
    assert _decide(world.a, phi=False).allowed


def test_expiry_is_honoured_by_date_before_any_task_runs(world):
    signed_on = datetime(2026, 3, 10, 12, tzinfo=UTC)
    active = make_active(world.a, now=signed_on)
    last_day = active.expiry_date - timedelta(days=1)
    assert _decide(world.a, at=datetime.combine(last_day, datetime.max.time(), tzinfo=UTC)).allowed
    on_expiry = datetime.combine(active.expiry_date, datetime.min.time(), tzinfo=UTC)
    decision = _decide(world.a, at=on_expiry)
    assert (decision.allowed, decision.code) == (False, GateCode.EXPIRED)
    assert active.expiry_date.isoformat() in decision.reason
    with pytest.raises(BaaRequired):
        _require(world.a, at=on_expiry)
    # The row still says active: no task has run; the gate refused by date alone.
    assert reload_agreement(world.a, active.pk).status == AgreementStatus.ACTIVE
    assert _decide(world.a, at=on_expiry, phi=False).allowed


def test_an_agreement_marked_expired_keeps_refusing(world):
    from baa.tasks import expire_agreements_task

    make_active(world.a, now=timezone.now() - timedelta(days=settings.BAA_TERM_DAYS + 5))
    expire_agreements_task()
    decision = _decide(world.a)
    assert (decision.allowed, decision.code) == (False, GateCode.EXPIRED)


def test_the_gate_does_not_work_outside_a_tenant_context(world):
    from tenants.context import TenantContextMissing

    with pytest.raises(TenantContextMissing):
        phi_sending_decision(tenant=world.a.tenant)
