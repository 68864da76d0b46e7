"""Forms of the authenticator-app and recovery-code pages."""

from __future__ import annotations

from django import forms


class PasswordConfirmForm(forms.Form):
    """The current password, asked of users without a passkey before they change a factor."""

    password = forms.CharField(
        label="Your current password",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class TotpCodeForm(forms.Form):
    code = forms.CharField(
        label="Code shown in the app",
        max_length=12,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9 ]*", "autofocus": True}
        ),
    )

    def clean_code(self) -> str:
        code = "".join(str(self.cleaned_data["code"]).split())
        if not code.isascii() or not code.isdigit():
            raise forms.ValidationError("Enter the digits the app shows.")
        return code
