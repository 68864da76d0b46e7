"""The protection policy pages: the policy (admins and compliance officers read it), its editor
(admins, with a fresh passkey step-up) and the simulator.

The simulator classifies pasted text and decides as the policy would for a recipient domain whose
TLS posture is chosen by hand (the delivery pipeline's posture lookup comes with issue 10). The
text is posted, never put in a URL; it is neither stored nor logged (error reports hide it), and
the page is not cached. Only the level, decision and number of findings are audited.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from audit.services import actor_for_request
from authn.stepup import has_fresh_step_up, require_step_up_for_changes, step_up_url
from consent.purposes import purposes_for
from encryption import protection
from encryption.dlp import classify
from encryption.dlp.findings import FINDING_TYPES
from encryption.forms import ProtectionPolicyForm, SimulatorForm
from encryption.selectors import protection_policy_for
from encryption.services import protection_policy_update, protection_simulation_record
from tenants.access import require_permission
from tenants.http import TenantRequest
from tenants.permissions import role_has_permission


def _rule_rows(rules: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{**rule, "action_label": protection.ACTION_LABELS[rule["action"]]} for rule in rules]


@require_GET
@require_permission("protection.view")
def protection_policy_view(request: TenantRequest) -> HttpResponse:
    policy = protection_policy_for(tenant=request.tenant)
    context = {
        "policy": policy,
        "rules": _rule_rows(policy.rules),
        "can_manage": role_has_permission(request.membership.role, "protection.manage"),
    }
    return render(request, "encryption/protection_policy.html", context)


@require_http_methods(["GET", "POST"])
@require_permission("protection.manage")
@require_step_up_for_changes
def protection_policy_edit_view(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant
    policy = protection_policy_for(tenant=tenant)
    form = ProtectionPolicyForm.for_policy(policy, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            saved = protection_policy_update(tenant=tenant, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            if saved.updated_at == policy.updated_at:
                messages.info(request, "Nothing changed.")
            else:
                messages.success(request, "Protection policy saved. It applies to every message prepared from now on.")
            return redirect("encryption:protection_policy")
    context = {
        "form": form,
        "policy": policy,
        "fresh_step_up": has_fresh_step_up(request),
        "step_up_link": step_up_url(request),
        "finding_types": sorted(FINDING_TYPES),
    }
    return render(request, "encryption/protection_policy_edit.html", context, status=400 if form.errors else 200)


@sensitive_post_parameters("text")
@never_cache
@require_http_methods(["GET", "POST"])
@require_permission("protection.view")
def protection_simulator_view(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant
    purposes = purposes_for(tenant=tenant)
    form = SimulatorForm(request.POST if request.method == "POST" else None, tenant=tenant, purposes=purposes)
    result = None
    if request.method == "POST" and form.is_valid():
        text = form.cleaned_data["text"]
        classification = classify(text)
        decision = protection.protection_decide(
            policy=protection_policy_for(tenant=tenant).settings(),
            classification=classification,
            purpose=form.purpose_info(),
            posture=form.posture(),
            accepts_unencrypted_phi=form.cleaned_data["accepts_unencrypted_phi"],
        )
        protection_simulation_record(
            tenant=tenant,
            actor=actor_for_request(request),
            level=classification.level,
            action=decision.action,
            findings=len(classification.findings),
        )
        result = {
            "classification": classification,
            "decision": decision,
            "segments": protection.highlight_segments(text, classification.findings),
            "counts": protection.finding_counts(classification.findings),
            "domain": form.cleaned_data["domain"],
        }
    context = {
        "form": form,
        "result": result,
        "can_manage": role_has_permission(request.membership.role, "protection.manage"),
    }
    return render(request, "encryption/protection_simulator.html", context, status=400 if form.errors else 200)
