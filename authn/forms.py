from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils import timezone

from audit.signals import record_lockout
from authn import throttle
from sealpost.request_id import get_client
from tenants.roles import Role

TOKEN_LIFETIMES = [("30", "30 days"), ("90", "90 days"), ("365", "1 year")]


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email address", widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True})
    )
    error_messages = {
        # One message whatever was wrong, so the form does not reveal which accounts exist.
        "invalid_login": "That email address and password do not match an active account.",
        "inactive": "That email address and password do not match an active account.",
        "locked": "Too many sign-in attempts. Try again in {minutes} minutes.",
    }

    def clean(self) -> dict[str, Any]:
        email = str(self.cleaned_data.get("username") or "")
        ip = get_client()[0]
        lock = throttle.current_lock(email, ip)
        if lock is not None:
            raise forms.ValidationError(self.error_messages["locked"].format(minutes=lock.minutes_left), code="locked")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            if throttle.record_failure(email, ip):
                record_lockout(email)
            raise
        throttle.record_success(email)
        return cleaned


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses this token, e.g. “EHR appointment sync”.")
    role = forms.ChoiceField(
        choices=Role.choices, initial=Role.MARKETER, help_text="The token acts with this role's permissions."
    )
    lifetime_days = forms.ChoiceField(choices=TOKEN_LIFETIMES, initial="90", label="Expires after")

    def expires_at(self):  # type: ignore[no-untyped-def]
        return timezone.now() + timedelta(days=int(self.cleaned_data["lifetime_days"]))
