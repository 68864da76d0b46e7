"""Journey pages and the department calendar: the list, creating a journey with its steps, the
journey's page (the steps as a flow with how many contacts are at each and what each send step's
messages did, its versions and their review), editing the steps (a new draft), submitting,
reviewing (compliance officers), activating, pausing and resuming; and what goes out when, by
department."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib import messages
from django.db.models import Count
from django.forms import BaseFormSet, formset_factory
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from audit.services import actor_for_request
from campaigns.calendar import calendar_days, organisation_zone
from campaigns.forms import JourneyForm, JourneyStepForm
from campaigns.journeys import (
    JourneyInput,
    JourneyInvalid,
    JourneyStateError,
    journey_activate,
    journey_create,
    journey_pause,
    journey_resume,
    journey_version_draft,
    journey_version_review,
    journey_version_submit,
    walks_by_step,
    walks_ended,
)
from campaigns.models import (
    Journey,
    JourneySendStep,
    JourneyVersion,
    Message,
)
from campaigns.selectors import journey_get, journey_version_get
from campaigns.trigger_models import TriggerFieldType
from campaigns.triggers import trigger_types_for
from segments.models import Segment
from templates.models import EmailTemplate
from tenants.access import require_permission
from tenants.http import TenantRequest
from tenants.permissions import role_has_permission

STEP_ROWS = 8
CALENDAR_DAYS = 14


def _time_fields(request: TenantRequest) -> list[str]:
    keys: set[str] = set()
    for spec in trigger_types_for(tenant=request.tenant).values():
        keys.update(f.key for f in spec.fields if f.type in (TriggerFieldType.DATE, TriggerFieldType.DATETIME))
    return sorted(keys)


def _step_formset(request: TenantRequest, initial: list[dict[str, Any]] | None = None) -> BaseFormSet[JourneyStepForm]:
    formset_class = formset_factory(JourneyStepForm, extra=max(0, STEP_ROWS - len(initial or [])), max_num=STEP_ROWS)
    return formset_class(
        request.POST or None,
        initial=initial,
        prefix="steps",
        form_kwargs={"tenant": request.tenant, "time_fields": _time_fields(request)},
    )


def _steps_from(request: TenantRequest, formset: BaseFormSet[JourneyStepForm]) -> list[dict[str, Any]]:
    segments = {str(s.pk): s for s in Segment.objects.for_tenant(request.tenant)}
    steps = [form.as_step(segments) for form in formset]
    return [step for step in steps if step is not None]


def _step_prefix(path: str) -> str:
    """``steps.2.until`` -> "Step 3: " (how people number them); "" for other fields."""
    return f"Step {int(path.split('.')[1]) + 1}: " if path.startswith("steps.") else ""


def _add_errors(form: Any, invalid: JourneyInvalid) -> None:
    for path, problems in invalid.fields.items():
        field = path if path in form.fields else None
        for problem in problems:
            form.add_error(field, f"{_step_prefix(path)}{problem}")


def _flash_problems(request: TenantRequest, fields: dict[str, list[str]]) -> None:
    for path, problems in fields.items():
        for problem in problems:
            messages.error(request, f"{_step_prefix(path)}{problem}")


@require_http_methods(["GET"])
@require_permission("campaigns.view")
def journey_list_view(request: TenantRequest) -> HttpResponse:
    journeys = list(Journey.objects.for_tenant(request.tenant).order_by("name"))
    types = trigger_types_for(tenant=request.tenant)
    return render(
        request,
        "campaigns/journey_list.html",
        {
            "journeys": [(journey, types.get(journey.trigger_type)) for journey in journeys],
            "can_manage": role_has_permission(request.membership.role, "campaigns.manage"),
        },
    )


@require_http_methods(["GET", "POST"])
@require_permission("campaigns.manage")
def journey_create_view(request: TenantRequest) -> HttpResponse:
    form = JourneyForm(request.POST or None, tenant=request.tenant)
    steps = _step_formset(request)
    status = 200
    if request.method == "POST":
        if form.is_valid() and steps.is_valid():
            data = form.cleaned_data
            try:
                journey = journey_create(
                    tenant=request.tenant,
                    user=request.user,
                    actor=actor_for_request(request),
                    data=JourneyInput(
                        name=data["name"],
                        trigger_type=data["trigger_type"],
                        purpose=data["purpose"],
                        from_name=data["from_name"],
                        from_address=data["from_address"],
                        exit_types=tuple(data["exit_types"]),
                        department=data["department"],
                    ),
                    steps=_steps_from(request, steps),
                )
            except JourneyInvalid as invalid:
                _add_errors(form, invalid)
            else:
                messages.success(request, "Journey created as a draft. Submit it for review when it is ready.")
                return redirect("campaigns:journey_detail", journey_id=journey.pk)
        status = 400
    context = {"form": form, "steps": steps, "title": "New journey"}
    return render(request, "campaigns/journey_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@require_permission("campaigns.manage")
def journey_steps_view(request: TenantRequest, journey_id: uuid.UUID) -> HttpResponse:
    journey = journey_get(tenant=request.tenant, journey_id=journey_id)
    latest = JourneyVersion.objects.for_tenant(request.tenant).filter(journey=journey).order_by("-number").first()
    initial = [JourneyStepForm.initial_for(step) for step in (latest.steps if latest else [])]
    steps = _step_formset(request, initial)
    status = 200
    if request.method == "POST":
        if steps.is_valid():
            try:
                version = journey_version_draft(
                    tenant=request.tenant,
                    user=request.user,
                    actor=actor_for_request(request),
                    journey=journey,
                    steps=_steps_from(request, steps),
                )
            except JourneyInvalid as invalid:
                _flash_problems(request, invalid.fields)
            else:
                messages.success(request, f"Saved as draft version {version.number}.")
                return redirect("campaigns:journey_detail", journey_id=journey.pk)
        status = 400
    context = {"journey": journey, "steps": steps, "title": f"Steps of {journey.name}"}
    return render(request, "campaigns/journey_steps.html", context, status=status)


@require_http_methods(["GET"])
@require_permission("campaigns.view")
def journey_detail_view(request: TenantRequest, journey_id: uuid.UUID) -> HttpResponse:
    journey = journey_get(tenant=request.tenant, journey_id=journey_id)
    versions = list(JourneyVersion.objects.for_tenant(request.tenant).filter(journey=journey).order_by("-number"))
    shown = journey.active_version or (versions[0] if versions else None)
    role = request.membership.role
    context = {
        "journey": journey,
        "versions": versions,
        "shown": shown,
        "flow": _flow(request, journey, shown) if shown else [],
        "ended": sorted(walks_ended(tenant=request.tenant, journey=journey).items()),
        "trigger": trigger_types_for(tenant=request.tenant).get(journey.trigger_type),
        "can_manage": role_has_permission(role, "campaigns.manage"),
        "can_review": role_has_permission(role, "campaigns.approve"),
    }
    return render(request, "campaigns/journey_detail.html", context)


def _flow(request: TenantRequest, journey: Journey, version: JourneyVersion) -> list[dict[str, Any]]:
    """Each step of ``version`` with what it says, how many walks wait before it and, for a send
    step, its messages by status."""
    tenant = request.tenant
    waiting = walks_by_step(tenant=tenant, journey=journey)
    send_steps = {s.step: s.campaign_id for s in JourneySendStep.objects.for_tenant(tenant).filter(version=version)}
    by_campaign: dict[Any, Counter[str]] = {campaign: Counter() for campaign in send_steps.values()}
    if send_steps:
        rows = (
            Message.objects.for_tenant(tenant)
            .filter(campaign_id__in=list(send_steps.values()))
            .values("campaign_id", "status")
            .annotate(n=Count("pk"))
        )
        for row in rows:
            by_campaign[row["campaign_id"]][row["status"]] += row["n"]
    templates = {str(t.pk): t.name for t in EmailTemplate.objects.for_tenant(tenant)}
    segments = {str(s.pk): s.name for s in Segment.objects.for_tenant(tenant)}
    flow = []
    for index, step in enumerate(version.steps):
        campaign = send_steps.get(index)
        flow.append(
            {
                "number": index + 1,
                "type": step["type"],
                "summary": _summary(step, templates, segments),
                "waiting": waiting.get((version.pk, index), 0),
                "messages": sorted(by_campaign[campaign].items()) if campaign else [],
            }
        )
    return flow


def _summary(step: dict[str, Any], templates: dict[str, str], segments: dict[str, str]) -> str:
    if step["type"] == "send":
        return f"Send “{templates.get(step['template'], 'a deleted template')}”"
    if step["type"] == "condition":
        return f"Continue only if in segment “{segments.get(step.get('segment', ''), 'rules')}”"
    parts = [
        f"{abs(step[u])} {u if abs(step[u]) != 1 else u[:-1]}" for u in ("days", "hours", "minutes") if step.get(u)
    ]
    amount = ", ".join(parts)
    if step.get("until"):
        negative = any(step.get(u, 0) < 0 for u in ("days", "hours", "minutes"))
        relation = "before" if negative else "after"
        at = f", at {step['at']} local time" if step.get("at") else ""
        return f"Wait until {amount + ' ' + relation + ' ' if amount else ''}the event's {step['until']}{at}"
    at = f", then until {step['at']} local time" if step.get("at") else ""
    return f"Wait {amount}{at}"


def _state_step(request: TenantRequest, journey: Journey, action: Any) -> HttpResponse:
    try:
        action()
    except JourneyInvalid as invalid:
        _flash_problems(request, invalid.fields)
    except JourneyStateError as refused:
        messages.error(request, str(refused))
    return redirect("campaigns:journey_detail", journey_id=journey.pk)


@require_POST
@require_permission("campaigns.manage")
def journey_submit_view(request: TenantRequest, journey_id: uuid.UUID, version_id: uuid.UUID) -> HttpResponse:
    journey = journey_get(tenant=request.tenant, journey_id=journey_id)
    version = journey_version_get(tenant=request.tenant, journey=journey, version_id=version_id)
    return _state_step(
        request,
        journey,
        lambda: journey_version_submit(
            tenant=request.tenant, user=request.user, actor=actor_for_request(request), version=version
        ),
    )


@require_POST
@require_permission("campaigns.approve")
def journey_review_view(request: TenantRequest, journey_id: uuid.UUID, version_id: uuid.UUID) -> HttpResponse:
    journey = journey_get(tenant=request.tenant, journey_id=journey_id)
    version = journey_version_get(tenant=request.tenant, journey=journey, version_id=version_id)
    approve = request.POST.get("decision") == "approve"
    return _state_step(
        request,
        journey,
        lambda: journey_version_review(
            tenant=request.tenant,
            user=request.user,
            actor=actor_for_request(request),
            version=version,
            approve=approve,
            comment=request.POST.get("comment", "")[:2000],
        ),
    )


@require_POST
@require_permission("campaigns.manage")
def journey_activate_view(request: TenantRequest, journey_id: uuid.UUID, version_id: uuid.UUID) -> HttpResponse:
    journey = journey_get(tenant=request.tenant, journey_id=journey_id)
    version = journey_version_get(tenant=request.tenant, journey=journey, version_id=version_id)
    return _state_step(
        request,
        journey,
        lambda: journey_activate(
            tenant=request.tenant, user=request.user, actor=actor_for_request(request), journey=journey, version=version
        ),
    )


@require_POST
@require_permission("campaigns.manage")
def journey_pause_view(request: TenantRequest, journey_id: uuid.UUID) -> HttpResponse:
    journey = journey_get(tenant=request.tenant, journey_id=journey_id)
    return _state_step(
        request,
        journey,
        lambda: journey_pause(tenant=request.tenant, actor=actor_for_request(request), journey=journey),
    )


@require_POST
@require_permission("campaigns.manage")
def journey_resume_view(request: TenantRequest, journey_id: uuid.UUID) -> HttpResponse:
    journey = journey_get(tenant=request.tenant, journey_id=journey_id)
    return _state_step(
        request,
        journey,
        lambda: journey_resume(tenant=request.tenant, actor=actor_for_request(request), journey=journey),
    )


@require_http_methods(["GET"])
@require_permission("campaigns.view")
def calendar_view(request: TenantRequest) -> HttpResponse:
    """What goes out over the next two weeks (or from ``?start=YYYY-MM-DD``), by day and
    department; a department with two sends on one day is flagged."""
    zone = organisation_zone(request.tenant)
    today = datetime.now(zone).date()
    try:
        start = date.fromisoformat(request.GET.get("start", "")) if request.GET.get("start") else today
    except ValueError:
        start = today
    days = calendar_days(tenant=request.tenant, start=start, days=CALENDAR_DAYS)
    context = {
        "days": days,
        "zone": str(zone),
        "previous": (start - timedelta(days=CALENDAR_DAYS)).isoformat(),
        "next": (start + timedelta(days=CALENDAR_DAYS)).isoformat(),
        "today": today,
    }
    return render(request, "campaigns/calendar.html", context)
