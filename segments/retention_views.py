"""The "Data retention" page (admins): the policy, a preview of who would go, "Remove now"."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from audit.services import actor_for_request
from authn.stepup import has_fresh_step_up, require_step_up, require_step_up_for_changes, step_up_url
from segments.retention import (
    MAX_INACTIVE_DAYS,
    MIN_INACTIVE_DAYS,
    RetentionError,
    retention_policy_for,
    retention_policy_update,
    retention_preview,
    retention_run,
)
from segments.services import contact_list_view_record
from tenants.access import require_permission
from tenants.http import TenantRequest


class RetentionPolicyForm(forms.Form):
    inactive_days = forms.IntegerField(
        required=False,
        min_value=MIN_INACTIVE_DAYS,
        max_value=MAX_INACTIVE_DAYS,
        label="Remove contacts inactive for more than (days)",
        help_text="Activity: created, imported, updated or engaged. Leave empty to keep contacts indefinitely.",
    )


@require_http_methods(["GET", "POST"])
@require_permission("retention.manage")
@require_step_up_for_changes
def retention_view(request: TenantRequest) -> HttpResponse:
    policy = retention_policy_for(tenant=request.tenant)
    form = RetentionPolicyForm(request.POST or None, initial={"inactive_days": policy.inactive_days})
    if request.method == "POST" and form.is_valid():
        try:
            retention_policy_update(
                tenant=request.tenant,
                actor=actor_for_request(request),
                inactive_days=form.cleaned_data["inactive_days"],
                user=request.user,
            )
        except RetentionError as error:
            form.add_error("inactive_days", str(error))
        else:
            messages.success(request, "Retention policy saved.")
            return redirect("segments:retention")
    preview = retention_preview(tenant=request.tenant)
    # The sample is shown masked, but which people are listed is itself PHI: recorded like a list.
    contact_list_view_record(tenant=request.tenant, actor=actor_for_request(request), contacts=preview.sample)
    context = {
        "form": form,
        "policy": policy,
        "preview": preview,
        "fresh_step_up": has_fresh_step_up(request),
        "step_up_link": step_up_url(request),
    }
    return render(request, "segments/retention.html", context)


@require_POST
@require_permission("retention.manage")
@require_step_up
def retention_run_view(request: TenantRequest) -> HttpResponse:
    removed = retention_run(tenant=request.tenant, actor=actor_for_request(request))
    messages.success(request, f"Removed {removed} inactive contact{'s' if removed != 1 else ''}.")
    return redirect("segments:retention")
