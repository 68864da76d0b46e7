"""The demo organisations can send PHI: each has a signed, active BAA and two sub-processors."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from baa.demo import DEMO_SUBPROCESSORS
from baa.gate import require_active_baa
from baa.models import Agreement, AgreementStatus
from baa.selectors import subprocessor_list
from tenants.context import tenant_context
from tenants.demo import DEMO_ORGANISATIONS
from tenants.models import Organisation

pytestmark = pytest.mark.django_db


def test_seed_demo_signs_an_active_baa_and_lists_two_subprocessors_once(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("seed_demo")
    call_command("seed_demo")
    tenants = list(Organisation.objects.filter(slug__in=[slug for _, slug in DEMO_ORGANISATIONS]))
    assert len(tenants) == len(DEMO_ORGANISATIONS)
    for tenant in tenants:
        with tenant_context(tenant):
            assert require_active_baa(tenant=tenant).allowed
            agreements = list(Agreement.objects.for_tenant(tenant))
            assert [agreement.status for agreement in agreements] == [AgreementStatus.ACTIVE]
            assert agreements[0].signer_organisation == tenant.name and agreements[0].countersigned_at
            subprocessors = list(subprocessor_list(tenant=tenant))
            assert sorted(sp.name for sp in subprocessors) == sorted(data.name for data in DEMO_SUBPROCESSORS)
            assert all(sp.handles_phi and sp.baa_status == "signed" for sp in subprocessors)
