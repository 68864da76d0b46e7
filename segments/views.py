from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from audit.services import actor_for_request
from authn.stepup import has_fresh_step_up, step_up_url
from encryption.selectors import keys_destroyed
from segments.selectors import contact_get, contact_list
from segments.services import contact_list_view_record, contact_view_record
from tenants.access import require_permission
from tenants.http import TenantRequest

CONTACTS_PER_PAGE = 25


@require_GET
@require_permission("contacts.view")
def contact_list_view(request: TenantRequest) -> HttpResponse:
    if keys_destroyed(tenant=request.tenant):
        return render(request, "segments/keys_destroyed.html", status=410)
    search = request.GET.get("q", "")[:100]
    # Names and emails of many contacts at once are PHI in bulk: shown masked, and in full only
    # after a fresh passkey assertion (step-up).
    revealed = request.GET.get("show") == "phi"
    if revealed and not has_fresh_step_up(request):
        return redirect(step_up_url(request))
    paginator = Paginator(contact_list(tenant=request.tenant, search=search), CONTACTS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    contact_list_view_record(
        tenant=request.tenant, actor=actor_for_request(request), contacts=list(page), revealed=revealed
    )
    template = "segments/_contact_rows.html" if request.htmx else "segments/contact_list.html"
    params = {key: value for key, value in (("q", search), ("show", "phi" if revealed else "")) if value}
    context = {"page": page, "search": search, "query": urlencode(params), "revealed": revealed}
    return render(request, template, context)


@require_GET
@require_permission("contacts.view")
def contact_detail_view(request: TenantRequest, contact_id: uuid.UUID) -> HttpResponse:
    if keys_destroyed(tenant=request.tenant):
        return render(request, "segments/keys_destroyed.html", status=410)
    contact = contact_get(tenant=request.tenant, contact_id=contact_id)
    if not contact.readable:
        return render(request, "segments/keys_destroyed.html", status=410)
    contact_view_record(tenant=request.tenant, actor=actor_for_request(request), contact=contact)
    return render(request, "segments/contact_detail.html", {"contact": contact})
