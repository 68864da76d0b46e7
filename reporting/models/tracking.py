"""Tracking: the links of approved template versions that clicks may lead to, and the
organisation's tracking switches."""

from __future__ import annotations

from django.db import models

from tenants.managers import TenantModel

__all__ = ["TrackedLink", "TrackingSettings"]


class TrackedLink(TenantModel):
    """A URL present in an approved template version: the only places a click may redirect to.
    A click carries this row's id (sealed), never the URL."""

    id = models.BigAutoField(primary_key=True)  # type: ignore[assignment]
    version = models.ForeignKey("templates.TemplateVersion", on_delete=models.CASCADE, related_name="+")
    url = models.TextField()
    position = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "url"], name="reporting_tracked_link_once_per_version"),
        ]


class TrackingSettings(TenantModel):
    """The organisation's tracking switches. PHI-bearing messages are not tracked unless the
    organisation turns it on; a campaign and a contact can each turn tracking off."""

    track_opens = models.BooleanField(default=True)
    track_clicks = models.BooleanField(default=True)
    track_phi_messages = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="reporting_tracking_settings_per_tenant")]
