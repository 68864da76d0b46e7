"""Each action writes exactly the expected audit events, in order."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import GLOBAL_CHAIN, AuditEvent
from audit.services import global_chain_access
from audit.tests.helpers import actions, head_seq
from conftest import PASSWORD
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact, make_token

pytestmark = pytest.mark.django_db


def _global_actions(since_id: int = 0) -> list[str]:
    from django.db import transaction

    with transaction.atomic(), global_chain_access(GLOBAL_CHAIN):
        return list(
            AuditEvent.objects.filter(chain_id=GLOBAL_CHAIN, id__gt=since_id)
            .order_by("seq")
            .values_list("action", flat=True)
        )


def _last_global_id() -> int:
    from django.db import transaction

    with transaction.atomic(), global_chain_access(GLOBAL_CHAIN):
        return (
            AuditEvent.objects.filter(chain_id=GLOBAL_CHAIN).order_by("-id").values_list("id", flat=True).first() or 0
        )


def test_sign_in_and_out_are_recorded_in_each_organisation(world, client):
    user = world.a.users[Role.MARKETER]
    with tenant_context(world.b.tenant):
        from tenants.services import membership_create

        membership_create(tenant=world.b.tenant, actor=None, user=user, role=Role.MARKETER)
    a_start, b_start = head_seq(world.a.tenant), head_seq(world.b.tenant)
    client.post(reverse("authn:login"), {"username": user.email, "password": PASSWORD})
    client.post(reverse("authn:logout"))
    # The organisation the session opens in records the conditional-access decision first.
    assert actions(world.a.tenant, a_start) == ["auth.access_decision", "auth.login_succeeded", "auth.logout"]
    assert actions(world.b.tenant, b_start) == ["auth.login_succeeded", "auth.logout"]


def test_failed_sign_ins_are_recorded_without_the_address_typed(world, client):
    start_a, start_global = head_seq(world.a.tenant), _last_global_id()
    client.post(reverse("authn:login"), {"username": world.a.users[Role.ADMIN].email, "password": "wrong-password-1"})
    client.post(reverse("authn:login"), {"username": "nobody.synthetic@example.com", "password": "wrong-password-1"})
    assert actions(world.a.tenant, start_a) == ["auth.login_failed"]
    assert _global_actions(start_global) == ["auth.login_failed"]
    from django.db import transaction

    with transaction.atomic(), global_chain_access(GLOBAL_CHAIN):
        stored = " ".join(
            str(value)
            for value in AuditEvent.objects.filter(chain_id=GLOBAL_CHAIN).values_list("actor_label", "details")
        )
    assert "nobody.synthetic@example.com" not in stored


def test_switching_organisation_is_recorded_in_the_new_one(world, login):
    user = world.a.users[Role.ADMIN]
    with tenant_context(world.b.tenant):
        from tenants.services import membership_create

        membership_create(tenant=world.b.tenant, actor=None, user=user, role=Role.ADMIN)
    client = login(user, world.a.tenant)  # signing in writes auth.login_succeeded in both
    start = head_seq(world.b.tenant)
    client.post(reverse("tenants:switch"), {"organisation": world.b.tenant.slug})
    assert actions(world.b.tenant, start) == ["auth.organisation_switched"]


def test_role_changes_from_the_members_page(world, login):
    marketer = world.a.memberships[Role.MARKETER]
    client = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True)
    start = head_seq(world.a.tenant)
    client.post(
        reverse("tenants:member_edit", kwargs={"membership_id": marketer.pk}), {"role": Role.ADMIN, "is_active": ""}
    )
    assert actions(world.a.tenant, start) == ["membership.role_changed", "membership.deactivated"]


def test_api_token_lifecycle_and_use(world, client, login):
    admin = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True)
    start = head_seq(world.a.tenant)
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN])
    client.get(reverse("api:segments_api:contact_list"), HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    admin.post(reverse("authn:api_application_revoke", kwargs={"application_id": issued.application.pk}))
    start_global = _last_global_id()
    client.get(reverse("api:segments_api:contact_list"), HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert actions(world.a.tenant, start) == [
        "api_application.created",
        "api_token.created",
        "api_token.used",
        "api_application.revoked",
    ]
    assert _global_actions(start_global) == ["api_token.rejected"]
    with tenant_context(world.a.tenant):
        used = AuditEvent.objects.get(chain_id=world.a.tenant.pk, action="api_token.used")
    assert used.actor_type == "api_token" and used.actor_id == str(issued.token.pk)
    assert '"route":"api:segments_api:contact_list"' in used.details and '"status":200' in used.details


def test_showing_contacts_is_recorded_as_a_phi_view(world, login, client):
    contact = make_contact(world.a.tenant)
    web = login(world.a.users[Role.MARKETER], world.a.tenant)
    start = head_seq(world.a.tenant)
    web.get(reverse("segments:contact_list"))
    web.get(reverse("segments:contact_detail", kwargs={"contact_id": contact.pk}))
    assert actions(world.a.tenant, start) == ["contact.list_viewed", "contact.phi_viewed"]
    with tenant_context(world.a.tenant):
        viewed = AuditEvent.objects.filter(chain_id=world.a.tenant.pk, action="contact.phi_viewed").get()
    assert (viewed.target_type, viewed.target_id) == ("contact", str(contact.pk))


def test_viewing_and_exporting_the_audit_log_are_recorded(world, login):
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant, step_up=True)
    start = head_seq(world.a.tenant)
    client.get(reverse("audit:event_list"), {"action": "membership"})
    client.get(reverse("audit:export_csv"))
    client.get(reverse("audit:export_json"))
    assert actions(world.a.tenant, start) == ["audit.viewed", "audit.exported", "audit.exported"]
    with tenant_context(world.a.tenant):
        viewed = AuditEvent.objects.get(chain_id=world.a.tenant.pk, seq=start + 1)
    assert '"filters":["action"]' in viewed.details
