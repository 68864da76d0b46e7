"""The review side of templates: a version's page (status, fields and PHI fields, a preview with
synthetic sample data in a sandboxed frame, the review conversation and the actions its state
allows), the versions of a template, the diff between two versions, and test sends.

Every step goes through ``templates.services`` (which refuses the wrong state, and a reviewer
deciding on a version they submitted themself) and is audited there. The forms post and
redirect back; a refused step comes back as a message on the page.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.csp import CSP
from django.utils.html import escape
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_http_methods

from templates.diff import VersionDiff, default_pair, version_diff
from templates.fields import merge_fields
from templates.models import EmailTemplate, TemplateVersion, VersionStatus
from templates.rendering import RenderError
from templates.selectors import (
    RenderedMessage,
    approved_version,
    template_get,
    template_versions,
    version_contents,
    version_get,
    version_reviews,
)
from templates.services import (
    TemplateInvalid,
    WorkflowError,
    version_approve,
    version_comment,
    version_request_changes,
    version_submit,
)
from templates.test_sends import (
    AddressInvalid,
    SendTestRefused,
    allowed_address_add,
    allowed_address_get,
    allowed_address_remove,
    allowed_addresses,
    outcome_summary,
    recent_test_sends,
    render_sample,
    version_send_test,
)
from tenants.access import require_permission
from tenants.http import TenantRequest
from tenants.permissions import role_has_permission

MAX_COMMENT_CHARS = 5000

# The preview frame shows email HTML: no scripts, no forms, no plugins, no navigation of the
# page around it. ``sandbox`` applies even if the preview is opened on its own; only Sealpost's
# own pages may frame it. Images and fonts may come from anywhere over HTTPS, as in an email
# client (the values are synthetic, so nothing personal leaks by loading them).
PREVIEW_CSP: dict[str, Any] = {
    "default-src": [CSP.NONE],
    "img-src": ["data:", "https:"],
    "font-src": ["data:", "https:"],
    "style-src": [CSP.UNSAFE_INLINE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.NONE],
    "frame-ancestors": [CSP.SELF],
    "sandbox": True,
}


def _can(request: TenantRequest, code: str) -> bool:
    return role_has_permission(request.membership.role, code)


def _comment(request: TenantRequest) -> str:
    return request.POST.get("comment", "")[:MAX_COMMENT_CHARS]


def _version_url(version: TemplateVersion, anchor: str = "") -> str:
    url = reverse("templates:version_detail", kwargs={"version_id": version.pk})
    return f"{url}#{anchor}" if anchor else url


@dataclass(frozen=True)
class LanguagePreview:
    language: str
    is_default: bool
    rendered: RenderedMessage | None
    error: str
    preview_url: str


def _previews(request: TenantRequest, version: TemplateVersion) -> list[LanguagePreview]:
    contents = version_contents(tenant=request.tenant, version=version)
    previews = []
    base = reverse("templates:version_preview", kwargs={"version_id": version.pk})
    for language in sorted(contents, key=lambda code: (code != version.default_language, code)):
        rendered, error = None, ""
        try:
            rendered = render_sample(tenant=request.tenant, version=version, language=language)
        except RenderError as failure:
            error = str(failure)
        previews.append(
            LanguagePreview(
                language=language,
                is_default=language == version.default_language,
                rendered=rendered,
                error=error,
                preview_url=f"{base}?language={language}",
            )
        )
    return previews


@require_http_methods(["GET"])
@require_permission("templates.view")
def version_detail_view(request: TenantRequest, version_id: uuid.UUID) -> HttpResponse:
    version = version_get(tenant=request.tenant, version_id=version_id)
    catalogue = merge_fields(tenant=request.tenant)
    approved = approved_version(tenant=request.tenant, template=version.template)
    can_edit, can_review = _can(request, "templates.edit"), _can(request, "templates.review")
    is_submitter = version.submitted_by_id == request.user.pk
    context = {
        "template": version.template,
        "version": version,
        "is_live": approved is not None and approved.pk == version.pk,
        "approved": approved,
        "fields": [catalogue.get(name) or name for name in version.fields_used],
        "phi_fields": [catalogue.get(name) or name for name in version.phi_fields],
        "previews": _previews(request, version),
        "reviews": version_reviews(tenant=request.tenant, version=version),
        "can_submit": can_edit and version.status == VersionStatus.DRAFT,
        "can_decide": can_review and version.status == VersionStatus.IN_REVIEW and not is_submitter,
        "reviewer_is_submitter": can_review and version.status == VersionStatus.IN_REVIEW and is_submitter,
        "can_comment": can_edit or can_review,
        "can_test_send": can_edit,
        **(_test_sends_context(request, version) if can_edit else {}),
        "test_addresses": allowed_addresses(tenant=request.tenant) if can_edit else [],
        "can_manage_test_addresses": _can(request, "templates.test_addresses"),
        "max_comment": MAX_COMMENT_CHARS,
    }
    return render(request, "templates/version_detail.html", context)


@require_http_methods(["GET"])
@require_permission("templates.view")
@xframe_options_sameorigin
@csp_override(PREVIEW_CSP)
def version_preview_view(request: TenantRequest, version_id: uuid.UUID) -> HttpResponse:
    """The rendered HTML of one language with synthetic sample data, for the sandboxed frame."""
    version = version_get(tenant=request.tenant, version_id=version_id)
    language = request.GET.get("language", "") or version.default_language
    try:
        html = render_sample(tenant=request.tenant, version=version, language=language).html
        status = 200
    except (RenderError, SendTestRefused) as error:
        html = f"<!doctype html><p>This version does not render: {escape(str(error))}</p>"
        status = 400
    response = HttpResponse(html, content_type="text/html; charset=utf-8", status=status)
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_http_methods(["POST"])
@require_permission("templates.edit")
def version_submit_view(request: TenantRequest, version_id: uuid.UUID) -> HttpResponse:
    version = version_get(tenant=request.tenant, version_id=version_id)
    try:
        version_submit(tenant=request.tenant, user=request.user, version=version, comment=_comment(request))
    except TemplateInvalid as invalid:
        for problem in invalid.problems:
            where = f"{problem.part}, line {problem.line}" if problem.line else problem.part
            messages.error(request, f"Not submitted ({where}): {problem.message}")
    except WorkflowError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Version {version.number} was submitted for review.")
    return redirect(_version_url(version, "review"))


def _decide(request: TenantRequest, version_id: uuid.UUID, *, approve: bool) -> HttpResponse:
    version = version_get(tenant=request.tenant, version_id=version_id)
    try:
        if approve:
            version_approve(tenant=request.tenant, user=request.user, version=version, comment=_comment(request))
            messages.success(request, f"Version {version.number} is approved: it may now be sent.")
        else:
            version_request_changes(
                tenant=request.tenant, user=request.user, version=version, comment=_comment(request)
            )
            messages.success(request, f"Changes were requested on version {version.number}.")
    except WorkflowError as error:
        messages.error(request, str(error))
    return redirect(_version_url(version, "review"))


@require_http_methods(["POST"])
@require_permission("templates.review")
def version_approve_view(request: TenantRequest, version_id: uuid.UUID) -> HttpResponse:
    return _decide(request, version_id, approve=True)


@require_http_methods(["POST"])
@require_permission("templates.review")
def version_request_changes_view(request: TenantRequest, version_id: uuid.UUID) -> HttpResponse:
    return _decide(request, version_id, approve=False)


@require_http_methods(["POST"])
@require_permission("templates.view")
def version_comment_view(request: TenantRequest, version_id: uuid.UUID) -> HttpResponse:
    """Authors (templates.edit) and reviewers (templates.review) comment; one permission is
    declared for the route, the other checked here."""
    if not (_can(request, "templates.edit") or _can(request, "templates.review")):
        raise PermissionDenied("Your role does not include templates.edit or templates.review.")
    version = version_get(tenant=request.tenant, version_id=version_id)
    try:
        version_comment(tenant=request.tenant, user=request.user, version=version, comment=_comment(request))
    except WorkflowError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Comment added.")
    return redirect(_version_url(version, "review"))


@require_http_methods(["POST"])
@require_permission("templates.edit")
def version_test_send_view(request: TenantRequest, version_id: uuid.UUID) -> HttpResponse:
    version = version_get(tenant=request.tenant, version_id=version_id)
    language = request.POST.get("language", "")[:16]
    address_id = request.POST.get("recipient", "")[:64]
    try:
        version_send_test(
            tenant=request.tenant, user=request.user, version=version, language=language, address_id=address_id
        )
    except SendTestRefused as error:
        messages.error(request, str(error))
    else:
        where = "the listed test address" if address_id else "your own address"
        messages.success(request, f"A test message is on its way to {where}; its outcome shows below.")
    return redirect(_version_url(version, "test-send"))


@require_http_methods(["GET"])
@require_permission("templates.edit")
def version_test_sends_view(request: TenantRequest, version_id: uuid.UUID) -> HttpResponse:
    """The version's recent test sends and their outcome (polled by the page while one is open)."""
    version = version_get(tenant=request.tenant, version_id=version_id)
    return render(request, "templates/_test_sends.html", _test_sends_context(request, version))


def _test_sends_context(request: TenantRequest, version: TemplateVersion) -> dict[str, Any]:
    sends = recent_test_sends(tenant=request.tenant, version=version)
    return {
        "version": version,
        "test_sends": [(sent, outcome_summary(sent)) for sent in sends],
        "test_sends_open": any(sent.status in ("queued", "retrying") for sent in sends),
    }


@require_http_methods(["GET"])
@require_permission("templates.view")
def template_versions_view(request: TenantRequest, template_id: uuid.UUID) -> HttpResponse:
    template = template_get(tenant=request.tenant, template_id=template_id)
    versions = list(
        template_versions(tenant=request.tenant, template=template).select_related(
            "created_by", "submitted_by", "decided_by"
        )
    )
    approved = next((version for version in versions if version.status == VersionStatus.APPROVED), None)
    rows = []
    for index, version in enumerate(versions):
        previous = versions[index + 1] if index + 1 < len(versions) else None
        rows.append((version, previous))
    return render(
        request,
        "templates/version_list.html",
        {"template": template, "rows": rows, "approved": approved},
    )


class DiffForm(forms.Form):
    """``from`` and ``to``: version numbers of the template (``from`` is a Python keyword, so
    the fields are added in ``__init__`` rather than declared)."""

    def __init__(self, data: Any, numbers: list[int]) -> None:
        super().__init__(data)
        choices = [(number, f"Version {number}") for number in numbers]
        self.fields["from"] = forms.TypedChoiceField(label="Compare", choices=choices, coerce=int)
        self.fields["to"] = forms.TypedChoiceField(label="with", choices=choices, coerce=int)


def _versions_by_number(template: EmailTemplate, request: TenantRequest) -> dict[int, TemplateVersion]:
    versions = template_versions(tenant=request.tenant, template=template).select_related("template")
    return {version.number: version for version in versions}


@require_http_methods(["GET"])
@require_permission("templates.view")
def template_diff_view(request: TenantRequest, template_id: uuid.UUID) -> HttpResponse:
    """``?from=<n>&to=<n>``; without them, the version under review against the last approved
    one (or the version before it)."""
    template = template_get(tenant=request.tenant, template_id=template_id)
    by_number = _versions_by_number(template, request)
    old, new = default_pair(list(by_number.values()))
    status = 200
    if "from" in request.GET or "to" in request.GET:
        form = DiffForm(request.GET, sorted(by_number, reverse=True))
        if form.is_valid():
            old, new = by_number[form.cleaned_data["from"]], by_number[form.cleaned_data["to"]]
        else:
            old = new = None
            status = 400
    else:
        initial = {"from": old.number if old else None, "to": new.number if new else None}
        form = DiffForm(None, sorted(by_number, reverse=True))
        form.initial = initial
    diff = version_diff(tenant=request.tenant, old=old, new=new) if old and new else None
    return render(
        request,
        "templates/diff.html",
        {"template": template, "form": form, "diff": diff, "field_changes": _field_changes(request, diff)},
        status=status,
    )


def _field_changes(request: TenantRequest, diff: VersionDiff | None) -> list[dict[str, Any]]:
    if diff is None:
        return []
    catalogue = merge_fields(tenant=request.tenant)
    phi = set(diff.new.phi_fields) | set(diff.old.phi_fields)
    changes = []
    for kind, names in (("added", diff.fields_added), ("removed", diff.fields_removed)):
        for name in names:
            label = catalogue[name].label if name in catalogue else name
            changes.append({"kind": kind, "name": name, "label": label, "phi": name in phi})
    return changes


@require_http_methods(["GET", "POST"])
@require_permission("templates.test_addresses")
def test_addresses_view(request: TenantRequest) -> HttpResponse:
    """The organisation's list of addresses test messages may go to besides members' own."""
    email, label, error, status = "", "", "", 200
    if request.method == "POST":
        email, label = request.POST.get("email", "")[:254], request.POST.get("label", "")[:100]
        try:
            allowed_address_add(tenant=request.tenant, user=request.user, email=email, label=label)
        except AddressInvalid as invalid:
            error, status = str(invalid), 400
        else:
            messages.success(request, "Address added to the test list.")
            return redirect("templates:test_addresses")
    context = {
        "addresses": allowed_addresses(tenant=request.tenant),
        "email": email,
        "label": label,
        "error": error,
    }
    return render(request, "templates/review_test_addresses.html", context, status=status)


@require_http_methods(["POST"])
@require_permission("templates.test_addresses")
def test_address_remove_view(request: TenantRequest, address_id: uuid.UUID) -> HttpResponse:
    address = allowed_address_get(tenant=request.tenant, address_id=str(address_id))
    allowed_address_remove(tenant=request.tenant, user=request.user, address=address)
    messages.success(request, "Address removed from the test list.")
    return redirect("templates:test_addresses")
