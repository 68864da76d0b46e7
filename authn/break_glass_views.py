"""The Emergency access page: admins grant time-boxed break-glass access (with a fresh step-up)
and end it early; everyone with the permission sees active and past grants."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from authn.break_glass import (
    MAX_MINUTES,
    MAX_REASON_LENGTH,
    MIN_MINUTES,
    MIN_REASON_LENGTH,
    break_glass_get,
    break_glass_grant,
    break_glass_list,
    break_glass_members,
    break_glass_revoke,
)
from authn.stepup import require_step_up_for_changes
from tenants.access import require_permission
from tenants.http import TenantRequest
from tenants.models import Membership, Organisation
from tenants.roles import Role

GRANTS_SHOWN = 100


class _MemberChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.user.display_name} <{obj.user.email}> ({obj.get_role_display()})"


class BreakGlassForm(forms.Form):
    member = _MemberChoice(queryset=Membership.unscoped.none(), label="Member", empty_label="Choose a member")
    role = forms.ChoiceField(
        choices=Role.choices, initial=Role.ADMIN, label="Acting as", help_text="They act with this role until it ends."
    )
    minutes = forms.IntegerField(
        min_value=MIN_MINUTES,
        max_value=MAX_MINUTES,
        initial=60,
        label="Minutes",
        help_text=f"Between {MIN_MINUTES} minutes and {MAX_MINUTES // 60} hours. It ends on its own.",
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        min_length=MIN_REASON_LENGTH,
        max_length=MAX_REASON_LENGTH,
        help_text="Why this access is needed now. Shown here to admins; not sent in emails or to the audit log.",
    )

    def __init__(self, *args: Any, tenant: Organisation, actor_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["member"].queryset = break_glass_members(tenant=tenant).exclude(user_id=actor_id)  # type: ignore[attr-defined]


@require_http_methods(["GET", "POST"])
@require_permission("break_glass.manage")
@require_step_up_for_changes
def break_glass_list_view(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant
    form = BreakGlassForm(request.POST or None, tenant=tenant, actor_id=request.user.pk)
    if request.method == "POST" and form.is_valid():
        member = form.cleaned_data["member"]
        try:
            grant = break_glass_grant(
                tenant=tenant,
                actor=request.user,  # type: ignore[arg-type]
                user=member.user,
                role=form.cleaned_data["role"],
                reason=form.cleaned_data["reason"],
                minutes=form.cleaned_data["minutes"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request,
                f"Emergency access granted to {member.user.display_name} until "
                f"{grant.expires_at:%H:%M} UTC. The compliance officers have been told.",
            )
            return redirect("authn:break_glass_list")
    grants = list(break_glass_list(tenant=tenant)[:GRANTS_SHOWN])
    now = timezone.now()
    context = {
        "form": form,
        "active_grants": [grant for grant in grants if grant.is_active(now)],
        "past_grants": [grant for grant in grants if not grant.is_active(now)],
        "now": now,
    }
    return render(request, "authn/break_glass.html", context, status=400 if form.errors else 200)


@require_POST
@require_permission("break_glass.manage")
def break_glass_revoke_view(request: TenantRequest, grant_id: uuid.UUID) -> HttpResponse:
    """Ending emergency access early takes power away, so it needs no step-up: it must be quick."""
    tenant = request.tenant
    grant = break_glass_get(tenant=tenant, grant_id=grant_id)
    if break_glass_revoke(tenant=tenant, actor=request.user, grant=grant):  # type: ignore[arg-type]
        messages.success(request, f"Emergency access for {grant.user.display_name} has ended.")
    else:
        messages.info(request, "That emergency access had already ended.")
    return redirect("authn:break_glass_list")
