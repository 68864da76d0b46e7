"""The user's own fallback factors: an authenticator app (TOTP) and recovery codes.

Every page acts on ``request.user`` only: factors belong to the person, not to an organisation,
and no route takes an id. Changing a factor needs re-authentication: a fresh passkey step-up for
users who have a passkey, the current password for those who do not (a marketer signing in with
password and authenticator app). Pages that show a secret (the TOTP key and its QR code, new
recovery codes) are ``no-store`` and the secrets are never logged or audited.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

import segno
from django.contrib import messages
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_totp.models import TOTPDevice

from authn.factors import (
    FactorNotAllowed,
    ReauthenticationFailed,
    fallback_factors_allowed,
    password_reauthenticate,
    recovery_codes_generate,
    recovery_codes_left,
    totp_device_begin,
    totp_device_confirm,
    totp_device_of,
    totp_device_remove,
    totp_pending_device,
    totp_provisioning_uri,
    totp_secret_text,
)
from authn.forms_factors import PasswordConfirmForm, TotpCodeForm
from authn.models import User
from authn.passkeys import user_has_passkey
from authn.stepup import has_fresh_step_up
from sealpost.request_id import client_ip
from tenants.access import require_permission
from tenants.http import TenantRequest

# The unconfirmed device being set up, bound to the session that re-authenticated to start it.
SETUP_SESSION_KEY = "sealpost_totp_setup"
TOTP_SETUP_SECONDS = 10 * 60


def _user(request: TenantRequest) -> User:
    return request.user  # type: ignore[return-value]


def _changed_url(page: str) -> str:
    return f"{reverse(page)}?changed=1"


# --- Re-authentication ------------------------------------------------------------------------


def _step_up_link(page: str) -> str:
    return f"{reverse('authn:step_up')}?{urlencode({'next': reverse(page)})}"


def _reauth_context(request: TenantRequest, page: str, password_form: PasswordConfirmForm | None) -> dict[str, object]:
    has_passkey = user_has_passkey(_user(request))
    return {
        "needs_step_up": has_passkey and not has_fresh_step_up(request),
        "needs_password": not has_passkey,
        "step_up_link": _step_up_link(page),
        "password_form": password_form or PasswordConfirmForm(),
    }


def _reauthenticate(request: TenantRequest, page: str) -> HttpResponse | PasswordConfirmForm | None:
    """None when the user has just proved who they are; otherwise a redirect to the step-up page
    or the password form carrying its errors."""
    user = _user(request)
    if user_has_passkey(user):
        return None if has_fresh_step_up(request) else redirect(_step_up_link(page))
    form = PasswordConfirmForm(request.POST)
    if form.is_valid():
        try:
            password_reauthenticate(user=user, password=form.cleaned_data["password"], ip=client_ip(request))
        except ReauthenticationFailed as error:
            form.add_error("password", error.message)
        else:
            return None
    return form


# --- Authenticator app --------------------------------------------------------------------------


def _pending_device(request: TenantRequest) -> TOTPDevice | None:
    raw = request.session.get(SETUP_SESSION_KEY)
    if not isinstance(raw, dict):
        return None
    try:
        device_id, started_at = int(raw["device_id"]), float(raw["started_at"])
    except (KeyError, TypeError, ValueError):
        request.session.pop(SETUP_SESSION_KEY, None)
        return None
    if not 0 <= time.time() - started_at <= TOTP_SETUP_SECONDS:
        request.session.pop(SETUP_SESSION_KEY, None)
        return None
    return totp_pending_device(user=_user(request), device_id=device_id)


def _qr_data_uri(uri: str) -> str:
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=4))


def _render_totp(
    request: TenantRequest,
    *,
    status: int = 200,
    confirm_form: TotpCodeForm | None = None,
    password_form: PasswordConfirmForm | None = None,
    failed_action: str = "",
) -> HttpResponse:
    user = _user(request)
    pending = _pending_device(request)
    context: dict[str, object] = {
        "allowed": fallback_factors_allowed(user),
        "device": totp_device_of(user),
        "pending": pending,
        "confirm_form": confirm_form or TotpCodeForm(),
        "failed_action": failed_action,
        "changed": request.GET.get("changed") == "1",
        **_reauth_context(request, "authn:totp_setup", password_form),
    }
    if pending is not None:
        uri = totp_provisioning_uri(pending, account=user.email)
        context["qr_data_uri"] = _qr_data_uri(uri)
        context["secret_text"] = totp_secret_text(pending)
    return render(request, "authn/totp_setup.html", context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
@require_permission("account.view")
def totp_setup(request: TenantRequest) -> HttpResponse:
    if request.method == "GET":
        return _render_totp(request)
    action = request.POST.get("action")
    if action == "begin":
        return _totp_begin(request)
    if action == "confirm":
        return _totp_confirm(request)
    if action == "remove":
        return _totp_remove(request)
    return HttpResponseBadRequest("Unknown action.")


def _totp_begin(request: TenantRequest) -> HttpResponse:
    user = _user(request)
    if not fallback_factors_allowed(user):
        messages.error(request, FactorNotAllowed.message)
        return _render_totp(request, status=403)
    outcome = _reauthenticate(request, "authn:totp_setup")
    if isinstance(outcome, HttpResponse):
        return outcome
    if outcome is not None:
        return _render_totp(request, status=400, password_form=outcome, failed_action="begin")
    try:
        device = totp_device_begin(user=user)
    except FactorNotAllowed as refused:
        messages.error(request, str(refused))
        return _render_totp(request, status=403)
    request.session[SETUP_SESSION_KEY] = {"device_id": device.pk, "started_at": time.time()}
    return redirect("authn:totp_setup")


def _totp_confirm(request: TenantRequest) -> HttpResponse:
    user = _user(request)
    device = _pending_device(request)
    if device is None:
        messages.error(request, "That setup has expired. Start again.")
        return redirect("authn:totp_setup")
    form = TotpCodeForm(request.POST)
    try:
        confirmed = form.is_valid() and totp_device_confirm(user=user, device=device, code=form.cleaned_data["code"])
    except FactorNotAllowed as refused:
        request.session.pop(SETUP_SESSION_KEY, None)
        messages.error(request, str(refused))
        return _render_totp(request, status=403)
    if not confirmed:
        if not form.errors:
            form.add_error("code", "That code is not right. Check the app's clock and enter the newest code.")
        return _render_totp(request, status=400, confirm_form=form)
    request.session.pop(SETUP_SESSION_KEY, None)
    messages.success(request, "Your authenticator app is set up.")
    return redirect(_changed_url("authn:totp_setup"))


def _is_only_required_second_factor(request: TenantRequest, user: User) -> bool:
    from authn.enforcement import factor_requirement
    from authn.models import RequiredFactor
    from authn.passkeys import user_has_passkey

    requirement = factor_requirement(request)
    needs_second_factor = requirement is not None and requirement.required != RequiredFactor.PASSWORD
    return needs_second_factor and not user_has_passkey(user)


def _totp_remove(request: TenantRequest) -> HttpResponse:
    user = _user(request)
    if totp_device_of(user) is None:
        messages.error(request, "No authenticator app is set up.")
        return redirect("authn:totp_setup")
    if _is_only_required_second_factor(request, user):
        messages.error(
            request,
            "Your organisation requires a second factor and this app is your only one: "
            "add a passkey before removing it.",
        )
        return redirect("authn:totp_setup")
    outcome = _reauthenticate(request, "authn:totp_setup")
    if isinstance(outcome, HttpResponse):
        return outcome
    if outcome is not None:
        return _render_totp(request, status=400, password_form=outcome, failed_action="remove")
    totp_device_remove(user=user)
    request.session.pop(SETUP_SESSION_KEY, None)
    messages.success(request, "Your authenticator app was removed. Its codes no longer work.")
    return redirect(_changed_url("authn:totp_setup"))


# --- Recovery codes -----------------------------------------------------------------------------


def _render_recovery(
    request: TenantRequest,
    *,
    status: int = 200,
    codes: list[str] | None = None,
    password_form: PasswordConfirmForm | None = None,
) -> HttpResponse:
    user = _user(request)
    context: dict[str, object] = {
        "allowed": fallback_factors_allowed(user),
        "left": recovery_codes_left(user),
        "codes": codes or [],
        "codes_text": "\n".join(codes or []),
        "failed_action": "generate" if password_form is not None else "",
        **_reauth_context(request, "authn:recovery_codes", password_form),
    }
    return render(request, "authn/recovery_codes.html", context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
@require_permission("account.view")
def recovery_codes(request: TenantRequest) -> HttpResponse:
    if request.method == "GET":
        return _render_recovery(request)
    user = _user(request)
    if not fallback_factors_allowed(user):
        messages.error(request, FactorNotAllowed.message)
        return _render_recovery(request, status=403)
    outcome = _reauthenticate(request, "authn:recovery_codes")
    if isinstance(outcome, HttpResponse):
        return outcome
    if outcome is not None:
        return _render_recovery(request, status=400, password_form=outcome)
    try:
        codes = recovery_codes_generate(user=user)
    except FactorNotAllowed as refused:
        messages.error(request, str(refused))
        return _render_recovery(request, status=403)
    # Shown in this response only (no redirect): the codes are never stored in the clear.
    return _render_recovery(request, codes=codes)
