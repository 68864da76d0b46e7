"""The campaigns web UI: list, create and edit drafts, the campaign page with its pre-launch
checklist and live progress (htmx polling every 2 s, one grouped COUNT), compliance approval,
launch with a confirmation showing how many recipients it would freeze, pause, resume, cancel,
test sends, and the organisation's campaign settings. Every step goes through
``campaigns.services`` (state rules, audit); a refused step comes back as a message."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from campaigns.checks import launch_plan
from campaigns.forms import CampaignForm, CampaignSettingsForm
from campaigns.freeze import audience_queryset
from campaigns.models import Campaign, CampaignStatus
from campaigns.selectors import campaign_get, campaign_list, campaign_progress, campaign_settings
from campaigns.services import (
    CampaignInvalid,
    CampaignStateError,
    LaunchRefused,
    campaign_approve,
    campaign_cancel,
    campaign_create,
    campaign_launch,
    campaign_pause,
    campaign_resume,
    campaign_send_test,
    campaign_settings_update,
    campaign_test_version,
    campaign_update,
)
from templates.test_sends import SendTestRefused, allowed_addresses
from tenants.access import require_permission
from tenants.http import TenantRequest
from tenants.permissions import role_has_permission

RUNNING = (CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED)


def _can(request: TenantRequest, code: str) -> bool:
    return role_has_permission(request.membership.role, code)


def _detail(campaign: Campaign, anchor: str = "") -> HttpResponse:
    response = redirect("campaigns:campaign_detail", campaign_id=campaign.pk)
    if anchor:
        response["Location"] += f"#{anchor}"
    return response


def _add_errors(form: CampaignForm | CampaignSettingsForm, invalid: CampaignInvalid) -> None:
    for name, message in invalid.errors.items():
        form.add_error(name if name in form.fields else None, message)


@require_http_methods(["GET"])
@require_permission("campaigns.view")
def campaign_list_view(request: TenantRequest) -> HttpResponse:
    context = {"campaigns": campaign_list(tenant=request.tenant), "can_manage": _can(request, "campaigns.manage")}
    return render(request, "campaigns/campaign_list.html", context)


@require_http_methods(["GET", "POST"])
@require_permission("campaigns.manage")
def campaign_create_view(request: TenantRequest) -> HttpResponse:
    form = CampaignForm(request.POST or None, tenant=request.tenant, initial={"schedule_kind": "now"})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                campaign = campaign_create(tenant=request.tenant, user=request.user, data=form.to_input())
            except CampaignInvalid as invalid:
                _add_errors(form, invalid)
            else:
                messages.success(request, "Campaign created as a draft.")
                return _detail(campaign)
        status = 400
    return render(request, "campaigns/campaign_form.html", {"form": form, "campaign": None}, status=status)


@require_http_methods(["GET", "POST"])
@require_permission("campaigns.manage")
def campaign_edit_view(request: TenantRequest, campaign_id: uuid.UUID) -> HttpResponse:
    campaign = campaign_get(tenant=request.tenant, campaign_id=campaign_id)
    if not campaign.is_editable:
        messages.error(request, "Only a draft campaign can be changed.")
        return _detail(campaign)
    form = CampaignForm(request.POST or None, tenant=request.tenant, initial=CampaignForm.initial_for(campaign))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                campaign_update(tenant=request.tenant, user=request.user, campaign=campaign, data=form.to_input())
            except CampaignInvalid as invalid:
                _add_errors(form, invalid)
            except CampaignStateError as error:
                messages.error(request, str(error))
                return _detail(campaign)
            else:
                messages.success(request, "Campaign saved.")
                return _detail(campaign)
        status = 400
    return render(request, "campaigns/campaign_form.html", {"form": form, "campaign": campaign}, status=status)


def _progress_context(request: TenantRequest, campaign: Campaign) -> dict[str, Any]:
    progress = campaign_progress(tenant=request.tenant, campaign=campaign)
    return {
        "campaign": campaign,
        "progress": progress,
        "polling": campaign.status in RUNNING or progress.total > progress.settled,
    }


@require_http_methods(["GET"])
@require_permission("campaigns.view")
def campaign_detail_view(request: TenantRequest, campaign_id: uuid.UUID) -> HttpResponse:
    campaign = campaign_get(tenant=request.tenant, campaign_id=campaign_id)
    can_manage = _can(request, "campaigns.manage")
    plan = launch_plan(tenant=request.tenant, campaign=campaign) if campaign.is_editable else None
    context = {
        **_progress_context(request, campaign),
        "plan": plan,
        "can_manage": can_manage,
        "can_approve": _can(request, "campaigns.approve") and campaign.is_editable,
        "can_pause": can_manage and campaign.status in (CampaignStatus.SCHEDULED, CampaignStatus.SENDING),
        "can_resume": can_manage and campaign.status == CampaignStatus.PAUSED,
        "can_cancel": can_manage and campaign.status in (CampaignStatus.DRAFT, *RUNNING),
        "test_version": campaign_test_version(tenant=request.tenant, campaign=campaign) if can_manage else None,
        "test_addresses": allowed_addresses(tenant=request.tenant) if can_manage else [],
    }
    return render(request, "campaigns/campaign_detail.html", context)


@require_http_methods(["GET"])
@require_permission("campaigns.view")
def campaign_progress_view(request: TenantRequest, campaign_id: uuid.UUID) -> HttpResponse:
    """The progress fragment the campaign page polls: two queries (the campaign, the counts)."""
    campaign = campaign_get(tenant=request.tenant, campaign_id=campaign_id)
    response = render(request, "campaigns/_progress.html", _progress_context(request, campaign))
    response["Cache-Control"] = "private, no-store"
    return response


@require_http_methods(["POST"])
@require_permission("campaigns.approve")
def campaign_approve_view(request: TenantRequest, campaign_id: uuid.UUID) -> HttpResponse:
    campaign = campaign_get(tenant=request.tenant, campaign_id=campaign_id)
    try:
        approved = campaign_approve(tenant=request.tenant, user=request.user, campaign=campaign)
    except CampaignStateError as error:
        messages.error(request, str(error))
    else:
        version = approved.approved_version
        messages.success(request, f"Campaign approved with template version {version.number if version else ''}.")
    return _detail(campaign, "checklist")


@require_http_methods(["GET", "POST"])
@require_permission("campaigns.manage")
def campaign_launch_view(request: TenantRequest, campaign_id: uuid.UUID) -> HttpResponse:
    """GET: the confirmation, with the checklist and how many recipients launch would freeze
    now. POST: launch."""
    campaign = campaign_get(tenant=request.tenant, campaign_id=campaign_id)
    if request.method == "POST":
        try:
            launched = campaign_launch(tenant=request.tenant, user=request.user, campaign=campaign)
        except LaunchRefused as refused:
            messages.error(request, f"Not launched: {refused}")
        except CampaignStateError as error:
            messages.error(request, str(error))
        else:
            when = "is sending" if launched.status == CampaignStatus.SENDING else "is scheduled"
            messages.success(request, f"Launched: {launched.audience_size} messages; the campaign {when}.")
        return _detail(campaign)
    plan = launch_plan(tenant=request.tenant, campaign=campaign)
    estimate = None
    if plan.ready:
        estimate = audience_queryset(
            tenant=request.tenant,
            campaign=campaign,
            settings=campaign_settings(tenant=request.tenant),
            now=timezone.now(),
        ).count()
    return render(request, "campaigns/campaign_launch.html", {"campaign": campaign, "plan": plan, "estimate": estimate})


def _step(request: TenantRequest, campaign_id: uuid.UUID, service: Any, done: str) -> HttpResponse:
    campaign = campaign_get(tenant=request.tenant, campaign_id=campaign_id)
    try:
        service(tenant=request.tenant, user=request.user, campaign=campaign)
    except CampaignStateError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, done)
    return _detail(campaign)


@require_http_methods(["POST"])
@require_permission("campaigns.manage")
def campaign_pause_view(request: TenantRequest, campaign_id: uuid.UUID) -> HttpResponse:
    return _step(request, campaign_id, campaign_pause, "Paused: no more messages will be sent until you resume.")


@require_http_methods(["POST"])
@require_permission("campaigns.manage")
def campaign_resume_view(request: TenantRequest, campaign_id: uuid.UUID) -> HttpResponse:
    return _step(request, campaign_id, campaign_resume, "Resumed.")


@require_http_methods(["POST"])
@require_permission("campaigns.manage")
def campaign_cancel_view(request: TenantRequest, campaign_id: uuid.UUID) -> HttpResponse:
    return _step(request, campaign_id, campaign_cancel, "Cancelled: the messages still waiting will not be sent.")


@require_http_methods(["POST"])
@require_permission("campaigns.manage")
def campaign_test_send_view(request: TenantRequest, campaign_id: uuid.UUID) -> HttpResponse:
    campaign = campaign_get(tenant=request.tenant, campaign_id=campaign_id)
    language = request.POST.get("language", "")[:16]
    address_id = request.POST.get("recipient", "")[:64]
    try:
        campaign_send_test(
            tenant=request.tenant, user=request.user, campaign=campaign, language=language, address_id=address_id
        )
    except SendTestRefused as error:
        messages.error(request, str(error))
    else:
        where = "the listed test address" if address_id else "your own address"
        messages.success(request, f"A test message with sample data is on its way to {where}.")
    return _detail(campaign, "test-send")


@require_http_methods(["GET", "POST"])
@require_permission("campaigns.manage")
def campaign_settings_view(request: TenantRequest) -> HttpResponse:
    from consent.purposes import purposes_for

    current = campaign_settings(tenant=request.tenant)
    form = CampaignSettingsForm(
        request.POST or None,
        initial=CampaignSettingsForm.initial_for(current),
        purposes=purposes_for(tenant=request.tenant),
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                campaign_settings_update(tenant=request.tenant, user=request.user, **form.settings_values())
            except CampaignInvalid as invalid:
                _add_errors(form, invalid)
            else:
                messages.success(request, "Campaign settings saved.")
                return redirect("campaigns:settings")
        status = 400
    return render(request, "campaigns/settings.html", {"form": form}, status=status)
