"""Forms of the protection-policy editor, the simulator and quarantine review. They shape input
only; ``encryption.services.protection_policy_update`` validates the policy and decides."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django import forms

from consent.purposes import PurposeInfo
from delivery.posture import checked_domain_posture
from encryption import protection
from encryption.models import HoldChoice, ProtectionPolicy
from encryption.quarantine import MAX_NOTE_LENGTH
from tenants.models import Organisation


def rules_as_text(rules: Sequence[dict[str, str]]) -> str:
    return "\n".join(f"{rule['kind']} {rule['value']} {rule['action']}" for rule in rules)


def rules_from_text(text: str) -> list[dict[str, str]]:
    """Lines of ``kind value action`` as the stored rule list; a ``ValidationError`` names the
    lines that are not three words (their meaning is checked by the service)."""
    rules: list[dict[str, str]] = []
    errors: list[str] = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if len(words) != 3:
            errors.append(f"Line {number}: a rule is three words (kind, value, action).")
            continue
        kind, value, action = words[0].lower(), words[1], words[2].lower()
        rules.append(
            {"kind": kind, "value": value.upper() if kind == protection.RULE_FINDING else value, "action": action}
        )
    if errors:
        raise forms.ValidationError(errors)
    return rules


class ProtectionPolicyForm(forms.Form):
    honour_unencrypted_preference = forms.BooleanField(
        required=False,
        label="Honour a patient's recorded choice of PHI by ordinary email",
        help_text="When the recipient's domain has no verified TLS, PHI goes by ordinary email (opportunistic TLS) "
        "to a patient who accepted the warning — their right under HIPAA. Off: such messages go to escrow.",
    )
    escrow_all_phi = forms.BooleanField(
        required=False, label="Escrow all PHI", help_text="Every message with PHI goes through the secure portal."
    )
    require_tls13 = forms.BooleanField(
        required=False,
        label="Require TLS 1.3 for PHI",
        help_text="Verified TLS 1.2 is not enough: such messages go to escrow.",
    )
    pii_requires_verified_tls = forms.BooleanField(
        required=False,
        label="Protect identifying messages like PHI",
        help_text="Messages that identify a person without health information need verified TLS too, or escrow.",
    )
    dense_threshold = forms.IntegerField(
        min_value=protection.MIN_DENSE_THRESHOLD,
        max_value=protection.MAX_DENSE_THRESHOLD,
        label="Dense record: kinds of identifier",
        help_text="A message naming this many different kinds of identifier (name, date, address, phone, MRN, …) "
        "is a record about a person and goes to escrow, whatever the TLS. Default 6.",
    )
    phi_in_marketing = forms.ChoiceField(
        choices=HoldChoice.choices,
        label="PHI in marketing",
        help_text="Marketing with PHI needs the patient's HIPAA authorisation.",
    )
    phi_outside_phi_purposes = forms.ChoiceField(
        choices=HoldChoice.choices,
        label="PHI for a purpose that may not carry it",
        help_text="Purposes other than marketing that are not marked as carrying PHI (a newsletter, say).",
    )
    rules = forms.CharField(
        required=False,
        label="Organisation rules",
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false", "autocapitalize": "off"}),
    )

    @classmethod
    def for_policy(cls, policy: ProtectionPolicy, data: Any = None) -> ProtectionPolicyForm:
        initial = {name: getattr(policy, name) for name in cls.base_fields if name != "rules"}
        initial["rules"] = rules_as_text(policy.rules)
        return cls(data, initial=initial)

    def clean_rules(self) -> list[dict[str, str]]:
        return rules_from_text(self.cleaned_data.get("rules", ""))


_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
TLS_CHECKED = "checked"
TLS_CHOICES = [
    (TLS_CHECKED, "As last checked for this domain (Recipient domains page)"),
    (protection.TLS_VERIFIED, "Verified TLS (certificate valid for the MX, or MTA-STS / DANE)"),
    (protection.TLS_UNVERIFIED, "TLS without verification"),
    (protection.TLS_NONE, "No TLS"),
]
TLS_VERSION_CHOICES = [("1.3", "TLS 1.3"), ("1.2", "TLS 1.2"), ("", "Unknown")]
MAX_SIMULATOR_TEXT = 20_000


class SimulatorForm(forms.Form):
    text = forms.CharField(
        max_length=MAX_SIMULATOR_TEXT,
        strip=False,
        label="Message text",
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false", "autocomplete": "off"}),
        help_text="Use synthetic text. It is classified and shown back to you, never stored or logged.",
    )
    domain = forms.CharField(
        max_length=253,
        label="Recipient domain",
        initial="example.com",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    tls = forms.ChoiceField(choices=TLS_CHOICES, label="The domain's TLS", initial=protection.TLS_VERIFIED)
    tls_version = forms.ChoiceField(choices=TLS_VERSION_CHOICES, label="TLS version", required=False, initial="1.3")
    purpose = forms.ChoiceField(label="Campaign purpose")
    accepts_unencrypted_phi = forms.BooleanField(
        required=False, label="The patient recorded that they accept PHI by ordinary (unencrypted) email"
    )

    def __init__(self, *args: Any, tenant: Organisation, purposes: Sequence[PurposeInfo], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        self.checked: protection.DomainPosture | None = None
        self.purposes = {purpose.key: purpose for purpose in purposes}
        self.fields["purpose"].choices = [(purpose.key, purpose.name) for purpose in purposes]  # type: ignore[attr-defined]

    def clean_domain(self) -> str:
        domain = self.cleaned_data["domain"].strip().lower().rstrip(".")
        if not _DOMAIN.match(domain):
            raise forms.ValidationError("Enter a domain such as example.com.")
        return domain

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("tls") == TLS_CHECKED and data.get("domain"):
            self.checked = checked_domain_posture(tenant=self.tenant, domain=data["domain"])
            if self.checked is None:
                self.add_error(
                    "tls",
                    "This organisation has not checked that domain yet: check it on the Recipient domains page, "
                    "or choose its TLS by hand.",
                )
        return data

    def posture(self) -> protection.DomainPosture:
        data = self.cleaned_data
        if data["tls"] == TLS_CHECKED and self.checked is not None:
            return self.checked
        return protection.DomainPosture(
            domain=data["domain"], tls=data["tls"], tls_version=data.get("tls_version") or None
        )

    def purpose_info(self) -> PurposeInfo:
        return self.purposes[self.cleaned_data["purpose"]]


class DecisionForm(forms.Form):
    note = forms.CharField(
        required=False,
        max_length=MAX_NOTE_LENGTH,
        label="Note (optional)",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why you decided so, for other reviewers. No PHI, please: refer to the item by its id.",
    )
