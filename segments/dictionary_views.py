"""Web pages of the data dictionary: everyone reads it, admins change it."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from audit.services import actor_for_request
from segments.dictionary import (
    DictionaryError,
    attribute_define,
    attribute_delete,
    attribute_delete_stalled,
    attribute_get,
    attribute_list,
    attribute_update,
    attribute_value_count,
)
from segments.models import AttributeType
from tenants.access import require_permission
from tenants.http import TenantRequest
from tenants.permissions import role_has_permission


class AttributeForm(forms.Form):
    key = forms.CharField(
        max_length=64,
        help_text="Lower-case letters, digits and underscores, e.g. next_visit. Used in imports, rules and the API.",
    )
    label = forms.CharField(max_length=100, required=False)
    type = forms.ChoiceField(choices=AttributeType.choices)
    is_phi = forms.BooleanField(
        required=False, label="PHI", help_text="Protected health information: stored encrypted, masked until revealed."
    )
    choices = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}), help_text="For choice attributes: one per line."
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


def _apply_error(form: forms.Form, error: DictionaryError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


@require_http_methods(["GET"])
@require_permission("dictionary.view")
def attribute_list_view(request: TenantRequest) -> HttpResponse:
    """The dictionary, with the attributes being deleted and how far along; while any is, the
    table polls itself (htmx asks for the table alone)."""
    can_manage = role_has_permission(request.membership.role, "dictionary.manage")
    attributes = attribute_list(tenant=request.tenant, include_deleting=True)
    context = {
        "attributes": attributes,
        "can_manage": can_manage,
        "deleting": any(attribute.is_deleting for attribute in attributes),
        "stalled": {attribute.pk for attribute in attributes if attribute_delete_stalled(attribute)},
    }
    template = "segments/attribute_table.html" if request.htmx else "segments/attribute_list.html"
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
@require_permission("dictionary.manage")
def attribute_create_view(request: TenantRequest) -> HttpResponse:
    form = AttributeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            definition = attribute_define(
                tenant=request.tenant,
                actor=actor_for_request(request),
                key=data["key"],
                type=data["type"],
                label=data["label"],
                is_phi=data["is_phi"],
                description=data["description"],
                choices=data["choices"] if data["type"] == AttributeType.CHOICE else None,
            )
        except DictionaryError as error:
            _apply_error(form, error)
        else:
            messages.success(request, f"Attribute {definition.key} added.")
            return redirect("segments:attribute_list")
    return render(request, "segments/attribute_form.html", {"form": form, "definition": None})


@require_http_methods(["GET", "POST"])
@require_permission("dictionary.manage")
def attribute_edit_view(request: TenantRequest, attribute_id: uuid.UUID) -> HttpResponse:
    definition = attribute_get(tenant=request.tenant, attribute_id=attribute_id)
    initial = {
        "key": definition.key,
        "label": definition.label,
        "type": definition.type,
        "is_phi": definition.is_phi,
        "choices": "\n".join(definition.choices or []),
        "description": definition.description,
    }
    form = AttributeForm(request.POST or None, initial=initial)
    form.fields["key"].disabled = True
    has_values = attribute_value_count(tenant=request.tenant, definition=definition, limit=1) > 0
    if has_values:
        form.fields["type"].disabled = True
        form.fields["is_phi"].disabled = True
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            attribute_update(
                tenant=request.tenant,
                actor=actor_for_request(request),
                definition=definition,
                label=data["label"],
                description=data["description"],
                type=data["type"],
                is_phi=data["is_phi"],
                choices=data["choices"] if data["type"] == AttributeType.CHOICE else [],
            )
        except DictionaryError as error:
            _apply_error(form, error)
        else:
            messages.success(request, f"Attribute {definition.key} saved.")
            return redirect("segments:attribute_list")
    context = {"form": form, "definition": definition, "has_values": has_values}
    return render(request, "segments/attribute_form.html", context)


@require_http_methods(["GET", "POST"])
@require_permission("dictionary.manage")
def attribute_delete_view(request: TenantRequest, attribute_id: uuid.UUID) -> HttpResponse:
    """Confirm, then hide the attribute and queue the removal of its values. For an attribute
    already being deleted: its progress, and "resume" when it has stalled."""
    definition = attribute_get(tenant=request.tenant, attribute_id=attribute_id, include_deleting=True)
    if definition.is_deleting:
        stalled = attribute_delete_stalled(definition)
        if request.method == "POST":
            if stalled:
                attribute_delete(tenant=request.tenant, actor=actor_for_request(request), definition=definition)
                messages.success(request, f"Deleting {definition.key}: queued again.")
            return redirect("segments:attribute_list")
        return render(request, "segments/attribute_delete.html", {"definition": definition, "stalled": stalled})
    value_count = attribute_value_count(tenant=request.tenant, definition=definition)
    error = ""
    if request.method == "POST":
        try:
            attribute_delete(
                tenant=request.tenant,
                actor=actor_for_request(request),
                definition=definition,
                confirm=request.POST.get("confirm") == "yes",
            )
        except DictionaryError as refused:
            error = refused.message
        else:
            messages.success(
                request,
                f"Attribute {definition.key} is deleted for every use now; its values are being removed from "
                "the contacts in the background (progress below).",
            )
            return redirect("segments:attribute_list")
    context = {"definition": definition, "value_count": value_count, "error": error}
    return render(request, "segments/attribute_delete.html", context)
