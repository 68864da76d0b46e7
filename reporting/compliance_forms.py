"""Forms of the compliance report pages: the period, and an export request."""

from __future__ import annotations

from typing import Any

from django import forms

from reporting.compliance import ReportPeriod, ReportPeriodError, compliance_period
from reporting.models import ExportFormat


class PeriodForm(forms.Form):
    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def period(self) -> ReportPeriod:
        """The period asked for; the default period (with the error on the form) if it is invalid."""
        start = end = None
        if self.is_valid():
            start, end = self.cleaned_data["start"], self.cleaned_data["end"]
        try:
            return compliance_period(start=start, end=end)
        except ReportPeriodError as error:
            self.add_error("start", str(error))
            return compliance_period(start=None, end=None)


class ExportRequestForm(PeriodForm):
    format = forms.ChoiceField(label="Format", choices=ExportFormat.choices, initial=ExportFormat.CSV)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        try:
            compliance_period(start=cleaned.get("start"), end=cleaned.get("end"))
        except ReportPeriodError as error:
            raise forms.ValidationError(str(error), code="period") from None
        return cleaned
