"""Input and output shapes of the campaigns API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from campaigns.models import Campaign, ScheduleKind
from campaigns.selectors import PROGRESS_STATES


class CampaignInputSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200)
    template_id = serializers.UUIDField()
    segment_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    from_name = serializers.CharField(max_length=100)
    from_address = serializers.EmailField(max_length=254)
    reply_to = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    schedule_kind = serializers.ChoiceField(choices=ScheduleKind.choices, default=ScheduleKind.NOW)
    scheduled_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="For `at`: an ISO 8601 time with its offset."
    )
    local_send_date = serializers.DateField(required=False, allow_null=True, default=None)
    local_send_time = serializers.TimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="For `local_time`: the wall-clock time in each recipient's own time zone.",
    )
    tracking_enabled = serializers.BooleanField(
        required=False,
        default=True,
        help_text="Open and click tracking for this campaign (the organisation's tracking settings still apply).",
    )
    department = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default="", help_text="The sending team, for the calendar."
    )


class CampaignOutput(serializers.ModelSerializer[Campaign]):
    template_version_number = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "status",
            "purpose",
            "template_id",
            "template_version_id",
            "template_version_number",
            "segment_id",
            "from_name",
            "from_address",
            "reply_to",
            "schedule_kind",
            "scheduled_at",
            "local_send_date",
            "local_send_time",
            "tracking_enabled",
            "department",
            "approved_at",
            "approved_by_id",
            "created_by_id",
            "created_at",
            "launched_at",
            "audience_size",
            "finished_at",
        ]
        read_only_fields = fields

    def get_template_version_number(self, campaign: Campaign) -> int | None:
        version = campaign.template_version
        return version.number if version is not None else None


class ProgressOutput(serializers.Serializer[Any]):
    campaign_id = serializers.UUIDField()
    status = serializers.CharField()
    total = serializers.IntegerField()
    settled = serializers.IntegerField()
    percent = serializers.IntegerField()
    counts = serializers.DictField(
        child=serializers.IntegerField(), help_text=f"Messages per state: {', '.join(PROGRESS_STATES)}."
    )
