from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from audit.signals import record_lockout
from authn import throttle
from authn.scopes import all_scopes
from sealpost.request_id import get_client

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


def _scope_field() -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        choices=[(scope.code, scope.code) for scope in all_scopes()],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Approve at least one scope."},
        help_text="The application can do this and nothing else. Approve only what it needs.",
    )


class ApiApplicationForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What connects, e.g. “EHR appointment sync”.")
    description = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Who runs it and why it needs access. Do not include patient information.",
    )
    scopes = _scope_field()
    lifetime_days = forms.ChoiceField(choices=TOKEN_LIFETIMES, initial="90", label="Token expires after")

    def lifetime(self) -> timedelta:
        return timedelta(days=int(self.cleaned_data["lifetime_days"]))


class ApiApplicationScopesForm(forms.Form):
    scopes = _scope_field()


class ApiTokenRotateForm(forms.Form):
    lifetime_days = forms.ChoiceField(
        choices=TOKEN_LIFETIMES, initial="90", required=False, label="New token expires after"
    )

    def lifetime(self) -> timedelta:
        return timedelta(days=int(self.cleaned_data.get("lifetime_days") or "90"))


SECOND_FACTOR_METHODS = [("totp", "Authenticator app code"), ("recovery", "Recovery code")]


class SecondFactorCodeForm(forms.Form):
    """An authenticator-app or recovery code at the second step of signing in."""

    method = forms.ChoiceField(choices=SECOND_FACTOR_METHODS, widget=forms.HiddenInput)
    code = forms.CharField(
        max_length=40,
        label="Code",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}),
    )

    def __init__(self, *args: Any, acceptable: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acceptable = acceptable

    def clean_method(self) -> str:
        method = str(self.cleaned_data["method"])
        if method not in self.acceptable:
            raise forms.ValidationError("That kind of code is not accepted for this sign-in.")
        return method

    def clean_code(self) -> str:
        return "".join(str(self.cleaned_data["code"]).split())


class PasskeyNameForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label="Name",
        help_text="So you can tell your passkeys apart, e.g. “Work laptop” or “Phone”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
