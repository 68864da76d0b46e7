"""Input and output shapes of the consent API. Outputs never carry a contact's name or address:
contacts are named by id, suppressed addresses are masked, and the evidence of a consent change
(IP address, user agent) is returned only when asked for."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from consent.models import (
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    MarketingAuthorisation,
    Suppression,
    SuppressionReason,
)
from consent.reports import MAX_EXPIRING_WITHIN_DAYS, authorisation_state, masked_address

# What an integration may set: "never asked" is where every contact starts, never a target.
API_STATUSES = (ConsentStatus.GRANTED, ConsentStatus.REVOKED, ConsentStatus.PENDING)


class PurposeOutput(serializers.Serializer[Any]):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    is_marketing = serializers.BooleanField(help_text="Sending needs a signed HIPAA authorisation as well as consent.")
    is_builtin = serializers.BooleanField()
    is_archived = serializers.BooleanField(help_text="Can be granted no more; existing statuses stay.")
    allows_phi = serializers.BooleanField(help_text="Messages for the purpose may carry PHI (templates check it).")


class PurposeStatusOutput(serializers.Serializer[Any]):
    purpose = serializers.CharField(source="purpose.key")
    name = serializers.CharField(source="purpose.name")
    is_marketing = serializers.BooleanField(source="purpose.is_marketing")
    status = serializers.ChoiceField(choices=ConsentStatus.choices)
    source = serializers.CharField(help_text="Empty when never asked.")  # type: ignore[assignment]
    changed_at = serializers.DateTimeField(allow_null=True)


class ContactConsentOutput(serializers.Serializer[Any]):
    contact_id = serializers.UUIDField()
    statuses = PurposeStatusOutput(many=True)
    suppressed = serializers.BooleanField(help_text="The address is on the suppression list: it gets nothing.")
    accepts_unencrypted_phi = serializers.BooleanField(
        help_text="The contact chose, after the warning, to receive PHI by ordinary email."
    )
    changed = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="After a write: the purposes whose status changed."
    )


class EvidenceInput(serializers.Serializer[Any]):
    ip_address = serializers.IPAddressField(required=False, help_text="The address the individual consented from.")
    user_agent = serializers.CharField(required=False, max_length=512, allow_blank=True)
    form_version = serializers.CharField(
        required=False, max_length=64, allow_blank=True, help_text="Your form's id and version, e.g. intake:v3."
    )


class ContactConsentInput(serializers.Serializer[Any]):
    statuses = serializers.DictField(
        child=serializers.ChoiceField(choices=API_STATUSES),
        allow_empty=False,
        help_text='Purpose key -> "granted", "revoked" or "pending". Purposes not named are left as they are.',
    )
    evidence = EvidenceInput(required=False)


class ConsentEventOutput(serializers.Serializer[ConsentEvent]):
    id = serializers.UUIDField()
    kind = serializers.CharField(help_text="consent, unencrypted_email or authorisation.")
    purpose = serializers.CharField()
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]
    occurred_at = serializers.DateTimeField()
    form_version = serializers.CharField()
    recorded_by_type = serializers.CharField()
    recorded_by_id = serializers.CharField()

    def to_representation(self, instance: ConsentEvent) -> dict[str, Any]:
        data = dict(super().to_representation(instance))
        if self.context.get("evidence"):
            data["ip_address"] = instance.ip_address
            data["user_agent"] = instance.user_agent
        return data


class AuthorisationOutput(serializers.Serializer[MarketingAuthorisation]):
    """The signature name is PHI and is not returned."""

    id = serializers.UUIDField()
    contact_id = serializers.UUIDField()
    purpose = serializers.CharField()
    text_id = serializers.UUIDField()
    text_version = serializers.IntegerField(source="text.version")
    signature_method = serializers.CharField()
    signed_on = serializers.DateField()
    expires_on = serializers.DateField(allow_null=True)
    expiry_event = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]
    recorded_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    state = serializers.SerializerMethodField(help_text="valid, expired or revoked (today).")

    def get_state(self, instance: MarketingAuthorisation) -> str:
        return authorisation_state(instance)


class AuthorisationInput(serializers.Serializer[Any]):
    """Every element is optional in shape: the service names each missing one."""

    text_id = serializers.UUIDField(help_text="The current version of a published authorisation text.")
    purpose = serializers.CharField(max_length=64, help_text="A marketing purpose's key.")
    signature_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    signed_on = serializers.DateField(required=False, allow_null=True, default=None)
    signature_method = serializers.ChoiceField(
        choices=MarketingAuthorisation.SignatureMethod.choices,
        default=MarketingAuthorisation.SignatureMethod.ELECTRONIC,
    )
    expires_on = serializers.DateField(required=False, allow_null=True, default=None)
    expiry_event = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    evidence = EvidenceInput(required=False)


class AuthorisationRevokeInput(serializers.Serializer[Any]):
    evidence = EvidenceInput(required=False)


class SuppressionOutput(serializers.Serializer[Suppression]):
    id = serializers.UUIDField()
    address = serializers.SerializerMethodField(help_text="Masked: the first character and the domain.")
    reason = serializers.ChoiceField(choices=SuppressionReason.choices)
    source = serializers.ChoiceField(choices=ConsentSource.choices)  # type: ignore[assignment]
    created_at = serializers.DateTimeField()
    can_be_lifted = serializers.SerializerMethodField(help_text="Spam complaints cannot be lifted.")

    def get_address(self, instance: Suppression) -> str:
        return masked_address(instance)

    def get_can_be_lifted(self, instance: Suppression) -> bool:
        return instance.reason != SuppressionReason.COMPLAINT


class SuppressionInput(serializers.Serializer[Any]):
    email = serializers.EmailField(max_length=320)
    reason = serializers.ChoiceField(choices=SuppressionReason.choices, default=SuppressionReason.MANUAL)


class ReportInput(serializers.Serializer[Any]):
    # "from" is a Python keyword: declared below under its query-parameter name.
    to = serializers.DateField(required=False, help_text="Last day of the period (default today).")
    expiring_within = serializers.IntegerField(required=False, min_value=1, max_value=MAX_EXPIRING_WITHIN_DAYS)


ReportInput._declared_fields["from"] = serializers.DateField(  # type: ignore[attr-defined]
    required=False, help_text="First day of the period (default 30 days before `to`)."
)


class PurposeCountOutput(serializers.Serializer[Any]):
    purpose = serializers.CharField(source="purpose.key")
    granted = serializers.IntegerField()
    pending = serializers.IntegerField()
    revoked = serializers.IntegerField()
    never_asked = serializers.IntegerField()


class ChangeCountOutput(serializers.Serializer[Any]):
    kind = serializers.CharField()
    purpose = serializers.CharField()
    to_status = serializers.CharField()
    count = serializers.IntegerField()


class ExpiringOutput(serializers.Serializer[MarketingAuthorisation]):
    id = serializers.UUIDField()
    contact_id = serializers.UUIDField()
    purpose = serializers.CharField()
    expires_on = serializers.DateField()


class ReportOutput(serializers.Serializer[Any]):
    period_from = serializers.DateField(source="period.start")
    period_to = serializers.DateField(source="period.end")
    contacts_total = serializers.IntegerField(source="counts.contacts_total")
    purposes = PurposeCountOutput(many=True, source="counts.purposes")
    changes = ChangeCountOutput(many=True)
    expiring_within = serializers.IntegerField()
    expiring = ExpiringOutput(many=True)
    expiring_truncated = serializers.BooleanField(help_text="More authorisations expire than are listed.")
