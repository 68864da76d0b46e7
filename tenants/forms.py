from __future__ import annotations

from django import forms

from tenants.roles import Role


class MembershipForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
    is_active = forms.BooleanField(required=False, label="Active member")
