"""Recipients' pages (no sign-in): the hosted opt-in form, the confirmation link, the preference
centre and one-click unsubscribe. See docs/consent-recipients.md.

Nobody is signed in here, so the request has no tenant: each view finds the organisation from
the link (its slug, or the organisation pk that leads a sealed token) and runs inside
``tenant_context`` for it. Pages never show a name or an email address, and are neither cached
nor indexed; their URLs name nobody (``consent.links`` seals what a token is about).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.csp import CSP
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csp import csp_override
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from consent.forms_public import (
    ORDINARY_EMAIL,
    TRACKING_ALLOW,
    TRACKING_OFF,
    OptInSubmissionForm,
    PreferenceForm,
    form_ticket,
    same_origin,
    submission_allowed,
    ticket_matches,
)
from consent.links import (
    ONE_CLICK_BODY,
    InvalidLink,
    preference_centre_url,
    read_preference_token,
    read_unsubscribe_token,
)
from consent.optin import (
    Outcome,
    confirmation_token_tenant_id,
    optin_confirm,
    optin_form_public_get,
    optin_form_purposes,
    optin_form_url,
    optin_request_state,
    optin_submit,
)
from consent.purposes import UnknownPurpose, purpose_get
from consent.recipients import (
    Channel,
    PreferenceChoices,
    preference_centre_get,
    preference_centre_save,
    recipient_contact,
    recipient_context,
    recipient_unsubscribe,
)
from consent.services import UNENCRYPTED_WARNING, ConsentError, Evidence
from sealpost.request_id import client_ip
from segments.contacts import ContactInputError
from tenants.access import public_view
from tenants.context import tenant_context
from tenants.models import Organisation
from tenants.tasks import active_organisation

USER_AGENT_MAX = 512


# Only the hosted opt-in form may be framed (it is made to be embedded), and only by the
# ancestors settings allow (HTTPS pages by default). Every other page keeps frame-ancestors
# 'none': the confirmation, preference and unsubscribe pages must be top-level.
def optin_form_csp() -> dict[str, list[str]]:
    return {
        **cast(dict[str, list[str]], settings.SECURE_CSP),
        "frame-ancestors": [CSP.SELF, *settings.CONSENT_OPTIN_FRAME_ANCESTORS],
    }


def frameable_by_allowed_sites[V: Callable[..., HttpResponse]](view: V) -> V:
    """No X-Frame-Options, and the CSP's frame-ancestors from settings (read per request)."""

    @wraps(view)
    @xframe_options_exempt
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return csp_override(optin_form_csp())(view)(request, *args, **kwargs)

    return wrapped  # type: ignore[return-value]


def private_page[V: Callable[..., HttpResponse]](view: V) -> V:
    """Personal pages reached by a token in the URL: not stored by caches and not indexed. The
    site's ``Referrer-Policy: same-origin`` already keeps the token from other sites; it is not
    tightened to ``no-referrer`` here, because browsers then send ``Origin: null`` with the
    page's own form posts, which CSRF checks rightly refuse."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        response["X-Robots-Tag"] = "noindex, nofollow"
        return response

    return wrapped  # type: ignore[return-value]


def _evidence(request: HttpRequest, form_version: str) -> Evidence:
    return Evidence(
        ip_address=client_ip(request),
        user_agent=request.headers.get("User-Agent", "")[:USER_AGENT_MAX],
        form_version=form_version,
    )


def _invalid_link(request: HttpRequest, status: int = 404) -> HttpResponse:
    return render(request, "consent/public/invalid_link.html", {"organisation": None}, status=status)


def _organisation_by_slug(slug: str) -> Organisation | None:
    return Organisation.objects.filter(slug=slug, is_active=True).first()


# --- The hosted opt-in form -----------------------------------------------------------------------


@public_view
@private_page
@csrf_exempt  # defended by the origin check and the signed ticket instead: see forms_public.same_origin
@frameable_by_allowed_sites
@require_http_methods(["GET", "POST"])
def optin_form_view(request: HttpRequest, org_slug: str, public_id: str) -> HttpResponse:
    tenant = _organisation_by_slug(org_slug)
    if tenant is None:
        return _invalid_link(request)
    with tenant_context(tenant, switch_from_active=True):
        try:
            form = optin_form_public_get(tenant=tenant, public_id=public_id)
        except Http404:
            return _invalid_link(request)
        choices = optin_form_purposes(tenant=tenant, form=form)
        context: dict[str, Any] = {"organisation": tenant, "form_row": form, "ticket": form_ticket(form)}
        if request.method == "GET":
            return render(
                request, "consent/public/optin_form.html", {**context, "form": OptInSubmissionForm(choices=choices)}
            )
        if not same_origin(request):
            return render(request, "consent/public/optin_refused.html", context, status=403)
        if not submission_allowed(ip=client_ip(request), form=form):
            return render(request, "consent/public/optin_busy.html", context, status=429)
        submission = OptInSubmissionForm(request.POST, choices=choices)
        if submission.is_bot:
            # A bot gets exactly what a person gets, so it learns nothing; nothing is stored.
            return _optin_sent(request, context)
        if not ticket_matches(request.POST.get("ticket", ""), form):
            submission.is_valid()
            submission.add_error(None, "This form has changed since you opened it. Check it and send it again.")
        elif submission.is_valid():
            try:
                optin_submit(
                    tenant=tenant,
                    form=form,
                    email=submission.cleaned_data["email"],
                    purposes=submission.cleaned_data["purposes"],
                    evidence=_evidence(request, form.form_version),
                )
            except (ContactInputError, ConsentError) as error:
                _form_errors(submission, error)
            else:
                return _optin_sent(request, context)
        return render(request, "consent/public/optin_form.html", {**context, "form": submission}, status=400)


def _form_errors(submission: OptInSubmissionForm, error: ContactInputError | ConsentError) -> None:
    if isinstance(error, ContactInputError):
        submission.add_error("email", "Enter a valid email address, like name@example.com.")
    elif hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            submission.add_error(field if field in submission.fields else None, messages)
    else:
        submission.add_error(None, error.messages)


def _optin_sent(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    """The same page whatever happened: a new address, a known one, one already subscribed, or
    a bot. Nobody can learn from it whether an address is on the organisation's lists."""
    return render(
        request,
        "consent/public/optin_sent.html",
        {**context, "hours": settings.CONSENT_OPTIN_CONFIRM_HOURS},
    )


# --- The confirmation link ------------------------------------------------------------------------


@public_view
@private_page
@csrf_exempt  # the secret in the URL is the authority; a forger would need it
@require_http_methods(["GET", "POST"])
def confirm_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET changes nothing (mail scanners fetch links): it shows a page whose small static script
    POSTs at once, so a person confirms in one click. The POST confirms."""
    tenant_id = confirmation_token_tenant_id(token)
    tenant = active_organisation(tenant_id) if tenant_id else None
    if tenant is None:
        return _invalid_link(request)
    with tenant_context(tenant, switch_from_active=True):
        if request.method == "POST":
            result = optin_confirm(tenant=tenant, token=token, evidence=_evidence(request, ""))
        else:
            result = optin_request_state(tenant=tenant, token=token)
        context: dict[str, Any] = {"organisation": tenant, "token": token}
        optin = result.request
        if result.outcome == Outcome.INVALID or optin is None:
            return _invalid_link(request)
        if result.outcome == Outcome.PENDING:
            return render(request, "consent/public/confirm_pending.html", context)
        if result.outcome == Outcome.EXPIRED:
            form = optin.form
            context["form_url"] = optin_form_url(tenant=tenant, form=form) if form.is_active else ""
            context["hours"] = settings.CONSENT_OPTIN_CONFIRM_HOURS
            return render(request, "consent/public/confirm_expired.html", context, status=410)
        contact = recipient_contact(tenant=tenant, contact_id=optin.contact_id)
        context["preferences_url"] = preference_centre_url(tenant=tenant, contact=contact) if contact else ""
        context["purposes"] = _purpose_names(tenant, optin.purposes)
        template = "confirmed" if result.outcome == Outcome.CONFIRMED else "already_confirmed"
        return render(request, f"consent/public/{template}.html", context)


def _purpose_names(tenant: Organisation, keys: list[str]) -> list[str]:
    names = []
    for key in keys:
        try:
            names.append(purpose_get(tenant=tenant, key=key, allow_archived=True).name)
        except UnknownPurpose:
            continue
    return names


# --- The preference centre ------------------------------------------------------------------------


@public_view
@private_page
@require_http_methods(["GET", "POST"])
def preferences_view(request: HttpRequest, token: str) -> HttpResponse:
    """A normal page with Django's CSRF protection; the sealed token says whose choices these are."""
    try:
        target = read_preference_token(token)
        with recipient_context(target) as (tenant, contact):
            if contact is None:
                return _invalid_link(request, status=410)
            return _preferences(request, tenant, contact, target.message_id)
    except InvalidLink:
        return _invalid_link(request)


def _preferences(request: HttpRequest, tenant: Organisation, contact: Any, message_id: int | None) -> HttpResponse:
    here = request.path
    if request.method == "POST" and request.POST.get("action") == "unsubscribe_all":
        recipient_unsubscribe(
            tenant=tenant,
            contact=contact,
            purpose="",
            channel=Channel.PREFERENCE_CENTRE,
            evidence=_evidence(request, "preference-centre"),
            message_id=message_id,
        )
        return HttpResponseRedirect(f"{here}?done=unsubscribed")
    centre = preference_centre_get(tenant=tenant, contact=contact)
    form = PreferenceForm(request.POST or None, centre=centre)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            choices = PreferenceChoices(
                granted=frozenset(data["purposes"]),
                frequency=data["frequency"],
                topics_declined=frozenset(t.key for t in centre.topics if t.key not in set(data["topics"])),
                accepts_unencrypted=data["delivery"] == ORDINARY_EMAIL,
                warning_accepted=data["warning_accepted"],
                tracking_opt_out={TRACKING_OFF: True, TRACKING_ALLOW: False}.get(data.get("tracking") or ""),
            )
            try:
                preference_centre_save(
                    tenant=tenant,
                    contact=contact,
                    choices=choices,
                    evidence=_evidence(request, "preference-centre"),
                    message_id=message_id,
                )
            except ConsentError as error:
                _form_errors_preferences(form, error)
            else:
                return HttpResponseRedirect(f"{here}?done=saved")
        status = 400
    context = {
        "organisation": tenant,
        "centre": centre,
        "form": form,
        "warning": UNENCRYPTED_WARNING,
        "done": request.GET.get("done", "") if request.method == "GET" else "",
        "statuses": {row.purpose.key: row for row in centre.purposes},
    }
    return render(request, "consent/public/preferences.html", context, status=status)


def _form_errors_preferences(form: PreferenceForm, error: ConsentError) -> None:
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)


# --- One-click unsubscribe (RFC 8058) -------------------------------------------------------------


@public_view
@private_page
@csrf_exempt  # RFC 8058: the provider's POST has no cookies and no CSRF token; the sealed token is the authority
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks (a scanner's GET must not unsubscribe anyone); POST unsubscribes at once and
    answers 200 with a short page, never a redirect. Doing it again is harmless."""
    try:
        target = read_unsubscribe_token(token)
        with recipient_context(target) as (tenant, contact):
            context: dict[str, Any] = {"organisation": tenant, "purpose_name": _purpose_label(tenant, target.purpose)}
            if request.method == "GET":
                context["one_click_value"] = ONE_CLICK_BODY.split("=", 1)[1]
                return render(request, "consent/public/unsubscribe.html", context)
            if contact is not None:
                from_page = request.POST.get("via") == "page"
                recipient_unsubscribe(
                    tenant=tenant,
                    contact=contact,
                    purpose=target.purpose,
                    channel=Channel.PAGE if from_page else Channel.ONE_CLICK,
                    evidence=_evidence(request, "unsubscribe-page" if from_page else "list-unsubscribe-one-click"),
                    message_id=target.message_id,
                )
                context["preferences_url"] = preference_centre_url(
                    tenant=tenant, contact=contact, message_id=target.message_id
                )
            return render(request, "consent/public/unsubscribed.html", context)
    except InvalidLink:
        return _invalid_link(request)


def _purpose_label(tenant: Organisation, purpose: str) -> str:
    if not purpose:
        return ""
    try:
        return purpose_get(tenant=tenant, key=purpose, allow_archived=True).name
    except UnknownPurpose:
        return ""
