"""Tracking switches in the web UI: the organisation's (admins: opens, clicks, PHI-bearing
messages) and a campaign's (whoever manages campaigns)."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from audit.services import actor_for_request
from campaigns.selectors import campaign_get
from reporting.tracking import campaign_tracking_set, tracking_settings_for, tracking_settings_update
from segments.contacts import contact_update
from segments.selectors import contact_get
from tenants.access import require_permission
from tenants.http import TenantRequest


@require_http_methods(["GET", "POST"])
@require_permission("tracking.settings")
def tracking_settings_view(request: TenantRequest) -> HttpResponse:
    if request.method == "POST":
        tracking_settings_update(
            tenant=request.tenant,
            user=request.user,
            track_opens=request.POST.get("track_opens") == "on",
            track_clicks=request.POST.get("track_clicks") == "on",
            track_phi_messages=request.POST.get("track_phi_messages") == "on",
        )
        messages.success(request, "Tracking settings saved.")
        return redirect("reporting:tracking_settings")
    return render(request, "reporting/tracking_settings.html", {"row": tracking_settings_for(tenant=request.tenant)})


@require_POST
@require_permission("campaigns.manage")
def campaign_tracking_view(request: TenantRequest, campaign_id: uuid.UUID) -> HttpResponse:
    """Turn a campaign's tracking on or off, in any state (off stops it for what is not sent yet
    and for every later open or click)."""
    campaign = campaign_get(tenant=request.tenant, campaign_id=campaign_id)
    enabled = request.POST.get("enabled") == "on"
    campaign_tracking_set(tenant=request.tenant, user=request.user, campaign=campaign, enabled=enabled)
    messages.success(
        request, "Tracking turned on for this campaign." if enabled else "Tracking turned off for this campaign."
    )
    return redirect("campaigns:campaign_detail", campaign.pk)


@require_POST
@require_permission("contacts.write")
def contact_tracking_view(request: TenantRequest, contact_id: uuid.UUID) -> HttpResponse:
    """Opt a contact out of tracking (or back in), through the contact service (audited as
    ``contact.updated`` naming the field)."""
    contact = contact_get(tenant=request.tenant, contact_id=contact_id)
    opt_out = request.POST.get("opt_out") == "on"
    contact_update(
        tenant=request.tenant,
        actor=actor_for_request(request),
        contact=contact,
        data={"tracking_opt_out": opt_out},
    )
    messages.success(
        request, "Tracking is off for this contact." if opt_out else "Tracking is allowed for this contact."
    )
    return redirect("segments:contact_detail", contact.pk)
