"""Trigger events: what integrations report about a contact (an appointment booked, a discharge,
a prescription coming due) that automation reacts to.

``TriggerType`` is an organisation's own event type with its declared payload schema; the
built-in types (``campaigns.triggers.BUILTIN_TYPES``) are declared in code. ``TriggerEvent`` is
one event received through the API: its payload's PHI fields encrypted, its other fields as JSON,
idempotent by the caller's own event id (kept encrypted with a blind index: an integration's id
may embed a patient or visit number).
"""

from __future__ import annotations

from django.db import models

from encryption.fields import BlindIndexField, EncryptedTextField
from tenants.managers import TenantModel


class TriggerFieldType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    DATETIME = "datetime", "Date and time"
    BOOLEAN = "boolean", "Yes / no"
    CHOICE = "choice", "Choice"


class TriggerType(TenantModel):
    """An organisation-defined trigger event type. ``fields`` is the payload schema, a list of
    ``{"key", "label", "type", "required", "is_phi", "choices"}`` (checked by
    ``campaigns.triggers.trigger_type_create``); ``correlation_field`` names the field whose value
    ties events of one matter together (a cancellation to its booking)."""

    tenant = models.ForeignKey("tenants.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False)
    key = models.CharField(max_length=64)
    label = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    fields = models.JSONField(default=list)
    correlation_field = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="trigger_type_unique_key")]

    def __str__(self) -> str:
        return self.key


class TriggerEvent(TenantModel):
    """One event received for one contact."""

    tenant = models.ForeignKey("tenants.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False)
    type_key = models.CharField(max_length=64)
    # The caller's own id for the event: what makes a retried request harmless.
    source_id = EncryptedTextField()
    source_id_index = BlindIndexField(source="source_id")
    contact = models.ForeignKey("segments.Contact", on_delete=models.CASCADE, related_name="+", db_index=False)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    # The payload's non-PHI fields, coerced to their declared types (dates as ISO strings).
    data = models.JSONField(default=dict, blank=True)
    # The payload's PHI fields as encrypted JSON; null when it has none.
    phi_data = EncryptedTextField(null=True, blank=True, default=None)
    # A blind index of the correlation field's value (type-independent, so a cancellation finds
    # its booking); empty when the type has none or the event does not carry it.
    correlation_index = models.CharField(max_length=64, blank=True, default="")
    # A keyed digest of the request as understood (type, contact, time, payload): a retry with
    # the same id and a different body is refused, not silently taken as the first.
    digest = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "source_id_index"], name="trigger_event_unique_source_id")
        ]
        indexes = [
            models.Index(fields=["tenant", "contact", "received_at"], name="trigger_event_contact_idx"),
            models.Index(fields=["tenant", "correlation_index"], name="trigger_event_correlation_idx"),
            models.Index(fields=["tenant", "received_at"], name="trigger_event_received_idx"),
        ]

    def __str__(self) -> str:
        return f"TriggerEvent {self.pk}"
