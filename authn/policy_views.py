"""The Access policy page: admins read the organisation's conditional-access policy and, with a
fresh passkey step-up, change it."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from authn import geo
from authn.models import RequiredFactor
from authn.policies import SelfLockout, access_policy_for, access_policy_update
from authn.policy_forms import AccessPolicyForm
from authn.stepup import has_fresh_step_up, require_step_up_for_changes, step_up_url
from sealpost.request_id import client_ip
from tenants.access import require_permission
from tenants.http import TenantRequest
from tenants.roles import Role


@require_http_methods(["GET", "POST"])
@require_permission("access_policy.manage")
@require_step_up_for_changes
def access_policy_view(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant
    policy = access_policy_for(tenant=tenant)
    form = AccessPolicyForm.for_policy(policy, request.POST if request.method == "POST" else None)
    lockout = False
    if request.method == "POST" and form.is_valid():
        try:
            saved = access_policy_update(
                tenant=tenant,
                actor=request.user,
                actor_ip=client_ip(request),
                confirm_lockout=form.cleaned_data["confirm_lockout"],
                **form.policy_fields(),
            )
        except ValidationError as exc:
            lockout = isinstance(exc, SelfLockout)
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            if saved.updated_at == policy.updated_at:
                messages.info(request, "Nothing changed.")
            else:
                messages.success(request, "Access policy saved. It applies from the next request of every member.")
            return redirect("authn:access_policy")
    context = {
        "form": form,
        "sections": [
            (title, intro, [form[name] for name in names]) for title, intro, names in AccessPolicyForm.SECTIONS
        ],
        "policy": policy,
        "lockout": lockout or bool(form.data.get("confirm_lockout")),
        "geo": geo.status(),
        "fresh_step_up": has_fresh_step_up(request),
        "step_up_link": step_up_url(request),
        "passkey_roles": [Role.ADMIN.label, Role.COMPLIANCE_OFFICER.label],
        "passkey_label": RequiredFactor.PASSKEY.label,
    }
    return render(request, "authn/access_policy.html", context, status=400 if form.errors else 200)
