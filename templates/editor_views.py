"""The template pages of the authoring side: the list, creating a template (blank or from a
starter), and the editor with its live preview.

The editor works without JavaScript: every language's fields are plain form fields, Save posts
them, Preview re-renders the page with the preview of what was posted, and merge fields are
listed to copy. With JavaScript the editor gets line numbers, tabs per language, insertion of
merge fields at the cursor and a preview that follows typing (htmx, debounced).

Opening the editor never writes: a submitted version is shown read-only, with a button that
starts the next draft (``draft_for_editing``) on POST.

Previews use synthetic samples unless a contact is picked from a masked list; a picked contact's
PHI stays masked until the user reveals it, which needs a fresh passkey step-up and is audited
(``template.preview_revealed``, with ids and the version number only). The reveal lasts while the
step-up is fresh and only for that template and contact.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.csp import CSP
from django.utils.html import escape
from django.views.decorators.http import require_http_methods

from audit.services import actor_for_request
from authn.stepup import has_fresh_step_up, step_up_url
from consent.purposes import UnknownPurpose, purpose_get, purposes_for
from segments.models import Contact
from segments.selectors import contact_get, contact_list
from segments.services import contact_list_view_record
from templates.analysis import FieldProblem
from templates.checks import checks_for
from templates.context import contact_values
from templates.fields import MergeField, merge_fields
from templates.forms import PARTS, EditorState, TemplateCreateForm, editor_state_from, editor_state_of
from templates.models import EmailTemplate, TemplateVersion
from templates.preview import (
    PreviewRequest,
    PreviewResult,
    language_problems,
    pick_content,
    preview_reveal_record,
    preview_token_load,
    preview_token_store,
    render_preview,
)
from templates.selectors import (
    approved_version,
    template_get,
    template_summaries,
    template_versions,
    version_contents,
    version_get,
)
from templates.services import TemplateInvalid, WorkflowError, draft_for_editing, draft_save, template_create
from templates.starters import STARTERS
from tenants.access import require_permission
from tenants.http import TenantRequest
from tenants.permissions import role_has_permission

# How many recent contacts the preview's sample picker offers (masked).
CONTACT_PICKER_SIZE = 25
SESSION_REVEAL_KEY = "templates_preview_reveal"

# The preview frame shows email HTML: no scripts, forms, plugins or navigation (``sandbox`` in
# the header too, should the frame URL be opened on its own); inline styles as email needs;
# images over HTTPS as a mail client would load them; only Sealpost's own pages may frame it.
PREVIEW_FRAME_CSP = (
    f"default-src {CSP.NONE}; style-src {CSP.UNSAFE_INLINE}; img-src https: data:; font-src https: data:; "
    f"script-src {CSP.NONE}; form-action {CSP.NONE}; base-uri {CSP.NONE}; frame-ancestors {CSP.SELF}; sandbox"
)

_ROOT_LABELS = {
    "contact": "Contact",
    "attr": "Contact attributes",
    "event": "Event",
    "org": "Organisation",
    "campaign": "Campaign",
    "links": "Links",
}
_PART_LABELS = {
    "subject": "Subject",
    "preheader": "Preheader",
    "html_body": "HTML body",
    "text_body": "Plain-text body",
    "language": "Language",
    "purpose": "Purpose",
}
_LANGUAGE_PREFIX = re.compile(r"^\[([A-Za-z0-9-]{1,16})\] (.*)$", re.DOTALL)


def _can_edit(request: TenantRequest) -> bool:
    return role_has_permission(request.membership.role, "templates.edit")


def _purpose_name(request: TenantRequest, key: str) -> str:
    try:
        return purpose_get(tenant=request.tenant, key=key, allow_archived=True).name
    except UnknownPurpose:
        return key


# --- List and creation ---------------------------------------------------------------------------


@require_http_methods(["GET"])
@require_permission("templates.view")
def template_list_view(request: TenantRequest) -> HttpResponse:
    purposes = {purpose.key: purpose.name for purpose in purposes_for(tenant=request.tenant, include_archived=True)}
    rows = [
        {"summary": summary, "purpose": purposes.get(summary.template.purpose, summary.template.purpose)}
        for summary in template_summaries(tenant=request.tenant)
    ]
    return render(request, "templates/template_list.html", {"rows": rows, "can_edit": _can_edit(request)})


def _problem_messages(problems: Sequence[FieldProblem]) -> dict[str, list[str]]:
    placed: dict[str, list[str]] = {}
    for problem in problems:
        line = f" (line {problem.line})" if problem.line else ""
        placed.setdefault(problem.part, []).append(f"{problem.message}{line}")
    return placed


@require_http_methods(["GET", "POST"])
@require_permission("templates.edit")
def template_create_view(request: TenantRequest) -> HttpResponse:
    purposes = purposes_for(tenant=request.tenant)
    problems: dict[str, list[str]] = {}
    if request.method == "POST":
        form = TemplateCreateForm(request.POST, purposes=purposes)
        if form.is_valid():
            starter = STARTERS[form.cleaned_data["starter"]]
            try:
                version = template_create(
                    tenant=request.tenant,
                    user=request.user,  # type: ignore[arg-type]
                    name=form.cleaned_data["name"],
                    purpose=form.cleaned_data["purpose"],
                    description=form.cleaned_data["description"],
                    default_language=starter.default_language,
                    contents=starter.contents,
                )
            except TemplateInvalid as invalid:
                problems = _problem_messages(invalid.problems)
            else:
                messages.success(request, f"Template created from “{starter.name}”. Version 1 is a draft.")
                return redirect("templates:template_edit", template_id=version.template_id)
    else:
        form = TemplateCreateForm(purposes=purposes, initial={"starter": "blank"})
    context = {
        "form": form,
        "starters": list(STARTERS.values()),
        "purposes": purposes,
        "name_problems": problems.pop("name", []),
        "purpose_problems": problems.pop("purpose", []),
        # What is left concerns the starter's content with this purpose (PHI in a marketing one).
        "other_problems": [message for messages_ in problems.values() for message in messages_],
    }
    return render(request, "templates/template_new.html", context, status=400 if request.method == "POST" else 200)


# --- The editor ----------------------------------------------------------------------------------


def _field_entries(catalogue: dict[str, MergeField]) -> list[dict[str, Any]]:
    """The sidebar's merge fields by group, each with the text it inserts."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for field in catalogue.values():
        if field.kind == "list":
            insert = "{% for item in " + field.name + " %}{{ item.description }} {{ item.amount|money }}{% endfor %}"
        else:
            insert = "{{ " + field.name + " }}"
        groups.setdefault(field.root, []).append({"field": field, "insert": insert})
    return [{"label": _ROOT_LABELS.get(root, root), "entries": groups[root]} for root in _ROOT_LABELS if root in groups]


def _placed_problems(
    request: TenantRequest, template: EmailTemplate, state: EditorState, invalid: TemplateInvalid | None
) -> tuple[dict[str, dict[str, list[str]]], list[str]]:
    """Problems beside the field they concern: {language: {part: [message]}}, and the rest.

    Saving analyses every language together, so its problems do not say which language they
    are in; each language is analysed on its own here to place them."""
    placed: dict[str, dict[str, list[str]]] = {}
    shown: set[str] = set()
    general: list[str] = [*state.errors]
    for content in state.contents:
        for problem in language_problems(tenant=request.tenant, purpose=template.purpose, content=content):
            line = f"Line {problem.line}: " if problem.line else ""
            if problem.part in PARTS:
                placed.setdefault(content.language, {}).setdefault(problem.part, []).append(line + problem.message)
                shown.add(problem.message)
            elif problem.message not in general:
                general.append(problem.message)
    for problem in invalid.problems if invalid else []:
        match = _LANGUAGE_PREFIX.match(problem.message)
        if match and problem.part in PARTS and match.group(1) in state.languages:
            placed.setdefault(match.group(1), {}).setdefault(problem.part, []).append(match.group(2))
        elif problem.message not in shown and problem.message not in general:
            general.append(problem.message)
    return placed, general


def _editing_version(request: TenantRequest, template: EmailTemplate) -> TemplateVersion:
    """The draft if there is one, else the latest version (shown read-only)."""
    latest = template_versions(tenant=request.tenant, template=template).first()
    if latest is None:
        raise Http404("This template has no version.")
    return latest


def _posted_version(request: TenantRequest, template: EmailTemplate) -> TemplateVersion | None:
    try:
        version_id = uuid.UUID(str(request.POST.get("version_id", "")))
    except ValueError:
        return None
    try:
        version = version_get(tenant=request.tenant, version_id=version_id)
    except Http404:
        return None
    return version if version.template_id == template.pk else None


def _picker_contacts(request: TenantRequest) -> list[Contact]:
    contacts = [contact for contact in contact_list(tenant=request.tenant)[:CONTACT_PICKER_SIZE] if contact.readable]
    # Initials and masked emails are still drawn from PHI: audited like the masked contact list.
    contact_list_view_record(tenant=request.tenant, actor=actor_for_request(request), contacts=contacts)
    return contacts


def _editor(
    request: TenantRequest,
    *,
    template: EmailTemplate,
    version: TemplateVersion,
    state: EditorState,
    invalid: TemplateInvalid | None = None,
    status: int = 200,
    active_language: str = "",
) -> HttpResponse:
    placed, general = _placed_problems(request, template, state, invalid)
    catalogue = merge_fields(tenant=request.tenant)
    approved = approved_version(tenant=request.tenant, template=template)
    contact_id = request.POST.get("preview_contact") if request.method == "POST" else request.GET.get("contact")
    preview_language = str(request.POST.get("preview_language", "")) if request.method == "POST" else ""
    context = {
        "template": template,
        "version": version,
        "editable": version.is_editable,
        "approved": approved,
        "purpose_name": _purpose_name(request, template.purpose),
        "state": state,
        "languages": [{"content": content, "problems": placed.get(content.language, {})} for content in state.contents],
        "general_problems": general,
        "field_groups": _field_entries(catalogue),
        "contacts": _picker_contacts(request),
        "preview_language": preview_language,
        "active_language": active_language,
        **_preview_context(
            request,
            template=template,
            version=version,
            state=state,
            contact_id=contact_id,
            language=preview_language,
            catalogue=catalogue,
        ),
    }
    return render(request, "templates/template_editor.html", context, status=status)


@require_http_methods(["GET", "POST"])
@require_permission("templates.edit")
def template_edit_view(request: TenantRequest, template_id: uuid.UUID) -> HttpResponse:
    template = template_get(tenant=request.tenant, template_id=template_id)
    latest = _editing_version(request, template)
    if request.method == "GET":
        rows = version_contents(tenant=request.tenant, version=latest).values()
        return _editor(request, template=template, version=latest, state=editor_state_of(latest.default_language, rows))

    action = request.POST.get("action", "")
    if action == "start_draft":
        try:
            draft = draft_for_editing(tenant=request.tenant, user=request.user, template=template)  # type: ignore[arg-type]
        except WorkflowError as error:
            messages.error(request, str(error))
        else:
            if draft.number != latest.number:
                messages.success(request, f"Started draft version {draft.number} from version {latest.number}.")
        return redirect("templates:template_edit", template_id=template.pk)

    state = editor_state_from(request.POST)
    version = _posted_version(request, template) or latest
    if "remove_language" in request.POST:
        state = state.without_language(str(request.POST["remove_language"]))
        return _editor(request, template=template, version=version, state=state)
    if action == "add_language":
        added = state.with_language(str(request.POST.get("new_language", "")))
        new = added.languages[-1] if len(added.contents) > len(state.contents) else ""
        return _editor(request, template=template, version=version, state=added, active_language=new)
    if action != "save":
        # The Preview button, and anything unknown: show the posted content, change nothing.
        return _editor(request, template=template, version=version, state=state)

    if state.errors:
        return _editor(request, template=template, version=version, state=state, status=400)
    if not version.is_editable:
        messages.error(
            request,
            f"Version {version.number} was submitted and can no longer change. Your text is below; "
            "start a new draft to continue from the latest version.",
        )
        return _editor(request, template=template, version=version, state=state, status=409)
    try:
        saved = draft_save(
            tenant=request.tenant,
            user=request.user,  # type: ignore[arg-type]
            version=version,
            default_language=state.default_language,
            contents=state.contents,
        )
    except TemplateInvalid as invalid:
        return _editor(request, template=template, version=version, state=state, invalid=invalid, status=400)
    except WorkflowError as error:
        messages.error(request, str(error))
        return _editor(request, template=template, version=version, state=state, status=409)
    messages.success(request, f"Saved draft version {saved.number}.")
    return redirect("templates:template_edit", template_id=template.pk)


# --- Preview ---------------------------------------------------------------------------------------


def _revealed(request: TenantRequest, template: EmailTemplate, contact: Contact | None) -> bool:
    if contact is None or not has_fresh_step_up(request):
        return False
    grant = request.session.get(SESSION_REVEAL_KEY) or {}
    return grant.get("template") == str(template.pk) and grant.get("contact") == str(contact.pk)


def _contact(request: TenantRequest, raw: Any) -> Contact | None:
    """The picked contact, or None for synthetic samples (also for a malformed id); another
    organisation's contact is a 404, as everywhere."""
    try:
        contact_id = uuid.UUID(str(raw or ""))
    except ValueError:
        return None
    return contact_get(tenant=request.tenant, contact_id=contact_id)


def _preview_context(
    request: TenantRequest,
    *,
    template: EmailTemplate,
    version: TemplateVersion,
    state: EditorState,
    contact_id: Any,
    language: str,
    catalogue: dict[str, MergeField],
    step_up_needed: bool = False,
) -> dict[str, Any]:
    contact = _contact(request, contact_id)
    context: dict[str, Any] = {
        "template": template,
        "preview_contact": contact,
        "revealed": False,
        "step_up_needed": step_up_needed,
        "step_up_link": step_up_url(request) if step_up_needed else "",
        "preview": None,
        "frame_url": "",
        "findings": checks_for(tenant=request.tenant, purpose=template.purpose, contents=state.contents),
        "preview_version": version,
    }
    wanted = language or (contact.language if contact is not None else "")
    content = pick_content(state.contents, wanted, state.default_language)
    if content is None:
        return context
    values = None
    if contact is not None:
        if not contact.readable:
            context["contact_unreadable"] = True
            contact = None
        else:
            values = contact_values(contact, request.tenant)
    revealed = _revealed(request, template, contact)
    context["revealed"] = revealed
    context["preview"] = render_preview(
        tenant=request.tenant,
        purpose=template.purpose,
        content=content,
        catalogue=catalogue,
        values=values,
        mask_phi=contact is not None and not revealed,
    )
    token = preview_token_store(
        PreviewRequest(
            user_id=str(request.user.pk),
            tenant_id=int(request.tenant.pk),
            template_id=str(template.pk),
            purpose=template.purpose,
            content=content,
            contact_id=str(contact.pk) if contact is not None else None,
        )
    )
    context["frame_url"] = f"{reverse('templates:template_preview_frame', args=[template.pk])}?t={token}"
    context["preview_messages"] = _preview_messages(context["preview"])
    return context


def _preview_messages(result: PreviewResult) -> list[str]:
    messages_ = []
    for problem in result.problems:
        line = f", line {problem.line}" if problem.line else ""
        messages_.append(f"{_PART_LABELS.get(problem.part, problem.part)}{line}: {problem.message}")
    messages_ += [f"{_PART_LABELS.get(part, part)}: {message}" for part, message in result.errors.items()]
    return messages_


def _preview_partial(request: TenantRequest, template: EmailTemplate, *, step_up_needed: bool = False) -> HttpResponse:
    state = editor_state_from(request.POST)
    version = _posted_version(request, template) or _editing_version(request, template)
    if not state.contents:
        # Nothing posted: the saved version named by version_id (or the latest) is previewed.
        rows = version_contents(tenant=request.tenant, version=version).values()
        state = editor_state_of(version.default_language, rows)
    context = _preview_context(
        request,
        template=template,
        version=version,
        state=state,
        contact_id=request.POST.get("preview_contact"),
        language=str(request.POST.get("preview_language", "")),
        catalogue=merge_fields(tenant=request.tenant),
        step_up_needed=step_up_needed,
    )
    return render(request, "templates/_editor_preview.html", context)


@require_http_methods(["POST"])
@require_permission("templates.view")
def template_preview_view(request: TenantRequest, template_id: uuid.UUID) -> HttpResponse:
    """The editor's live preview of the posted (unsaved) content, as an htmx partial."""
    template = template_get(tenant=request.tenant, template_id=template_id)
    return _preview_partial(request, template)


def _frame_document(body: str) -> str:
    head = '<meta charset="utf-8"><title>Preview</title>'
    return f'<!DOCTYPE html><html lang="en"><head>{head}</head><body>{body}</body></html>'


@require_http_methods(["GET"])
@require_permission("templates.view")
def template_preview_frame_view(request: TenantRequest, template_id: uuid.UUID) -> HttpResponse:
    """The HTML of a preview, for the editor's sandboxed iframe, with a CSP of its own."""
    template = template_get(tenant=request.tenant, template_id=template_id)
    stored = preview_token_load(
        str(request.GET.get("t", "")),
        user_id=str(request.user.pk),
        tenant_id=int(request.tenant.pk),
        template_id=template.pk,
    )
    if stored is None:
        html = _frame_document(
            '<p style="font-family:sans-serif">This preview has expired; change something or press Preview.</p>'
        )
    else:
        contact = _contact(request, stored.contact_id)
        if contact is not None and not contact.readable:
            contact = None
        revealed = _revealed(request, template, contact)
        result = render_preview(
            tenant=request.tenant,
            purpose=template.purpose,
            content=stored.content,
            catalogue=merge_fields(tenant=request.tenant),
            values=contact_values(contact, request.tenant) if contact is not None else None,
            mask_phi=contact is not None and not revealed,
        )
        if "html_body" in result.errors:
            html = _frame_document(
                '<p style="font-family:sans-serif;color:#a4262c">The HTML body does not render: '
                f"{escape(result.errors['html_body'])}</p>"
            )
        else:
            html = result.html
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = PREVIEW_FRAME_CSP
    response["X-Frame-Options"] = "SAMEORIGIN"
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_http_methods(["POST"])
@require_permission("templates.view")
def template_preview_reveal_view(request: TenantRequest, template_id: uuid.UUID) -> HttpResponse:
    """Show the picked contact's PHI in the preview (``action=reveal``, needs a fresh step-up,
    audited), or mask it again (``action=hide``)."""
    template = template_get(tenant=request.tenant, template_id=template_id)
    htmx = bool(request.headers.get("HX-Request"))
    back = (
        reverse("templates:template_edit", args=[template.pk])
        if _can_edit(request)
        else reverse("templates:template_versions", args=[template.pk])
    )
    if request.POST.get("action") == "hide":
        request.session.pop(SESSION_REVEAL_KEY, None)
        return _preview_partial(request, template) if htmx else redirect(back)
    contact = _contact(request, request.POST.get("preview_contact"))
    if contact is None:
        messages.error(request, "Pick a contact first.")
        return _preview_partial(request, template) if htmx else redirect(back)
    if not has_fresh_step_up(request):
        return _preview_partial(request, template, step_up_needed=True) if htmx else redirect(step_up_url(request))
    version = _posted_version(request, template) or _editing_version(request, template)
    preview_reveal_record(
        tenant=request.tenant,
        actor=actor_for_request(request),
        template=template,
        version_number=version.number,
        contact_id=contact.pk,
    )
    request.session[SESSION_REVEAL_KEY] = {"template": str(template.pk), "contact": str(contact.pk)}
    if htmx:
        return _preview_partial(request, template)
    return redirect(f"{back}?contact={contact.pk}")
