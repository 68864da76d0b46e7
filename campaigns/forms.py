"""Web forms of campaigns: shape only; the rules are in ``campaigns.services``."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from campaigns.models import Campaign, ScheduleKind, TriggerFieldType
from campaigns.services import CampaignInput
from segments.segment_services import segment_list
from templates.selectors import template_list
from tenants.models import Organisation


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=200)
    template = forms.ChoiceField(help_text="Its newest approved version is sent; the campaign takes its purpose.")
    segment = forms.ChoiceField(label="Audience segment")
    from_name = forms.CharField(label="From name", max_length=100)
    from_address = forms.EmailField(
        label="From address", max_length=254, help_text="On one of the organisation's verified sending domains."
    )
    reply_to = forms.EmailField(label="Reply-to address", max_length=254, required=False)
    schedule_kind = forms.ChoiceField(label="When", choices=ScheduleKind.choices, widget=forms.RadioSelect)
    scheduled_at = forms.DateTimeField(
        label="Send at (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    local_send_date = forms.DateField(
        label="Local date", required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    local_send_time = forms.TimeField(
        label="Local time",
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="Each recipient gets it at this time in their own time zone (at once if it has passed there).",
    )
    tracking = forms.ChoiceField(
        label="Open and click tracking",
        choices=[("on", "On (as the organisation's tracking settings allow)"), ("off", "Off for this campaign")],
        widget=forms.RadioSelect,
        required=False,
        initial="on",
        help_text="Never for messages with PHI unless the organisation allows it, nor for recipients who opted out.",
    )

    def __init__(self, *args: Any, tenant: Organisation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        template_field = cast(forms.ChoiceField, self.fields["template"])
        segment_field = cast(forms.ChoiceField, self.fields["segment"])
        template_field.choices = [("", "Choose a template")] + [
            (str(template.pk), f"{template.name} ({template.purpose})") for template in template_list(tenant=tenant)
        ]
        segment_field.choices = [("", "Choose a segment")] + [
            (str(segment.pk), segment.name) for segment in segment_list(tenant=tenant)
        ]

    @classmethod
    def initial_for(cls, campaign: Campaign) -> dict[str, Any]:
        return {
            "name": campaign.name,
            "template": str(campaign.template_id),
            "segment": str(campaign.segment_id or ""),
            "from_name": campaign.from_name,
            "from_address": campaign.from_address,
            "reply_to": campaign.reply_to,
            "schedule_kind": campaign.schedule_kind,
            "scheduled_at": campaign.scheduled_at,
            "local_send_date": campaign.local_send_date,
            "local_send_time": campaign.local_send_time,
            "tracking": "on" if campaign.tracking_enabled else "off",
        }

    def to_input(self) -> CampaignInput:
        data = self.cleaned_data
        return CampaignInput(
            name=data["name"],
            template_id=data["template"],
            segment_id=data["segment"] or None,
            from_name=data["from_name"],
            from_address=data["from_address"],
            reply_to=data.get("reply_to") or "",
            schedule_kind=data["schedule_kind"],
            scheduled_at=data.get("scheduled_at"),
            local_send_date=data.get("local_send_date"),
            local_send_time=data.get("local_send_time"),
            tracking_enabled={"on": True, "off": False}.get(data.get("tracking") or ""),
        )


class CampaignSettingsForm(forms.Form):
    cap_messages = forms.IntegerField(
        label="At most this many campaign messages per contact", min_value=0, max_value=100, help_text="0: no cap."
    )
    cap_days = forms.IntegerField(label="in this many days", min_value=1, max_value=365)
    default_time_zone = forms.CharField(
        label="Time zone for contacts without one", max_length=64, help_text="For local-time schedules."
    )


class TriggerTypeForm(forms.Form):
    key = forms.CharField(
        max_length=64,
        help_text="Lower-case words joined by dots, e.g. referral.received: what integrations send as type.",
    )
    label = forms.CharField(max_length=100, help_text="The name people see.")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    correlation_field = forms.CharField(
        max_length=64,
        required=False,
        help_text="Optional: the field whose value ties events of one matter together (e.g. referral_id).",
    )


class TriggerFieldForm(forms.Form):
    key = forms.CharField(max_length=64, required=False)
    label = forms.CharField(max_length=100, required=False)
    type = forms.ChoiceField(choices=TriggerFieldType.choices, initial=TriggerFieldType.TEXT)
    required = forms.BooleanField(required=False)
    is_phi = forms.BooleanField(required=False, initial=True, label="PHI")
    choices = forms.CharField(max_length=1000, required=False, help_text="For a choice: the values, comma-separated.")

    def as_definition(self) -> dict[str, object]:
        data = self.cleaned_data
        return {
            "key": data["key"].strip(),
            "label": data["label"].strip() or data["key"].strip(),
            "type": data["type"],
            "required": data["required"],
            "is_phi": data["is_phi"],
            "choices": [part.strip() for part in data["choices"].split(",") if part.strip()],
        }
