from __future__ import annotations

from typing import Any

from django import forms

from audit.actions import ACTIONS
from audit.selectors import AuditFilters


def _action_choices() -> list[tuple[str, str]]:
    prefixes = sorted({name.split(".")[0] for name in ACTIONS})
    choices = [("", "Any action")]
    for prefix in prefixes:
        choices.append((prefix, f"{prefix}.* (all)"))
        choices.extend((name, name) for name in sorted(ACTIONS) if name.startswith(f"{prefix}."))
    return choices


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=254, label="Actor", help_text="User email or id")
    action = forms.ChoiceField(required=False, choices=_action_choices)
    target_type = forms.CharField(required=False, max_length=64, label="Target type")
    target_id = forms.CharField(required=False, max_length=64, label="Target id")
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError("“From” must be on or before “To”.")
        return data

    def filters(self) -> AuditFilters:
        """The filters to apply; none while the form is unbound or invalid (errors are shown)."""
        if not self.is_valid():
            return AuditFilters()
        data = self.cleaned_data
        return AuditFilters(
            actor=data["actor"],
            action=data["action"],
            target_type=data["target_type"],
            target_id=data["target_id"],
            date_from=data["date_from"],
            date_to=data["date_to"],
        )
