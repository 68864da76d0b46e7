"""Staff pages of the hosted double opt-in forms: list, create, show (hosted URL and embed
snippet), edit. Admins and marketers (``optin_forms.manage``)."""

from __future__ import annotations

import uuid
from typing import cast

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.html import escape
from django.views.decorators.http import require_http_methods

from audit.services import actor_for_request
from consent.models import OptInForm
from consent.optin import (
    HEADING_MAX,
    INTRODUCTION_MAX,
    NAME_MAX,
    OptInFormInput,
    optin_form_create,
    optin_form_update,
    optin_form_url,
    optin_forms_list,
)
from consent.purposes import purpose_get, purposes_for
from consent.selectors import optin_form_get
from consent.services import ConsentError
from tenants.access import require_permission
from tenants.http import TenantRequest

EMBED_HEIGHT = 560


class OptInFormEditForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX, help_text="For staff only; recipients do not see it.")
    heading = forms.CharField(max_length=HEADING_MAX, help_text="Recipients see this above the form.")
    introduction = forms.CharField(
        required=False,
        max_length=INTRODUCTION_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="A few sentences on what people will receive and how often.",
    )
    purposes = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        help_text="Recipients tick the ones they want; each is confirmed by email before anything is sent.",
        error_messages={"required": "Choose at least one purpose recipients can agree to."},
    )
    is_active = forms.BooleanField(
        required=False, initial=True, label="Active", help_text="An inactive form shows recipients “not found”."
    )

    def __init__(self, *args: object, purpose_choices: list[tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        cast(forms.MultipleChoiceField, self.fields["purposes"]).choices = purpose_choices

    def to_input(self) -> OptInFormInput:
        data = self.cleaned_data
        return OptInFormInput(
            name=data["name"],
            heading=data["heading"],
            introduction=data["introduction"],
            purposes=list(data["purposes"]),
            is_active=data["is_active"],
        )


def _purpose_choices(request: TenantRequest) -> list[tuple[str, str]]:
    return [(p.key, p.name) for p in purposes_for(tenant=request.tenant)]


def _apply_error(form: forms.Form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, messages_ in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages_)
    else:
        form.add_error(None, error.messages)


@require_http_methods(["GET"])
@require_permission("optin_forms.manage")
def optin_form_list_view(request: TenantRequest) -> HttpResponse:
    forms_ = list(optin_forms_list(tenant=request.tenant))
    return render(request, "consent/optin_form_list.html", {"forms": forms_})


@require_http_methods(["GET", "POST"])
@require_permission("optin_forms.manage")
def optin_form_create_view(request: TenantRequest) -> HttpResponse:
    form = OptInFormEditForm(request.POST or None, purpose_choices=_purpose_choices(request))
    if request.method == "POST" and form.is_valid():
        try:
            created = optin_form_create(tenant=request.tenant, actor=actor_for_request(request), data=form.to_input())
        except ConsentError as error:
            _apply_error(form, error)
        else:
            messages.success(request, "Opt-in form created. Share its link or embed it on your website.")
            return redirect("consent:optin_form_detail", form_id=created.pk)
    return render(request, "consent/optin_form_edit.html", {"form": form, "optin_form": None})


@require_http_methods(["GET"])
@require_permission("optin_forms.manage")
def optin_form_detail_view(request: TenantRequest, form_id: uuid.UUID) -> HttpResponse:
    optin_form = optin_form_get(tenant=request.tenant, form_id=form_id)
    url = optin_form_url(tenant=request.tenant, form=optin_form)
    context = {
        "optin_form": optin_form,
        "hosted_url": url,
        "embed_snippet": _embed_snippet(url, optin_form),
        "purposes": _purpose_names(request, optin_form),
        "frame_ancestors": " ".join(settings.CONSENT_OPTIN_FRAME_ANCESTORS),
    }
    return render(request, "consent/optin_form_detail.html", context)


def _embed_snippet(url: str, optin_form: OptInForm) -> str:
    return (
        f'<iframe src="{escape(url)}" title="{escape(optin_form.heading)}" '
        f'width="100%" height="{EMBED_HEIGHT}" loading="lazy"></iframe>'
    )


def _purpose_names(request: TenantRequest, optin_form: OptInForm) -> list[str]:
    names = []
    for key in optin_form.purposes:
        try:
            names.append(purpose_get(tenant=request.tenant, key=key, allow_archived=True).name)
        except LookupError:
            names.append(key)
    return names


@require_http_methods(["GET", "POST"])
@require_permission("optin_forms.manage")
def optin_form_edit_view(request: TenantRequest, form_id: uuid.UUID) -> HttpResponse:
    optin_form = optin_form_get(tenant=request.tenant, form_id=form_id)
    initial = {
        "name": optin_form.name,
        "heading": optin_form.heading,
        "introduction": optin_form.introduction,
        "purposes": list(optin_form.purposes),
        "is_active": optin_form.is_active,
    }
    form = OptInFormEditForm(request.POST or None, initial=initial, purpose_choices=_purpose_choices(request))
    if request.method == "POST" and form.is_valid():
        try:
            saved = optin_form_update(
                tenant=request.tenant, actor=actor_for_request(request), form=optin_form, data=form.to_input()
            )
        except ConsentError as error:
            _apply_error(form, error)
        else:
            if saved.version != optin_form.version:
                messages.success(request, f"Saved as version {saved.version}.")
            else:
                messages.success(request, "Nothing changed.")
            return redirect("consent:optin_form_detail", form_id=saved.pk)
    return render(request, "consent/optin_form_edit.html", {"form": form, "optin_form": optin_form})
