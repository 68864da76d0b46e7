from __future__ import annotations

from django import forms

from baa.models import BaaStatus
from baa.services import SubProcessorInput


class SignForm(forms.Form):
    agree = forms.BooleanField(
        required=True,
        label="I have read the agreement above and sign it on behalf of the organisation named below.",
        error_messages={"required": "Tick the box to confirm you have read the agreement."},
    )
    signer_name = forms.CharField(max_length=200, label="Your full name")
    signer_title = forms.CharField(max_length=200, label="Your title", help_text="E.g. Practice administrator.")
    signer_organisation = forms.CharField(max_length=200, label="Organisation (the covered entity)")
    document_sha256 = forms.CharField(max_length=64, widget=forms.HiddenInput)


class TerminateForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Reason for termination",
        help_text="Kept with the agreement (not in the audit log). PHI stops being sent at once.",
    )
    confirm = forms.BooleanField(
        required=True,
        label="I understand that no message with PHI will be sent until a new agreement is signed.",
        error_messages={"required": "Tick the box to confirm."},
    )


class SubProcessorForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="E.g. Amazon Web Services (SES account).")
    purpose = forms.CharField(max_length=300, label="Service / purpose", help_text="E.g. outbound email delivery.")
    handles_phi = forms.BooleanField(required=False, label="Handles PHI")
    baa_status = forms.ChoiceField(choices=BaaStatus.choices, label="BAA status")
    baa_date = forms.DateField(
        required=False,
        label="BAA date",
        help_text="When the agreement was signed (or, while pending, requested). YYYY-MM-DD.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def to_input(self) -> SubProcessorInput:
        data = self.cleaned_data
        return SubProcessorInput(
            name=data["name"],
            purpose=data["purpose"],
            handles_phi=data["handles_phi"],
            baa_status=data["baa_status"],
            baa_date=data["baa_date"],
        )
