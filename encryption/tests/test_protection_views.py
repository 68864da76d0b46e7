"""The protection policy pages: admins and compliance officers read the policy, admins change it
with a fresh passkey step-up (audited with the settings changed), marketers see neither."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.tests.helpers import events, head_seq
from authn.tests.support import give_step_up
from encryption.models import ProtectionPolicy
from encryption.selectors import protection_policy_for
from encryption.services import protection_policy_update
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db

POLICY = reverse("encryption:protection_policy")
EDIT = reverse("encryption:protection_policy_edit")

DEFAULT_FORM = {
    "honour_unencrypted_preference": "on",
    "dense_threshold": "6",
    "phi_in_marketing": "quarantine",
    "phi_outside_phi_purposes": "quarantine",
    "rules": "",
}


def _policy(fixture) -> ProtectionPolicy:
    with tenant_context(fixture.tenant):
        return protection_policy_for(tenant=fixture.tenant)


def test_the_defaults_apply_until_the_policy_is_changed(world):
    policy = _policy(world.a)
    assert policy.pk is not None and policy._state.adding  # unsaved: nothing written on read
    settings = policy.settings()
    assert settings.honour_unencrypted_preference and not settings.escrow_all_phi
    assert settings.dense_threshold == 6 and settings.phi_in_marketing == "quarantine" and settings.rules == ()


@pytest.mark.parametrize(("role", "status"), [(Role.ADMIN, 200), (Role.COMPLIANCE_OFFICER, 200), (Role.MARKETER, 403)])
def test_who_reads_the_policy(world, login, role, status):
    response = login(world.a.users[role], world.a.tenant).get(POLICY)
    assert response.status_code == status
    if status == 200:
        body = response.content.decode()
        assert "Built-in rules" in body and "The defaults apply" in body
        assert ("Change the policy" in body) == (role == Role.ADMIN)


@pytest.mark.parametrize("role", [Role.COMPLIANCE_OFFICER, Role.MARKETER])
def test_only_admins_change_the_policy(world, login, role):
    client = login(world.a.users[role], world.a.tenant, step_up=True)
    assert client.get(EDIT).status_code == 403
    assert client.post(EDIT, {**DEFAULT_FORM, "escrow_all_phi": "on"}).status_code == 403
    assert not _policy(world.a).escrow_all_phi


def test_saving_needs_a_fresh_step_up_and_is_audited(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    page = client.get(EDIT)
    assert page.status_code == 200 and "needs a fresh confirmation" in page.content.decode()
    seq = head_seq(world.a.tenant)
    form = {
        **DEFAULT_FORM,
        "escrow_all_phi": "on",
        "dense_threshold": "5",
        "rules": "finding mrn escrow\n\n# a comment\npurpose billing verified_tls\n",
    }
    refused = client.post(EDIT, form)
    assert refused.status_code == 302 and refused["Location"].startswith(reverse("authn:step_up"))
    assert not _policy(world.a).escrow_all_phi and events(world.a.tenant, seq) == []

    give_step_up(client)
    saved = client.post(EDIT, form)
    assert saved.status_code == 302 and saved["Location"] == POLICY
    policy = _policy(world.a)
    assert policy.escrow_all_phi and policy.dense_threshold == 5
    assert policy.rules == [
        {"kind": "finding", "value": "MRN", "action": "escrow"},
        {"kind": "purpose", "value": "billing", "action": "verified_tls"},
    ]
    assert policy.updated_by == world.a.users[Role.ADMIN]
    assert events(world.a.tenant, seq) == [
        (
            "protection.policy_changed",
            {
                "changed": ["escrow_all_phi", "dense_threshold", "rules"],
                "escrow_all_phi": True,
                "dense_threshold": 5,
                "rules": ["finding:MRN:escrow", "purpose:billing:verified_tls"],
            },
        )
    ]
    body = client.get(POLICY).content.decode()
    assert "sends all PHI through escrow" in body and "<code>MRN</code>" in body and "Last changed" in body

    # Saving the same values again writes nothing.
    seq = head_seq(world.a.tenant)
    again = client.post(EDIT, form, follow=True)
    assert "Nothing changed" in again.content.decode()
    assert events(world.a.tenant, seq) == []


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("finding MRN", "three words"),
        ("finding MOOD escrow", "not a finding type"),
        ("finding MRN standard", "requires one of"),
        ("purpose no-such-purpose escrow", "No purpose has the key"),
        ("finding MRN escrow\nfinding mrn block", "repeats"),
    ],
)
def test_bad_rules_are_refused_and_nothing_is_saved(world, login, rules, message):
    client = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True)
    seq = head_seq(world.a.tenant)
    response = client.post(EDIT, {**DEFAULT_FORM, "escrow_all_phi": "on", "rules": rules})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not _policy(world.a).escrow_all_phi and events(world.a.tenant, seq) == []


@pytest.mark.parametrize(("threshold", "ok"), [("1", False), ("2", True), ("19", True), ("20", False), ("x", False)])
def test_the_dense_threshold_is_bounded(world, login, threshold, ok):
    client = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True)
    response = client.post(EDIT, {**DEFAULT_FORM, "dense_threshold": threshold})
    assert response.status_code == (302 if ok else 400)


def test_a_purpose_rule_may_name_the_organisations_own_purpose(world):
    from consent.services import purpose_create
    from consent.tests.support import STAFF

    with tenant_context(world.a.tenant):
        purpose_create(tenant=world.a.tenant, actor=STAFF, key="newsletter", name="Newsletter", is_marketing=False)
        policy = protection_policy_update(
            tenant=world.a.tenant,
            actor=world.a.users[Role.ADMIN],
            rules=[{"kind": "purpose", "value": "newsletter", "action": "block"}],
        )
    assert policy.settings().rules[0].label == "purpose:newsletter:block"
    # Tenant B has no such purpose.
    from django.core.exceptions import ValidationError

    with tenant_context(world.b.tenant), pytest.raises(ValidationError, match="newsletter"):
        protection_policy_update(
            tenant=world.b.tenant,
            actor=world.b.users[Role.ADMIN],
            rules=[{"kind": "purpose", "value": "newsletter", "action": "block"}],
        )


def test_the_service_refuses_bad_values_by_name(world):
    from django.core.exceptions import ValidationError

    with tenant_context(world.a.tenant), pytest.raises(ValidationError) as caught:
        protection_policy_update(
            tenant=world.a.tenant,
            actor=world.a.users[Role.ADMIN],
            escrow_all_phi="yes",
            dense_threshold=True,
            phi_in_marketing="shrug",
        )
    assert set(caught.value.message_dict) == {"escrow_all_phi", "dense_threshold", "phi_in_marketing"}
    with tenant_context(world.a.tenant), pytest.raises(ValidationError, match="Unknown settings"):
        protection_policy_update(tenant=world.a.tenant, actor=world.a.users[Role.ADMIN], send_plaintext=True)


def test_each_tenant_has_its_own_policy(world):
    with tenant_context(world.a.tenant):
        protection_policy_update(tenant=world.a.tenant, actor=world.a.users[Role.ADMIN], require_tls13=True)
    assert _policy(world.a).require_tls13
    assert not _policy(world.b).require_tls13


def test_navigation_shows_the_pages_by_role(world, login):
    for role, policy_link, quarantine_link in [
        (Role.ADMIN, True, False),
        (Role.COMPLIANCE_OFFICER, True, True),
        (Role.MARKETER, False, False),
    ]:
        body = login(world.a.users[role], world.a.tenant).get(reverse("tenants:dashboard")).content.decode()
        assert (f'href="{POLICY}"' in body) == policy_link, role
        assert (f'href="{reverse("encryption:quarantine_list")}"' in body) == quarantine_link, role
