"""Web forms of campaigns: shape only; the rules are in ``campaigns.services``."""

from __future__ import annotations

from collections.abc import Sequence
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
    department = forms.CharField(
        max_length=100, required=False, help_text="The sending team, for the calendar (e.g. Cardiology, Billing)."
    )
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
            "department": campaign.department,
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
            department=data.get("department") or "",
        )


class CampaignSettingsForm(forms.Form):
    """The overall cap, then a cap per purpose (``cap_<purpose>_messages`` / ``_days``, added for
    the organisation's purposes; empty: no cap), quiet hours and the fallback time zone."""

    cap_messages = forms.IntegerField(
        label="At most this many campaign messages per contact", min_value=0, max_value=100, help_text="0: no cap."
    )
    cap_days = forms.IntegerField(label="in this many days", min_value=1, max_value=365)
    transactional_cap_exempt = forms.BooleanField(
        label="Transactional purposes are exempt from caps",
        required=False,
        help_text="Appointment reminders, billing, care and your own non-marketing purposes are neither capped "
        "nor counted towards the overall cap.",
    )
    quiet_hours_start = forms.TimeField(
        label="Quiet hours start",
        required=False,
        help_text="Recipient's local time, e.g. 21:00. Journey and transactional messages due in quiet hours wait "
        "for their end. Empty (with the end): no quiet hours.",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    quiet_hours_end = forms.TimeField(
        label="Quiet hours end", required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    quiet_hours_transactional = forms.BooleanField(label="Quiet hours hold transactional messages too", required=False)
    default_time_zone = forms.CharField(
        label="Time zone for contacts without one",
        max_length=64,
        help_text="For local-time schedules and quiet hours.",
    )

    def __init__(self, *args: Any, purposes: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.purpose_keys = [purpose.key for purpose in purposes]
        for purpose in purposes:
            self.fields[f"cap_{purpose.key}_messages"] = forms.IntegerField(
                label=f"{purpose.name}: at most this many messages", required=False, min_value=1, max_value=100
            )
            self.fields[f"cap_{purpose.key}_days"] = forms.IntegerField(
                label="in this many days", required=False, min_value=1, max_value=365
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for key in self.purpose_keys:
            messages, days = cleaned.get(f"cap_{key}_messages"), cleaned.get(f"cap_{key}_days")
            if (messages is None) != (days is None) and not self.errors.get(f"cap_{key}_messages"):
                self.add_error(f"cap_{key}_days", "Give both numbers for this purpose's cap, or neither.")
        return cleaned

    def settings_values(self) -> dict[str, Any]:
        """The cleaned values as ``campaign_settings_update`` takes them."""
        data = self.cleaned_data
        caps = {
            key: (data[f"cap_{key}_messages"], data[f"cap_{key}_days"])
            for key in self.purpose_keys
            if data.get(f"cap_{key}_messages") is not None and data.get(f"cap_{key}_days") is not None
        }
        names = (
            "cap_messages",
            "cap_days",
            "default_time_zone",
            "transactional_cap_exempt",
            "quiet_hours_start",
            "quiet_hours_end",
            "quiet_hours_transactional",
        )
        return {**{name: data.get(name) for name in names}, "purpose_caps": caps}

    @staticmethod
    def initial_for(current: Any) -> dict[str, Any]:
        initial = {
            "cap_messages": current.cap_messages,
            "cap_days": current.cap_days,
            "default_time_zone": current.default_time_zone,
            "transactional_cap_exempt": current.transactional_cap_exempt,
            "quiet_hours_start": current.quiet_hours_start,
            "quiet_hours_end": current.quiet_hours_end,
            "quiet_hours_transactional": current.quiet_hours_transactional,
        }
        for key, value in (current.purpose_caps or {}).items():
            initial[f"cap_{key}_messages"], initial[f"cap_{key}_days"] = value
        return initial


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


STEP_TYPE_CHOICES = [("", "—"), ("wait", "Wait"), ("send", "Send a message"), ("condition", "Only if in segment")]


class JourneyForm(forms.Form):
    name = forms.CharField(max_length=200)
    trigger_type = forms.ChoiceField(label="Starts when", help_text="The trigger event that starts a contact's walk.")
    exit_types = forms.MultipleChoiceField(
        label="Ends when",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="An event of these types for the same contact and the same appointment (or bill, prescription...) "
        "ends the walk.",
    )
    purpose = forms.ChoiceField(help_text="Messages go under this consent purpose; send steps use its templates.")
    department = forms.CharField(max_length=100, required=False, help_text="For the calendar, e.g. Cardiology.")
    from_name = forms.CharField(label="From name", max_length=100)
    from_address = forms.EmailField(
        label="From address", max_length=254, help_text="On one of the organisation's verified sending domains."
    )

    def __init__(self, *args: Any, tenant: Organisation, **kwargs: Any) -> None:
        from campaigns.triggers import trigger_types_for
        from consent.purposes import purposes_for

        super().__init__(*args, **kwargs)
        types = [(key, f"{spec.label} ({key})") for key, spec in trigger_types_for(tenant=tenant).items()]
        cast(forms.ChoiceField, self.fields["trigger_type"]).choices = types
        cast(forms.MultipleChoiceField, self.fields["exit_types"]).choices = types
        cast(forms.ChoiceField, self.fields["purpose"]).choices = [
            (purpose.key, purpose.name) for purpose in purposes_for(tenant=tenant)
        ]


class JourneyStepForm(forms.Form):
    type = forms.ChoiceField(choices=STEP_TYPE_CHOICES, required=False)
    template = forms.ChoiceField(required=False)
    segment = forms.ChoiceField(required=False)
    days = forms.IntegerField(required=False, min_value=-730, max_value=730)
    hours = forms.IntegerField(required=False, min_value=-17520, max_value=17520)
    minutes = forms.IntegerField(required=False, min_value=-100000, max_value=100000)
    until = forms.ChoiceField(required=False)
    at = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))

    def __init__(self, *args: Any, tenant: Organisation, time_fields: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["template"]).choices = [("", "—")] + [
            (str(template.pk), f"{template.name} ({template.purpose})") for template in template_list(tenant=tenant)
        ]
        cast(forms.ChoiceField, self.fields["segment"]).choices = [("", "—")] + [
            (str(segment.pk), segment.name) for segment in segment_list(tenant=tenant)
        ]
        cast(forms.ChoiceField, self.fields["until"]).choices = [("", "from now")] + [
            (key, f"the event's {key}") for key in time_fields
        ]

    def as_step(self, segments: dict[str, Any]) -> dict[str, Any] | None:
        """The step this row describes, in the form ``campaigns.journeys.clean_steps`` checks."""
        data = self.cleaned_data
        kind = data.get("type")
        if not kind:
            return None
        if kind == "send":
            return {"type": "send", "template": data.get("template") or ""}
        if kind == "condition":
            segment = segments.get(data.get("segment") or "")
            return {"type": "condition", "rules": segment.rules if segment else None, "segment": data.get("segment")}
        step: dict[str, Any] = {"type": "wait"}
        for unit in ("days", "hours", "minutes"):
            if data.get(unit):
                step[unit] = data[unit]
        if data.get("until"):
            step["until"] = data["until"]
        if data.get("at"):
            step["at"] = data["at"].strftime("%H:%M")
        return step

    @staticmethod
    def initial_for(step: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": step["type"],
            "template": step.get("template", ""),
            "segment": step.get("segment", ""),
            "days": step.get("days"),
            "hours": step.get("hours"),
            "minutes": step.get("minutes"),
            "until": step.get("until", ""),
            "at": step.get("at"),
        }
