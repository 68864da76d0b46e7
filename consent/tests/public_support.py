"""Helpers for the recipients' pages tests: an opt-in form, consent set up by staff, and the
audit and consent rows to assert."""

from __future__ import annotations

import re
from typing import Any

from consent.models import ConsentStatus, ContactConsent, OptInForm
from consent.optin import OptInFormInput, optin_form_create
from consent.services import consent_set
from consent.tests.support import STAFF
from tenants.context import tenant_context

LINK = re.compile(r"https?://\S+")


def make_form(tenant, purposes=("appointment_reminders", "marketing"), **overrides) -> OptInForm:
    data: dict[str, Any] = {
        "name": "Website sign-up",
        "heading": "Hear from Synthetic Clinic",
        "introduction": "News and reminders, as you choose.",
        "purposes": list(purposes),
    }
    data.update(overrides)
    with tenant_context(tenant):
        return optin_form_create(tenant=tenant, actor=STAFF, data=OptInFormInput(**data))


def grant(tenant, contact, *purposes, status=ConsentStatus.GRANTED) -> None:
    with tenant_context(tenant):
        for purpose in purposes:
            consent_set(tenant=tenant, actor=STAFF, contact=contact, purpose=purpose, status=status, source="staff")


def status_of(tenant, contact, purpose) -> str | None:
    with tenant_context(tenant):
        row = ContactConsent.objects.filter(contact_id=contact.pk, purpose=purpose).first()
        return row.status if row else None


def links_in(text: str) -> list[str]:
    return LINK.findall(text)


# --- For tests/test_isolation.py -------------------------------------------------------------------


def optin_form_kwargs(world) -> dict[str, Any]:
    return {"form_id": make_form(world.a.tenant).pk}


def optin_form_unchanged(world, kwargs) -> bool:
    with tenant_context(world.a.tenant):
        form = OptInForm.objects.for_tenant(world.a.tenant).filter(pk=kwargs["form_id"]).first()
    return form is not None and form.version == 1 and form.heading == "Hear from Synthetic Clinic"
