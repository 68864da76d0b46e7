"""Input and output shapes of the templates API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from templates.models import VersionStatus
from templates.services import MAX_BODY_CHARS, MAX_LANGUAGES, MAX_SUBJECT, ContentInput

MAX_COMMENT_CHARS = 5000
MAX_SAMPLE_VALUES = 200
MAX_SAMPLE_VALUE_CHARS = 2000


class ContentInputSerializer(serializers.Serializer[Any]):
    language = serializers.CharField(max_length=16)
    subject = serializers.CharField(max_length=MAX_SUBJECT)
    preheader = serializers.CharField(max_length=MAX_SUBJECT, required=False, allow_blank=True, default="")
    html_body = serializers.CharField(max_length=MAX_BODY_CHARS, trim_whitespace=False)
    text_body = serializers.CharField(
        max_length=MAX_BODY_CHARS,
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,
        help_text="Leave empty to generate the plain-text body from the HTML.",
    )


def contents_from(validated: list[dict[str, Any]]) -> list[ContentInput]:
    return [ContentInput(**content) for content in validated]


class DraftInput(serializers.Serializer[Any]):
    default_language = serializers.CharField(max_length=16, default="en")
    contents = ContentInputSerializer(many=True, allow_empty=False)

    def validate_contents(self, contents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(contents) > MAX_LANGUAGES:
            raise serializers.ValidationError(f"At most {MAX_LANGUAGES} languages.")
        return contents


class TemplateCreateInput(DraftInput):
    name = serializers.CharField(max_length=100)
    purpose = serializers.CharField(max_length=64, help_text="One of the organisation's consent purposes.")
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class SubmitInput(serializers.Serializer[Any]):
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=MAX_COMMENT_CHARS)


class RenderInput(serializers.Serializer[Any]):
    language = serializers.CharField(required=False, allow_blank=True, default="", max_length=16)
    values = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        default=dict,
        help_text=(
            "Sample values for non-PHI merge fields by name (``org.name``, ``campaign.name``, an "
            "attribute not marked PHI); every other field shows its synthetic sample. PHI fields "
            "are refused: previews never carry real patients' data."
        ),
    )

    def validate_values(self, values: dict[str, Any]) -> dict[str, Any]:
        if len(values) > MAX_SAMPLE_VALUES:
            raise serializers.ValidationError(f"At most {MAX_SAMPLE_VALUES} values.")
        for value in values.values():
            if not isinstance(value, str | int | float | bool) or len(str(value)) > MAX_SAMPLE_VALUE_CHARS:
                raise serializers.ValidationError(
                    f"Each value is a string, number or boolean of at most {MAX_SAMPLE_VALUE_CHARS} characters."
                )
        return values


class ProblemOutput(serializers.Serializer[Any]):
    part = serializers.CharField(help_text="subject, preheader, html_body, text_body, language, name or purpose")
    line = serializers.IntegerField(help_text="1-based line in the part; 0 when the problem has no line")
    message = serializers.CharField()


class ContentOutput(serializers.Serializer[Any]):
    language = serializers.CharField()
    subject = serializers.CharField()
    preheader = serializers.CharField()
    html_body = serializers.CharField()
    text_body = serializers.CharField()
    text_generated = serializers.BooleanField()


class ReviewOutput(serializers.Serializer[Any]):
    kind = serializers.CharField()
    author_id = serializers.IntegerField()
    comment = serializers.CharField()
    created_at = serializers.DateTimeField()


class VersionSummaryOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    number = serializers.IntegerField()
    status = serializers.ChoiceField(choices=VersionStatus.choices)
    default_language = serializers.CharField()
    fields_used = serializers.ListField(child=serializers.CharField())
    phi_fields = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)


class VersionOutput(VersionSummaryOutput):
    template_id = serializers.UUIDField()
    created_by_id = serializers.IntegerField()
    submitted_by_id = serializers.IntegerField(allow_null=True)
    decided_by_id = serializers.IntegerField(allow_null=True)
    contents = ContentOutput(many=True)
    reviews = ReviewOutput(many=True)


class TemplateOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    purpose = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    latest_version = serializers.IntegerField(
        source="latest_number", allow_null=True, help_text="The number of the newest version."
    )
    latest_status = serializers.ChoiceField(choices=VersionStatus.choices, allow_null=True)
    approved_version = serializers.IntegerField(
        source="approved_number",
        allow_null=True,
        help_text="The number of the newest approved version: the one that is sent. Null when none is approved.",
    )


class TemplateDetailOutput(TemplateOutput):
    versions = VersionSummaryOutput(many=True)


class RenderOutput(serializers.Serializer[Any]):
    language = serializers.CharField()
    subject = serializers.CharField()
    preheader = serializers.CharField()
    html = serializers.CharField()
    text = serializers.CharField()
