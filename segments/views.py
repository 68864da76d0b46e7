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
from segments.attributes import contact_attribute_values, dictionary_for
from segments.contacts import contact_filter, contact_phi_reveal_record
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
    tag = request.GET.get("tag", "")[:64]
    language = request.GET.get("language", "")[:16]
    contacts = contact_filter(contact_list(tenant=request.tenant, search=search), tag=tag, language=language)
    paginator = Paginator(contacts, CONTACTS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    contact_list_view_record(
        tenant=request.tenant, actor=actor_for_request(request), contacts=list(page), revealed=revealed
    )
    template = "segments/_contact_rows.html" if request.htmx else "segments/contact_list.html"
    filters = (("q", search), ("tag", tag), ("language", language))
    params = {key: value for key, value in (*filters, ("show", "phi" if revealed else "")) if value}
    context = {
        "page": page,
        "search": search,
        "tag": tag,
        "language": language,
        "filtered": bool(search or tag or language),
        "filter_query": urlencode({key: value for key, value in filters if value}),
        "query": urlencode(params),
        "revealed": revealed,
    }
    return render(request, template, context)


@require_GET
@require_permission("contacts.view")
def contact_detail_view(request: TenantRequest, contact_id: uuid.UUID) -> HttpResponse:
    if keys_destroyed(tenant=request.tenant):
        return render(request, "segments/keys_destroyed.html", status=410)
    contact = contact_get(tenant=request.tenant, contact_id=contact_id)
    if not contact.readable:
        return render(request, "segments/keys_destroyed.html", status=410)
    # PHI attributes stay masked until "Show PHI", which needs a fresh passkey step-up.
    show_phi = request.GET.get("show") == "phi"
    if show_phi and not has_fresh_step_up(request):
        return redirect(step_up_url(request))
    contact_view_record(tenant=request.tenant, actor=actor_for_request(request), contact=contact)
    dictionary = dictionary_for(tenant=request.tenant)
    values = contact_attribute_values(contact)
    attributes = [
        {"definition": definition, "value": values[key], "masked": definition.is_phi and not show_phi}
        for key, definition in dictionary.items()
        if key in values
    ]
    phi_keys = [key for key, definition in dictionary.items() if definition.is_phi and key in values]
    if show_phi and phi_keys:
        contact_phi_reveal_record(
            tenant=request.tenant, actor=actor_for_request(request), contact=contact, fields=phi_keys
        )
    context = {
        "contact": contact,
        "attributes": attributes,
        "tags": sorted(contact.tags or {}),
        "has_phi": bool(phi_keys),
        "show_phi": show_phi,
    }
    return render(request, "segments/contact_detail.html", context)
