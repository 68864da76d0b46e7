"""The Access policy page's form. It only shapes input (lists from textareas, hours, numbers);
``authn.policies.access_policy_update`` validates the values and decides."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from django import forms

from authn.models import AccessPolicy, RequiredFactor, RuleAction
from authn.policies import EDITABLE_FIELDS, MAX_TRAVEL_KMH, MIN_TRAVEL_KMH

_LIST_SEPARATORS = re.compile(r"[\s,;]+")
HOUR_CHOICES = [("", "Any hour"), *[(str(hour), f"{hour:02d}:00") for hour in range(24)]]


@lru_cache(maxsize=1)
def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(available_timezones())]


def split_list(text: str) -> list[str]:
    """One item per line or comma-separated (spaces and semicolons also separate)."""
    return [item for item in _LIST_SEPARATORS.split(text or "") if item]


class AccessPolicyForm(forms.Form):
    allowed_networks = forms.CharField(
        label="Allowed networks",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocapitalize": "off"}),
        help_text="Addresses or CIDR blocks, one per line or comma-separated (such as 203.0.113.0/24 or "
        "2001:db8::/48). Empty: any network. Anyone outside them is refused, at sign-in and on every request.",
    )
    allowed_countries = forms.CharField(
        label="Allowed countries",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocapitalize": "characters"}),
        help_text="Two-letter ISO 3166-1 codes (such as US, DE), one per line or comma-separated. Empty: any "
        "country. An address whose country cannot be determined is refused while this list is set.",
    )
    marketer_factor = forms.ChoiceField(
        label="Marketers sign in with",
        choices=RequiredFactor.choices,
        help_text="Admins and compliance officers always need a passkey.",
    )
    allow_fallback_factors = forms.BooleanField(
        label="Allow authenticator-app codes and recovery codes where a passkey is not required",
        required=False,
    )
    new_device_action = forms.ChoiceField(
        label="Sign-in from a new browser",
        choices=RuleAction.choices,
        help_text="A browser the member has not signed in from before. A passkey sign-in already counts as "
        "the extra step.",
    )
    new_country_action = forms.ChoiceField(
        label="Sign-in from a new country",
        choices=RuleAction.choices,
        help_text="A country the member has not signed in from before (needs GeoIP).",
    )
    max_travel_kmh = forms.IntegerField(
        label="Impossible travel above (km/h)",
        required=False,
        min_value=MIN_TRAVEL_KMH,
        max_value=MAX_TRAVEL_KMH,
        help_text="The speed needed to get from the previous sign-in's place to this one's. Empty: rule off. "
        "Needs a GeoIP City database.",
    )
    impossible_travel_action = forms.ChoiceField(label="On impossible travel", choices=RuleAction.choices)
    sign_in_hours_start = forms.TypedChoiceField(
        label="Access allowed from",
        choices=HOUR_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
    )
    sign_in_hours_end = forms.TypedChoiceField(
        label="Until",
        choices=HOUR_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
        help_text="For example 07:00 until 19:00. A window past midnight (22:00 until 06:00) works too. "
        "Both empty: any hour.",
    )
    timezone = forms.ChoiceField(label="Time zone of these hours", choices=timezone_choices)
    confirm_lockout = forms.BooleanField(
        label="I understand that this policy blocks me where I am now, and I want to save it anyway",
        required=False,
    )

    # The page's sections: (heading, introduction, field names). The required factors are shown
    # between "Where and when" and "Sign-in risks" by the template.
    SECTIONS = (
        (
            "Where",
            "Restrict the networks and countries members may use Sealpost from. Checked at sign-in and on "
            "every request; emergency (break-glass) access is exempt.",
            ("allowed_networks", "allowed_countries"),
        ),
        (
            "When",
            "Restrict the hours members may use Sealpost. Checked at sign-in and on every request.",
            ("sign_in_hours_start", "sign_in_hours_end", "timezone"),
        ),
        (
            "How members sign in",
            "",
            ("marketer_factor", "allow_fallback_factors"),
        ),
        (
            "Sign-in risks",
            "What happens when a sign-in looks unusual. “Require a passkey” asks for a passkey or, where allowed, "
            "an authenticator code; a sign-in with a passkey has already given it.",
            ("new_device_action", "new_country_action", "max_travel_kmh", "impossible_travel_action"),
        ),
    )

    @classmethod
    def for_policy(cls, policy: AccessPolicy, data: Any = None) -> AccessPolicyForm:
        initial = {name: getattr(policy, name) for name in EDITABLE_FIELDS}
        initial["allowed_networks"] = "\n".join(policy.allowed_networks or [])
        initial["allowed_countries"] = "\n".join(policy.allowed_countries or [])
        return cls(data, initial=initial)

    def clean_allowed_networks(self) -> list[str]:
        return split_list(self.cleaned_data.get("allowed_networks", ""))

    def clean_allowed_countries(self) -> list[str]:
        return [code.upper() for code in split_list(self.cleaned_data.get("allowed_countries", ""))]

    def policy_fields(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in EDITABLE_FIELDS}
