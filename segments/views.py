from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from audit.services import actor_for_request
from authn.stepup import has_fresh_step_up, step_up_url
from consent.selectors import contact_consent_statuses, is_suppressed
from encryption.escrow import contact_escrow_history, contact_replies
from encryption.selectors import keys_destroyed
from segments.attributes import contact_attribute_values, dictionary_for
from segments.contacts import contact_filter, contact_phi_reveal_record
from segments.selectors import ContactSearch, contact_get, contact_list, contact_search_for
from segments.services import contact_list_view_record, contact_view_record
from tenants.access import require_permission
from tenants.http import TenantRequest
from tenants.permissions import role_has_permission

CONTACTS_PER_PAGE = 25


SEARCH_SESSION_KEY = "segments.contact_search"
_LIST_PARAMS = ("search", "tag", "language", "show")


@require_http_methods(["GET", "POST"])
@require_permission("contacts.view")
def contact_list_view(request: TenantRequest) -> HttpResponse:
    """The contact list. A search (an email address or external id: PHI) is POSTed, kept in
    the session as blind indexes and applied while the URL says ``search=on``: the searched text
    never appears in a URL, the browser's history or a log."""
    if keys_destroyed(tenant=request.tenant):
        return render(request, "segments/keys_destroyed.html", status=410)
    if request.method == "POST":
        params = _search_submitted(request)
        clean_url = _list_url(params)
        if not request.htmx:
            return redirect(clean_url)
        response = _contact_list_page(request, params)
        response["HX-Push-Url"] = clean_url
        return response
    params = {key: request.GET.get(key, "") for key in (*_LIST_PARAMS, "page")}
    return _contact_list_page(request, params)


def _search_submitted(request: TenantRequest) -> dict[str, str]:
    search = contact_search_for(tenant=request.tenant, text=request.POST.get("q", "")[:320])
    if search is None:
        request.session.pop(SEARCH_SESSION_KEY, None)
    else:
        request.session[SEARCH_SESSION_KEY] = {"tenant": request.tenant.pk, "search": search.as_session_value()}
    return {
        "search": "on" if search is not None else "",
        "tag": request.POST.get("tag", "")[:64],
        "language": request.POST.get("language", "")[:16],
        "show": "phi" if request.POST.get("show") == "phi" else "",
    }


def _stored_search(request: TenantRequest) -> ContactSearch | None:
    stored = request.session.get(SEARCH_SESSION_KEY)
    if not isinstance(stored, dict) or stored.get("tenant") != request.tenant.pk:
        return None
    return ContactSearch.from_session_value(stored.get("search"))


def _list_url(params: dict[str, str]) -> str:
    query = urlencode({key: value for key, value in params.items() if value})
    return reverse("segments:contact_list") + (f"?{query}" if query else "")


def _contact_list_page(request: TenantRequest, params: dict[str, str]) -> HttpResponse:
    # Names and emails of many contacts at once are PHI in bulk: shown masked, and in full only
    # after a fresh passkey assertion (step-up).
    revealed = params.get("show") == "phi"
    if revealed and not has_fresh_step_up(request):
        return redirect(step_up_url(request))
    search = _stored_search(request) if params.get("search") == "on" else None
    tag = params.get("tag", "")[:64]
    language = params.get("language", "")[:16]
    contacts = contact_filter(contact_list(tenant=request.tenant, search=search), tag=tag, language=language)
    paginator = Paginator(contacts, CONTACTS_PER_PAGE)
    page = paginator.get_page(params.get("page"))
    contact_list_view_record(
        tenant=request.tenant, actor=actor_for_request(request), contacts=list(page), revealed=revealed
    )
    template = "segments/_contact_rows.html" if request.htmx else "segments/contact_list.html"
    filters = (("search", "on" if search is not None else ""), ("tag", tag), ("language", language))
    query_params = {key: value for key, value in (*filters, ("show", "phi" if revealed else "")) if value}
    context = {
        "page": page,
        "searching": search is not None,
        "tag": tag,
        "language": language,
        "filtered": bool(search or tag or language),
        "filter_query": urlencode({key: value for key, value in filters if value}),
        "unsearched_query": urlencode({key: value for key, value in query_params.items() if key != "search"}),
        "query": urlencode(query_params),
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
        "consent_statuses": contact_consent_statuses(tenant=request.tenant, contact=contact),
        "suppressed": is_suppressed(tenant=request.tenant, contact=contact),
        "can_write": role_has_permission(request.membership.role, "contacts.write"),
        "escrowed": contact_escrow_history(tenant=request.tenant, contact=contact),
        "replies": contact_replies(tenant=request.tenant, contact=contact)
        if role_has_permission(request.membership.role, "escrow.replies")
        else None,
    }
    return render(request, "segments/contact_detail.html", context)
