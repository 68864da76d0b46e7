"""Consent pages for staff: a contact's consent, authorisations and history; purposes and topics;
authorisation texts; the suppression list; the consent report and its CSV export.

Each view names one permission: reading needs ``consent.view`` (the report ``consent.report``),
each change is its own POST view needing ``consent.manage``, ``authorisations.manage`` or
``suppression.manage``. Every change goes through ``consent.services``, which audit it.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.services import actor_for_request
from authn.stepup import has_fresh_step_up, require_step_up, step_up_url
from consent.forms import (
    AuthorisationRecordForm,
    AuthorisationTextForm,
    ConsentStatusForm,
    PurposeForm,
    ReportForm,
    SuppressionAddForm,
    TopicForm,
    UnencryptedEmailForm,
    attach_service_errors,
    authorisation_error_field,
)
from consent.models import ConsentSource, ConsentStatus, EventKind, SuppressionReason
from consent.purposes import purposes_for
from consent.reports import (
    ReportPeriodError,
    authorisation_state,
    authorisation_text_histories,
    authorisation_text_latest,
    consent_change_counts,
    consent_changes,
    consent_counts,
    consent_history_view_record,
    consent_report_csv,
    masked_address,
    purpose_names,
    report_period,
)
from consent.selectors import (
    authorisation_get,
    authorisation_text_get,
    authorisation_texts_current,
    contact_authorisations,
    contact_consent_history,
    contact_consent_statuses,
    contact_preferences,
    expiring_authorisations,
    is_suppressed,
    purpose_row_get,
    purpose_rows,
    suppression_get,
    suppression_list,
    topic_list,
)
from consent.services import (
    AUTHORISATION_TEXT_FIELDS,
    UNENCRYPTED_WARNING,
    ConsentError,
    SignedAuthorisation,
    authorisation_text_publish,
    consent_set,
    marketing_authorisation_record,
    marketing_authorisation_revoke,
    purpose_archive,
    purpose_create,
    suppression_add,
    suppression_remove,
    topic_create,
    unencrypted_email_set,
)
from segments.selectors import contact_get
from tenants.access import require_permission
from tenants.http import TenantRequest
from tenants.permissions import role_has_permission

CHANGES_PER_PAGE = 50
SUPPRESSIONS_PER_PAGE = 50
EXPIRING_SHOWN = 100
# Labels of the statuses a history event may move between (consent, the unencrypted-email
# choice, authorisations).
STATUS_LABELS = {
    **dict(ConsentStatus.choices),
    "accepted": "Accepted",
    "declined": "Declined",
    "signed": "Signed",
}


def _may(request: TenantRequest, code: str) -> bool:
    return role_has_permission(request.membership.role, code)


def _refusal(error: ConsentError) -> str:
    return " ".join(error.messages)


# --- A contact's consent ----------------------------------------------------------------------


@require_GET
@require_permission("consent.view")
def contact_consent_view(request: TenantRequest, contact_id: uuid.UUID) -> HttpResponse:
    """Statuses per purpose, authorisations, the unencrypted-email choice and the history. The
    evidence kept with the history (IP address, user agent) and the signature names appear only
    with ``?show=evidence`` after a fresh passkey step-up; every showing is audited."""
    tenant = request.tenant
    contact = contact_get(tenant=tenant, contact_id=contact_id)
    show_evidence = request.GET.get("show") == "evidence"
    if show_evidence and not has_fresh_step_up(request):
        return redirect(step_up_url(request))
    # With the organisation's keys destroyed the evidence cannot be decrypted: statuses only.
    show_evidence = show_evidence and contact.readable
    history = list(contact_consent_history(tenant=tenant, contact_id=contact.pk))
    consent_history_view_record(
        tenant=tenant, actor=actor_for_request(request), contact_id=contact.pk, evidence=show_evidence
    )
    today = timezone.localdate()
    authorisations = [
        {"authorisation": authorisation, "state": authorisation_state(authorisation, today)}
        for authorisation in contact_authorisations(tenant=tenant, contact=contact)
    ]
    context = {
        "contact": contact,
        "statuses": contact_consent_statuses(tenant=tenant, contact=contact),
        "authorisations": authorisations,
        "preferences": contact_preferences(tenant=tenant, contact=contact),
        "suppressed": is_suppressed(tenant=tenant, contact=contact),
        "history": history,
        "purpose_names": purpose_names(tenant=tenant),
        "kinds": dict(EventKind.choices),
        "sources": dict(ConsentSource.choices),
        "status_labels": STATUS_LABELS,
        "show_evidence": show_evidence,
        "can_manage": _may(request, "consent.manage"),
    }
    return render(request, "consent/contact_consent.html", context)


@require_POST
@require_permission("consent.manage")
def contact_consent_set_view(request: TenantRequest, contact_id: uuid.UUID) -> HttpResponse:
    """Staff record consent given or withdrawn to them: source "staff", the staff member as
    the one who recorded it. No free-text note: it would invite PHI."""
    tenant = request.tenant
    contact = contact_get(tenant=tenant, contact_id=contact_id)
    form = ConsentStatusForm(request.POST, purposes=purposes_for(tenant=tenant, include_archived=True))
    if not form.is_valid():
        messages.error(request, "Choose a purpose and granted or revoked.")
        return redirect("consent:contact_consent", contact_id=contact.pk)
    try:
        change = consent_set(
            tenant=tenant,
            actor=actor_for_request(request),
            contact=contact,
            purpose=form.cleaned_data["purpose"],
            status=form.cleaned_data["status"],
            source=ConsentSource.STAFF,
        )
    except ConsentError as error:
        messages.error(request, _refusal(error))
    else:
        if change.changed:
            messages.success(request, "Consent recorded.")
        else:
            messages.success(request, "Nothing changed: that was already the contact's consent.")
    return redirect("consent:contact_consent", contact_id=contact.pk)


@require_http_methods(["GET", "POST"])
@require_permission("consent.manage")
def authorisation_record_view(request: TenantRequest, contact_id: uuid.UUID) -> HttpResponse:
    tenant = request.tenant
    contact = contact_get(tenant=tenant, contact_id=contact_id)
    texts = authorisation_texts_current(tenant=tenant)
    form = AuthorisationRecordForm(request.POST or None, texts=texts, purposes=purposes_for(tenant=tenant))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        text = authorisation_text_get(tenant=tenant, text_id=uuid.UUID(data["text"]))
        signed = SignedAuthorisation(
            signature_name=data["signature_name"],
            signed_on=data["signed_on"],
            signature_method=data["signature_method"],
            expires_on=data["expires_on"],
            expiry_event=data["expiry_event"],
        )
        try:
            marketing_authorisation_record(
                tenant=tenant,
                actor=actor_for_request(request),
                contact=contact,
                text=text,
                purpose=data["purpose"],
                signed=signed,
                source=ConsentSource.STAFF,
            )
        except ConsentError as error:
            for message in error.messages:
                form.add_error(authorisation_error_field(message), message)
        else:
            messages.success(request, "Authorisation recorded.")
            return redirect("consent:contact_consent", contact_id=contact.pk)
    context = {"contact": contact, "form": form, "has_texts": bool(texts)}
    return render(request, "consent/authorisation_record.html", context)


@require_POST
@require_permission("consent.manage")
def authorisation_revoke_view(request: TenantRequest, authorisation_id: uuid.UUID) -> HttpResponse:
    """The individual's revocation given to staff (in writing, or the expiry event happened)."""
    tenant = request.tenant
    authorisation = authorisation_get(tenant=tenant, authorisation_id=authorisation_id)
    marketing_authorisation_revoke(
        tenant=tenant, actor=actor_for_request(request), authorisation=authorisation, source=ConsentSource.STAFF
    )
    messages.success(request, "Authorisation revoked.")
    return redirect("consent:contact_consent", contact_id=authorisation.contact_id)


@require_http_methods(["GET", "POST"])
@require_permission("consent.manage")
def unencrypted_email_view(request: TenantRequest, contact_id: uuid.UUID) -> HttpResponse:
    """Record, on the patient's behalf, whether they accept PHI by ordinary email. Choosing it
    needs the box confirming they were given the warning."""
    tenant = request.tenant
    contact = contact_get(tenant=tenant, contact_id=contact_id)
    preferences = contact_preferences(tenant=tenant, contact=contact)
    initial = {"accepts": "yes" if preferences.accepts_unencrypted_phi else "no"}
    form = UnencryptedEmailForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            unencrypted_email_set(
                tenant=tenant,
                actor=actor_for_request(request),
                contact=contact,
                accepts=form.cleaned_data["accepts"],
                warning_accepted=form.cleaned_data["warning_given"],
                source=ConsentSource.STAFF,
            )
        except ConsentError as error:
            form.add_error("warning_given", _refusal(error))
        else:
            messages.success(request, "The patient's choice was recorded.")
            return redirect("consent:contact_consent", contact_id=contact.pk)
    context = {"contact": contact, "form": form, "preferences": preferences, "warning": UNENCRYPTED_WARNING}
    return render(request, "consent/unencrypted_email.html", context)


# --- Purposes and topics ----------------------------------------------------------------------


def _purposes_page(
    request: TenantRequest, purpose_form: PurposeForm | None = None, topic_form: TopicForm | None = None
) -> HttpResponse:
    tenant = request.tenant
    purposes = purposes_for(tenant=tenant, include_archived=True)
    rows = {row.key: row for row in purpose_rows(tenant=tenant)}
    context = {
        "purposes": [{"info": info, "row": rows.get(info.key)} for info in purposes],
        "topics": list(topic_list(tenant=tenant)),
        "purpose_names": {info.key: info.name for info in purposes},
        "purpose_form": purpose_form or PurposeForm(),
        "topic_form": topic_form or TopicForm(purposes=purposes),
        "can_manage": _may(request, "consent.manage"),
    }
    status = 400 if (purpose_form and purpose_form.errors) or (topic_form and topic_form.errors) else 200
    return render(request, "consent/purpose_list.html", context, status=status)


@require_GET
@require_permission("consent.view")
def purpose_list_view(request: TenantRequest) -> HttpResponse:
    return _purposes_page(request)


@require_POST
@require_permission("consent.manage")
def purpose_create_view(request: TenantRequest) -> HttpResponse:
    form = PurposeForm(request.POST)
    if form.is_valid():
        try:
            purpose = purpose_create(tenant=request.tenant, actor=actor_for_request(request), **form.cleaned_data)
        except ValidationError as error:  # ConsentError, or the model's own validation
            attach_service_errors(form, error.messages, {"key": "key"})
        else:
            messages.success(request, f"Purpose {purpose.name} added.")
            return redirect("consent:purpose_list")
    return _purposes_page(request, purpose_form=form)


@require_POST
@require_permission("consent.manage")
def purpose_archive_view(request: TenantRequest, purpose_id: uuid.UUID) -> HttpResponse:
    purpose = purpose_row_get(tenant=request.tenant, purpose_id=purpose_id)
    if not purpose.is_archived:
        purpose_archive(tenant=request.tenant, actor=actor_for_request(request), purpose=purpose)
    messages.success(request, f"Purpose {purpose.name} archived: it can no longer be granted.")
    return redirect("consent:purpose_list")


@require_POST
@require_permission("consent.manage")
def topic_create_view(request: TenantRequest) -> HttpResponse:
    purposes = purposes_for(tenant=request.tenant)
    form = TopicForm(request.POST, purposes=purposes)
    if form.is_valid():
        try:
            topic = topic_create(tenant=request.tenant, actor=actor_for_request(request), **form.cleaned_data)
        except ValidationError as error:  # ConsentError, or the model's own validation
            attach_service_errors(form, error.messages, {"key": "key"})
        else:
            messages.success(request, f"Topic {topic.name} added.")
            return redirect("consent:purpose_list")
    return _purposes_page(request, topic_form=form)


# --- Authorisation texts ----------------------------------------------------------------------


@require_GET
@require_permission("consent.view")
def authorisation_text_list_view(request: TenantRequest) -> HttpResponse:
    context = {
        "histories": authorisation_text_histories(tenant=request.tenant),
        "can_publish": _may(request, "authorisations.manage"),
    }
    return render(request, "consent/authorisation_text_list.html", context)


@require_GET
@require_permission("consent.view")
def authorisation_text_detail_view(request: TenantRequest, text_id: uuid.UUID) -> HttpResponse:
    text = authorisation_text_get(tenant=request.tenant, text_id=text_id)
    latest = authorisation_text_latest(tenant=request.tenant, name=text.name)
    form = AuthorisationTextForm()
    elements = [(form[name].label, getattr(text, name)) for name in AUTHORISATION_TEXT_FIELDS if name in form.fields]
    context = {
        "text": text,
        "elements": [(label, value) for label, value in elements if value not in ("", False)],
        "is_current": latest is not None and latest.pk == text.pk,
        "can_publish": _may(request, "authorisations.manage"),
    }
    return render(request, "consent/authorisation_text_detail.html", context)


def _publish_page(request: TenantRequest, initial: dict[str, Any], based_on: Any) -> HttpResponse:
    form = AuthorisationTextForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        values = {key: form.cleaned_data[key] for key in AUTHORISATION_TEXT_FIELDS}
        try:
            text = authorisation_text_publish(
                tenant=request.tenant, actor=actor_for_request(request), name=form.cleaned_data["name"], values=values
            )
        except ConsentError as error:
            attach_service_errors(form, error.messages, AuthorisationTextForm.ERROR_FIELDS)
        else:
            messages.success(request, f"{text.name} version {text.version} published.")
            return redirect("consent:authorisation_text_list")
    context = {"form": form, "based_on": based_on}
    return render(request, "consent/authorisation_text_form.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@require_permission("authorisations.manage")
def authorisation_text_publish_view(request: TenantRequest) -> HttpResponse:
    """A new authorisation text, or a new version of one when the name is an existing text's."""
    return _publish_page(request, initial={}, based_on=None)


@require_http_methods(["GET", "POST"])
@require_permission("authorisations.manage")
def authorisation_text_revise_view(request: TenantRequest, text_id: uuid.UUID) -> HttpResponse:
    """The next version of a text, the form prefilled from its latest version."""
    text = authorisation_text_get(tenant=request.tenant, text_id=text_id)
    latest = authorisation_text_latest(tenant=request.tenant, name=text.name) or text
    initial = {"name": latest.name, **{key: getattr(latest, key) for key in AUTHORISATION_TEXT_FIELDS}}
    return _publish_page(request, initial=initial, based_on=latest)


# --- Suppression list -------------------------------------------------------------------------


def _suppressions_page(request: TenantRequest, form: SuppressionAddForm) -> HttpResponse:
    page = Paginator(suppression_list(tenant=request.tenant), SUPPRESSIONS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [{"suppression": s, "address": masked_address(s)} for s in page]
    context = {"page": page, "rows": rows, "form": form, "reasons": dict(SuppressionReason.choices)}
    return render(request, "consent/suppression_list.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@require_permission("suppression.manage")
def suppression_list_view(request: TenantRequest) -> HttpResponse:
    """The list (addresses masked) and, by POST, adding an address by hand. The address is
    posted, never put in a URL, and is not repeated back on the page."""
    form = SuppressionAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            suppression_add(
                tenant=request.tenant,
                actor=actor_for_request(request),
                email=form.cleaned_data["email"],
                reason=SuppressionReason.MANUAL,
                source=ConsentSource.STAFF,
            )
        except ConsentError as error:
            form.add_error("email", _refusal(error))
        else:
            messages.success(request, "The address is on the suppression list: it gets nothing more.")
            return redirect("consent:suppression_list")
    return _suppressions_page(request, form)


@require_http_methods(["GET", "POST"])
@require_permission("suppression.manage")
def suppression_lift_view(request: TenantRequest, suppression_id: uuid.UUID) -> HttpResponse:
    """Confirm, then lift. A complaint cannot be lifted: the service refuses, and the page says why."""
    suppression = suppression_get(tenant=request.tenant, suppression_id=suppression_id)
    error = ""
    if request.method == "POST":
        try:
            suppression_remove(tenant=request.tenant, actor=actor_for_request(request), suppression=suppression)
        except ConsentError as refusal:
            error = _refusal(refusal)
        else:
            messages.success(request, "Suppression lifted.")
            return redirect("consent:suppression_list")
    context = {
        "suppression": suppression,
        "address": masked_address(suppression),
        "is_complaint": suppression.reason == SuppressionReason.COMPLAINT,
        "error": error,
    }
    return render(request, "consent/suppression_lift.html", context, status=400 if error else 200)


# --- Report -----------------------------------------------------------------------------------


@require_GET
@require_permission("consent.report")
def report_view(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant
    form = ReportForm(request.GET)
    start = end = None
    if form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    expiring_within = form.expiring_days()
    try:
        period = report_period(start=start, end=end)
    except ReportPeriodError as error:
        form.add_error("start", str(error))
        period = report_period(start=None, end=None)
    changes = Paginator(consent_changes(tenant=tenant, period=period), CHANGES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    expiring = expiring_authorisations(tenant=tenant, within_days=expiring_within)
    expiring_rows = list(expiring[: EXPIRING_SHOWN + 1])
    query = {"start": period.start.isoformat(), "end": period.end.isoformat(), "expiring_within": expiring_within}
    context = {
        "form": form,
        "period": period,
        "counts": consent_counts(tenant=tenant),
        "change_counts": consent_change_counts(tenant=tenant, period=period),
        "changes": changes,
        "expiring": expiring_rows[:EXPIRING_SHOWN],
        "expiring_more": len(expiring_rows) > EXPIRING_SHOWN,
        "expiring_within": expiring_within,
        "purpose_names": purpose_names(tenant=tenant),
        "kinds": dict(EventKind.choices),
        "sources": dict(ConsentSource.choices),
        "status_labels": STATUS_LABELS,
        "query": urlencode(query),
    }
    return render(request, "consent/report.html", context)


@require_GET
@require_permission("consent.report")
@require_step_up
def report_export_view(request: TenantRequest) -> HttpResponse:
    """The report as CSV, after a fresh step-up like every export; audited."""
    form = ReportForm(request.GET)
    if not form.is_valid():
        messages.error(request, "The report's filters were invalid; nothing was exported.")
        return redirect("consent:report")
    try:
        period = report_period(start=form.cleaned_data["start"], end=form.cleaned_data["end"])
    except ReportPeriodError as error:
        messages.error(request, str(error))
        return redirect("consent:report")
    expiring_within = form.expiring_days()
    # Built inside the request's transaction, where row-level security admits the tenant's rows.
    body = "".join(
        consent_report_csv(
            tenant=request.tenant, actor=actor_for_request(request), period=period, expiring_within=expiring_within
        )
    )
    response = HttpResponse(body, content_type="text/csv")
    filename = f"sealpost-consent-{request.tenant.slug}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
