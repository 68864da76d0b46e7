"""Automation pages: the trigger event types an organisation receives (built-in and its own, each
field tagged PHI or not), adding a type, and the latest events received (no payload shown: it is
PHI, and the page is for seeing that integrations are sending)."""

from __future__ import annotations

from django.contrib import messages
from django.forms import formset_factory
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from audit.services import actor_for_request
from campaigns.forms import TriggerFieldForm, TriggerTypeForm
from campaigns.triggers import TriggerInputError, trigger_event_list, trigger_type_create, trigger_types_for
from tenants.access import require_permission
from tenants.http import TenantRequest
from tenants.permissions import role_has_permission

FIELD_ROWS = 8
TriggerFieldFormSet = formset_factory(TriggerFieldForm, extra=FIELD_ROWS, max_num=FIELD_ROWS)


@require_http_methods(["GET"])
@require_permission("campaigns.view")
def trigger_list_view(request: TenantRequest) -> HttpResponse:
    types = trigger_types_for(tenant=request.tenant)
    labels = {key: spec.label for key, spec in types.items()}
    latest = trigger_event_list(tenant=request.tenant)
    events = [(event, labels.get(event.type_key, event.type_key)) for event in latest]
    context = {
        "types": list(types.values()),
        "events": events,
        "can_manage": role_has_permission(request.membership.role, "campaigns.manage"),
    }
    return render(request, "campaigns/trigger_list.html", context)


@require_http_methods(["GET", "POST"])
@require_permission("campaigns.manage")
def trigger_type_create_view(request: TenantRequest) -> HttpResponse:
    form = TriggerTypeForm(request.POST or None)
    fields = TriggerFieldFormSet(request.POST or None, prefix="fields")
    status = 200
    if request.method == "POST":
        if form.is_valid() and fields.is_valid():
            rows = [row.as_definition() for row in fields if row.has_changed() and row.cleaned_data.get("key")]
            try:
                trigger_type_create(
                    tenant=request.tenant,
                    actor=actor_for_request(request),
                    fields=rows,
                    **form.cleaned_data,
                )
            except TriggerInputError as invalid:
                _add_errors(form, invalid)
            else:
                messages.success(request, f"Event type {form.cleaned_data['key']} added.")
                return redirect("campaigns:trigger_list")
        status = 400
    return render(request, "campaigns/trigger_type_form.html", {"form": form, "fields": fields}, status=status)


def _add_errors(form: TriggerTypeForm, invalid: TriggerInputError) -> None:
    for path, problems in invalid.fields.items():
        target = path if path in form.fields else None
        for problem in problems:
            where = "" if target or not path.startswith("fields.") else f"Field row {int(path.split('.')[1]) + 1}: "
            form.add_error(target, f"{where}{problem}")
