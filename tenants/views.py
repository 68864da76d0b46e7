from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.services import actor_for_user, record
from authn.stepup import require_step_up_for_changes
from segments.selectors import contact_count
from tenants.access import login_only, require_permission
from tenants.context import tenant_context
from tenants.forms import MembershipForm
from tenants.http import TenantRequest
from tenants.permissions import all_permissions
from tenants.resolution import SESSION_TENANT_KEY, user_memberships
from tenants.roles import Role
from tenants.selectors import membership_get, membership_list, role_counts
from tenants.services import membership_change_role, membership_set_active


@require_GET
@require_permission("dashboard.view")
def dashboard(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant
    counts = role_counts(tenant=tenant)
    context = {
        "contact_total": contact_count(tenant=tenant),
        "role_summary": [(role.label, counts.get(role.value, 0)) for role in Role],
    }
    return render(request, "tenants/dashboard.html", context)


@require_POST
@login_only
def switch_organisation(request: TenantRequest) -> HttpResponse:
    slug = request.POST.get("organisation", "")
    for membership in user_memberships(request.user.pk):
        if membership.tenant.slug == slug:
            with tenant_context(membership.tenant, switch_from_active=True):
                record(
                    tenant=membership.tenant,
                    action="auth.organisation_switched",
                    actor=actor_for_user(request.user),
                    details={"user_id": request.user.pk},
                )
            request.session[SESSION_TENANT_KEY] = membership.tenant_id
            # A new session id when the acting organisation changes, like at sign-in.
            request.session.cycle_key()
            messages.success(request, f"You are now working in {membership.tenant.name}.")
            return redirect("tenants:dashboard")
    messages.error(request, "You are not a member of that organisation.")
    return redirect("tenants:dashboard")


@require_GET
@require_permission("members.view")
def member_list(request: TenantRequest) -> HttpResponse:
    memberships = membership_list(tenant=request.tenant)
    return render(request, "tenants/member_list.html", {"memberships": memberships})


@require_http_methods(["GET", "POST"])
@require_permission("members.manage")
@require_step_up_for_changes
def member_edit(request: TenantRequest, membership_id: uuid.UUID) -> HttpResponse:
    tenant = request.tenant
    membership = membership_get(tenant=tenant, membership_id=membership_id)
    form = MembershipForm(request.POST or None, initial={"role": membership.role, "is_active": membership.is_active})
    if request.method == "POST" and form.is_valid():
        try:
            membership = membership_change_role(
                tenant=tenant, actor=request.user, membership=membership, role=form.cleaned_data["role"]
            )
            membership = membership_set_active(
                tenant=tenant, actor=request.user, membership=membership, is_active=form.cleaned_data["is_active"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Saved {membership.user.display_name}.")
            return redirect("tenants:member_list")
    status = 400 if form.errors else 200
    return render(request, "tenants/member_edit.html", {"membership": membership, "form": form}, status=status)


@require_GET
@require_permission("roles.view")
def roles(request: TenantRequest) -> HttpResponse:
    rows = [
        {"permission": permission, "cells": [role in permission.roles for role in Role]}
        for permission in all_permissions()
    ]
    return render(request, "tenants/roles.html", {"rows": rows, "roles": list(Role)})
