"""Quarantine review, for compliance officers only.

The list shows no PHI: id, time, level, finding types and counts, reasons, status. A held
message's subject and body (with the findings highlighted) appear only on its own page, after a
fresh passkey step-up, and every showing is audited (``quarantine.viewed``, the item id only).
Releasing or rejecting is a POST with the same step-up; a released message may then be sent by
the delivery pipeline, still protected as the policy requires.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from audit.services import actor_for_request
from authn.stepup import require_step_up
from encryption import protection
from encryption.dlp import classify
from encryption.forms import DecisionForm
from encryption.models import QuarantineStatus
from encryption.quarantine import QuarantineError, quarantine_reject, quarantine_release, quarantine_view_record
from encryption.selectors import keys_destroyed, quarantine_get, quarantine_list
from tenants.access import require_permission
from tenants.http import TenantRequest

QUARANTINE_PAGE_SIZE = 100


@require_GET
@require_permission("quarantine.review")
def quarantine_list_view(request: TenantRequest) -> HttpResponse:
    status = request.GET.get("status", QuarantineStatus.HELD)
    if status not in QuarantineStatus.values:
        status = QuarantineStatus.HELD
    items = list(quarantine_list(tenant=request.tenant, status=status)[:QUARANTINE_PAGE_SIZE])
    context = {
        "items": items,
        "status": status,
        "statuses": QuarantineStatus.choices,
        "page_size": QUARANTINE_PAGE_SIZE,
        "action_labels": protection.ACTION_LABELS,
    }
    return render(request, "encryption/quarantine_list.html", context)


@never_cache
@require_GET
@require_permission("quarantine.review")
@require_step_up
def quarantine_detail_view(request: TenantRequest, item_id: uuid.UUID) -> HttpResponse:
    tenant = request.tenant
    item = quarantine_get(tenant=tenant, item_id=item_id)
    context: dict[str, object] = {"item": item, "form": DecisionForm(), "readable": not keys_destroyed(tenant=tenant)}
    if context["readable"]:
        quarantine_view_record(tenant=tenant, actor=actor_for_request(request), item=item)
        subject = item.subject
        context.update(
            # The stored findings are offsets into the text body; the subject is classified again
            # here only to highlight it.
            subject_segments=protection.highlight_segments(subject, classify(subject).findings),
            text_segments=protection.highlight_segments(item.text, item.findings),
            html=item.html,
        )
    return render(request, "encryption/quarantine_detail.html", context)


def _decide(request: TenantRequest, item_id: uuid.UUID, *, release: bool) -> HttpResponse:
    tenant = request.tenant
    item = quarantine_get(tenant=tenant, item_id=item_id)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(error) for errors in form.errors.values() for error in errors))
        return redirect("encryption:quarantine_detail", item_id=item.pk)
    decide = quarantine_release if release else quarantine_reject
    try:
        decide(tenant=tenant, actor=request.user, item=item, note=form.cleaned_data["note"])
    except QuarantineError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("encryption:quarantine_detail", item_id=item.pk)
    if release:
        messages.success(request, "Released: the message may now be sent, still protected as the policy requires.")
    else:
        messages.success(request, "Rejected: the message will not be sent.")
    return redirect("encryption:quarantine_list")


@require_POST
@require_permission("quarantine.review")
@require_step_up
def quarantine_release_view(request: TenantRequest, item_id: uuid.UUID) -> HttpResponse:
    return _decide(request, item_id, release=True)


@require_POST
@require_permission("quarantine.review")
@require_step_up
def quarantine_reject_view(request: TenantRequest, item_id: uuid.UUID) -> HttpResponse:
    return _decide(request, item_id, release=False)
