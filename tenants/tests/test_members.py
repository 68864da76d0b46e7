from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from tenants.context import TenantContextMissing, TenantMismatch, tenant_context
from tenants.models import Membership
from tenants.resolution import SESSION_TENANT_KEY
from tenants.roles import Role
from tenants.services import membership_change_role, membership_set_active
from tests.factories import make_contact

pytestmark = pytest.mark.django_db


def test_scoped_manager_refuses_to_run_without_a_tenant(world):
    with pytest.raises(TenantContextMissing):
        list(Membership.objects.all())


def test_scoped_manager_refuses_a_tenant_other_than_the_active_one(world):
    with tenant_context(world.a.tenant), pytest.raises(TenantMismatch):
        Membership.objects.for_tenant(world.b.tenant)


def test_a_row_cannot_be_saved_for_another_tenant(world):
    contact = make_contact(world.b.tenant)
    with tenant_context(world.a.tenant), pytest.raises(TenantMismatch):
        contact.save()


def test_nested_tenant_contexts_must_agree(world):
    with tenant_context(world.a.tenant), pytest.raises(TenantMismatch), tenant_context(world.b.tenant):
        pass


def test_admin_changes_a_role(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True)
    marketer = world.a.memberships[Role.MARKETER]
    url = reverse("tenants:member_edit", kwargs={"membership_id": marketer.pk})
    response = client.post(url, {"role": Role.COMPLIANCE_OFFICER, "is_active": "on"})
    assert response.status_code == 302
    with tenant_context(world.a.tenant):
        assert Membership.objects.for_tenant(world.a.tenant).get(pk=marketer.pk).role == Role.COMPLIANCE_OFFICER


def test_the_last_admin_cannot_be_demoted_or_deactivated(world, login):
    admin = world.a.memberships[Role.ADMIN]
    with tenant_context(world.a.tenant):
        with pytest.raises(ValidationError, match="at least one admin"):
            membership_change_role(
                tenant=world.a.tenant, actor=world.a.users[Role.ADMIN], membership=admin, role=Role.MARKETER
            )
        with pytest.raises(ValidationError, match="your own"):
            membership_set_active(
                tenant=world.a.tenant, actor=world.a.users[Role.ADMIN], membership=admin, is_active=False
            )
    client = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True)
    response = client.post(
        reverse("tenants:member_edit", kwargs={"membership_id": admin.pk}), {"role": Role.MARKETER, "is_active": "on"}
    )
    assert response.status_code == 400
    assert "at least one admin" in response.content.decode()


def test_switching_organisation_changes_the_tenant_and_the_session_key(world, login):
    user = world.a.users[Role.ADMIN]
    with tenant_context(world.b.tenant):
        Membership(tenant=world.b.tenant, user=user, role=Role.MARKETER).save()
    client = login(user, world.a.tenant)
    old_key = client.session.session_key
    page = client.get(reverse("tenants:dashboard")).content.decode()
    assert world.b.tenant.name in page  # the switcher offers both organisations
    response = client.post(reverse("tenants:switch"), {"organisation": world.b.tenant.slug})
    assert response.status_code == 302
    assert client.session[SESSION_TENANT_KEY] == world.b.tenant.pk
    assert client.session.session_key != old_key
    # As a marketer in B the admin pages are closed.
    assert client.get(reverse("tenants:member_list")).status_code == 403


def test_switching_to_an_organisation_you_do_not_belong_to_is_refused(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    client.post(reverse("tenants:switch"), {"organisation": world.b.tenant.slug})
    assert client.session[SESSION_TENANT_KEY] == world.a.tenant.pk


def test_a_deactivated_member_loses_access_at_the_next_request(world, login):
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    assert client.get(reverse("tenants:dashboard")).status_code == 200
    with tenant_context(world.a.tenant):
        membership_set_active(
            tenant=world.a.tenant,
            actor=world.a.users[Role.ADMIN],
            membership=world.a.memberships[Role.MARKETER],
            is_active=False,
        )
    response = client.get(reverse("tenants:dashboard"))
    assert response.status_code == 403
    assert "not a member of any organisation" in response.content.decode()


def test_login_does_not_reveal_which_accounts_exist(world, client):
    url = reverse("authn:login")
    unknown = client.post(url, {"username": "nobody@example.com", "password": "wrong-password-123"})
    wrong = client.post(url, {"username": world.a.users[Role.ADMIN].email, "password": "wrong-password-123"})
    assert unknown.status_code == wrong.status_code == 200
    assert unknown.context["form"].non_field_errors() == wrong.context["form"].non_field_errors()


def test_password_login_lands_on_the_dashboard(world, client):
    from authn.models import AccessPolicy, RequiredFactor
    from conftest import PASSWORD

    with tenant_context(world.a.tenant):  # marketers may use a password alone in this organisation
        AccessPolicy.objects.create(tenant=world.a.tenant, marketer_factor=RequiredFactor.PASSWORD)

    response = client.post(
        reverse("authn:login"), {"username": world.a.users[Role.MARKETER].email, "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("tenants:dashboard")
    assert world.a.tenant.name in response.content.decode()
