"""Signing in: password (then a second step when the policy asks for one) or a passkey, with or
without a username; the step-up page; passkey enrollment when the role requires it."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.services import actor_for_user
from audit.signals import record_for_each_organisation
from authn import throttle
from authn.auth_state import PENDING_KEY, auth_state, mark_stepped_up
from authn.factors import recovery_code_use, totp_verify
from authn.forms import EmailAuthenticationForm, SecondFactorCodeForm
from authn.geo import Location
from authn.models import Factor, User, UserSession
from authn.passkeys import PasskeyError, authentication_options, passkey_verify_assertion, user_has_passkey
from authn.signin import open_user_session
from authn.signin_flow import (
    PendingSignIn,
    Verdict,
    decide_sign_in,
    pending_sign_in,
    pending_user,
    record_second_step,
    store_pending,
)
from sealpost.request_id import client_ip
from tenants.access import login_only, public_view

NEXT_KEY = "sealpost_sign_in_next"


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse(settings.LOGIN_REDIRECT_URL)


def _complete(request: HttpRequest, user: User, factor: Factor, verdict: Verdict | None, passkey: Any = None) -> str:
    location = verdict.location if verdict else None
    next_url = request.session.pop(NEXT_KEY, None)
    open_user_session(
        request,
        user,
        factor=factor,
        passkey=passkey,
        country=location.country if location else "",
        latitude=location.latitude if location else None,
        longitude=location.longitude if location else None,
    )
    return _safe_next(request, next_url)


def _complete_pending(
    request: HttpRequest, pending: PendingSignIn, user: User, factor: Factor, passkey: Any = None
) -> str:
    record_second_step(user, factor)
    location = Location(country=pending.country, latitude=pending.latitude, longitude=pending.longitude)
    return _complete(request, user, factor, Verdict("complete", location=location), passkey)


# --- Password, then maybe a second step -------------------------------------------------------


class PasswordLoginView(auth_views.LoginView):
    template_name = "authn/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def form_valid(self, form: EmailAuthenticationForm) -> HttpResponse:  # type: ignore[override]
        user = form.get_user()
        verdict = decide_sign_in(self.request, user, factor=Factor.PASSWORD)
        if verdict.outcome == "blocked":
            form.add_error(None, f"Sign-in refused: {verdict.reason}")
            return self.render_to_response(self.get_context_data(form=form), status=403)
        self.request.session[NEXT_KEY] = self.get_redirect_url() or ""
        if verdict.outcome == "second_factor":
            store_pending(self.request, user, verdict, Factor.PASSWORD)
            return redirect("authn:verify")
        return HttpResponseRedirect(_complete(self.request, user, Factor.PASSWORD, verdict))


login = public_view(never_cache(PasswordLoginView.as_view()))


@public_view
@never_cache
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """The second step: a passkey, an authenticator code or a recovery code, whichever the user
    has and the policy accepts."""
    pending = pending_sign_in(request)
    user = pending_user(pending) if pending else None
    if pending is None or user is None:
        return redirect("authn:login")
    form = SecondFactorCodeForm(request.POST or None, acceptable=pending.acceptable)
    if request.method == "POST" and form.is_valid():
        ip = client_ip(request)
        lock = throttle.current_lock(user.email, ip)
        if lock is not None:
            request.session.pop(PENDING_KEY, None)
            form.add_error(None, f"Too many attempts. Try again in {lock.minutes_left} minutes.")
        else:
            factor, accepted = _check_code(user, form.cleaned_data["method"], form.cleaned_data["code"])
            if accepted:
                throttle.record_success(user.email)
                return redirect(_complete_pending(request, pending, user, factor))
            record_for_each_organisation(user, "auth.second_factor_failed", actor_for_user(user), {"method": factor})
            if throttle.record_failure(user.email, ip):
                from audit.signals import record_lockout

                record_lockout(user.email)
            form.add_error("code", "That code is not valid. Check it and try again.")
    context = {"form": form, "acceptable": pending.acceptable, "pending_user": user}
    return render(request, "authn/verify.html", context, status=400 if form.errors else 200)


def _check_code(user: User, method: str, code: str) -> tuple[Factor, bool]:
    if method == "totp":
        return Factor.TOTP, totp_verify(user=user, code=code)
    return Factor.RECOVERY, recovery_code_use(user=user, code=code)


# --- Passkey sign-in (first factor, or the second step) ---------------------------------------


def _json_error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@public_view
@require_POST
def passkey_sign_in_options(request: HttpRequest) -> JsonResponse:
    pending = pending_sign_in(request)
    if pending is not None and "passkey" in pending.acceptable:
        user = pending_user(pending)
        if user is None:
            return _json_error("Your sign-in expired. Please start again.")
        options = authentication_options(request, purpose="second_factor", user=user)
    else:
        options = authentication_options(request, purpose="sign_in", user=None)
    return JsonResponse({"publicKey": json.loads(options)})


@public_view
@require_POST
def passkey_sign_in_verify(request: HttpRequest) -> JsonResponse:
    ip = client_ip(request)
    lock = throttle.current_lock("", ip)
    if lock is not None:
        return _json_error(f"Too many attempts. Try again in {lock.minutes_left} minutes.", status=429)
    pending = pending_sign_in(request)
    expected = pending_user(pending) if pending is not None and "passkey" in pending.acceptable else None
    purpose = "second_factor" if expected is not None else "sign_in"
    try:
        verified = passkey_verify_assertion(
            request=request, purpose=purpose, credential_json=request.body, expected_user=expected
        )
    except PasskeyError as error:
        locked = throttle.record_failure(expected.email if expected else "", ip)
        if locked and expected is not None:
            from audit.signals import record_lockout

            record_lockout(expected.email)
        return _json_error(error.message)
    user = verified.user
    if pending is not None and expected is not None:
        return JsonResponse({"redirect": _complete_pending(request, pending, user, Factor.PASSKEY, verified.passkey)})
    verdict = decide_sign_in(request, user, factor=Factor.PASSKEY)
    if verdict.outcome == "blocked":
        return _json_error(f"Sign-in refused: {verdict.reason}", status=403)
    return JsonResponse({"redirect": _complete(request, user, Factor.PASSKEY, verdict, verified.passkey)})


# --- Step-up: a fresh passkey assertion before sensitive actions ------------------------------


@login_only
@never_cache
@require_GET
def step_up(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request, request.GET.get("next"))
    context = {"next": next_url, "has_passkey": user_has_passkey(request.user)}  # type: ignore[arg-type]
    return render(request, "authn/step_up.html", context)


@login_only
@require_POST
def step_up_options(request: HttpRequest) -> JsonResponse:
    if not user_has_passkey(request.user):  # type: ignore[arg-type]
        return _json_error("Add a passkey first: this action needs one.")
    options = authentication_options(request, purpose="step_up", user=request.user)  # type: ignore[arg-type]
    return JsonResponse({"publicKey": json.loads(options)})


@login_only
@require_POST
def step_up_verify(request: HttpRequest) -> JsonResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        verified = passkey_verify_assertion(
            request=request, purpose="step_up", credential_json=request.body, expected_user=user
        )
    except PasskeyError as error:
        record_for_each_organisation(user, "auth.step_up_failed", actor_for_user(user), {"reason": error.code})
        return _json_error(error.message)
    mark_stepped_up(request, verified.passkey.pk)
    state = auth_state(request)
    if state is not None:
        UserSession.objects.filter(pk=state.session_id).update(
            factor=Factor.PASSKEY, passkey=verified.passkey, session_key=request.session.session_key or ""
        )
    record_for_each_organisation(
        user, "auth.step_up_succeeded", actor_for_user(user), {"passkey_id": verified.passkey.pk}
    )
    next_url = _safe_next(request, request.GET.get("next"))
    return JsonResponse({"redirect": next_url})


# --- Enrollment required ------------------------------------------------------------------------


@login_only
@never_cache
@require_GET
def enroll(request: HttpRequest) -> HttpResponse:
    from authn.enforcement import factor_requirement

    requirement = factor_requirement(request)
    context = {
        "requirement": requirement,
        "has_passkey": user_has_passkey(request.user),  # type: ignore[arg-type]
        "now": timezone.now(),
    }
    return render(request, "authn/enroll.html", context)
