"""A user's own sign-in methods and sessions: passkeys (add, rename, remove), open sessions
(end one, end all others), and the overview page linking them with the authenticator app and
recovery codes."""

from __future__ import annotations

import json
import uuid

from django.contrib import messages
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from authn.auth_state import auth_state
from authn.factors import recovery_codes_left, user_has_totp
from authn.forms import PasskeyNameForm
from authn.models import User
from authn.passkeys import (
    PasskeyError,
    passkey_get,
    passkey_register,
    passkey_remove,
    passkey_rename,
    passkeys_of,
    registration_options,
    user_has_passkey,
)
from authn.sessions_admin import (
    open_sessions_of_members,
    session_end,
    sessions_end_others,
    sessions_of,
    user_session_get,
    user_session_get_for_member,
)
from authn.stepup import has_fresh_step_up, require_step_up
from tenants.access import require_permission
from tenants.http import TenantRequest


def _user(request: TenantRequest) -> User:
    return request.user  # type: ignore[return-value]


@require_GET
@require_permission("account.view")
def security(request: TenantRequest) -> HttpResponse:
    user = _user(request)
    state = auth_state(request)
    context = {
        "passkeys": passkeys_of(user),
        "has_totp": user_has_totp(user),
        "recovery_left": recovery_codes_left(user),
        "open_sessions": [s for s in sessions_of(user) if s.is_open],
        "current_session_id": state.session_id if state else "",
    }
    return render(request, "authn/security.html", context)


# --- Passkeys -------------------------------------------------------------------------------------


@never_cache
@require_GET
@require_permission("account.view")
def passkey_list(request: TenantRequest) -> HttpResponse:
    user = _user(request)
    context = {
        "passkeys": passkeys_of(user),
        "form": PasskeyNameForm(),
        "needs_step_up": _adding_needs_step_up(request),
    }
    return render(request, "authn/passkeys.html", context)


def _adding_needs_step_up(request: TenantRequest) -> bool:
    """Someone holding a session must not be able to add their own passkey to the account:
    with a passkey already registered, adding another needs a fresh assertion of one."""
    return user_has_passkey(_user(request)) and not has_fresh_step_up(request)


@require_POST
@require_permission("account.view")
def passkey_options(request: TenantRequest) -> JsonResponse:
    if _adding_needs_step_up(request):
        return JsonResponse({"error": "Confirm with one of your passkeys first (reload the page)."}, status=403)
    return JsonResponse({"publicKey": json.loads(registration_options(request, _user(request)))})


@require_POST
@require_permission("account.view")
def passkey_register_view(request: TenantRequest) -> JsonResponse:
    if _adding_needs_step_up(request):
        return JsonResponse({"error": "Confirm with one of your passkeys first (reload the page)."}, status=403)
    try:
        body = json.loads(request.body or b"{}")
        name = str(body.get("name") or "")
        credential = json.dumps(body.get("credential") or {})
    except (ValueError, AttributeError):
        return JsonResponse({"error": "The passkey response could not be read."}, status=400)
    try:
        passkey = passkey_register(request=request, user=_user(request), name=name, credential_json=credential)
    except PasskeyError as error:
        return JsonResponse({"error": error.message}, status=400)
    messages.success(
        request,
        f"Passkey “{passkey.name}” added. If you added it because another device may be lost, end your other sessions.",
    )
    return JsonResponse({"redirect": reverse("authn:passkey_list") + "?added=1"})


@require_POST
@require_permission("account.view")
def passkey_rename_view(request: TenantRequest, passkey_id: int) -> HttpResponse:
    passkey = passkey_get(user=_user(request), passkey_id=passkey_id)
    form = PasskeyNameForm(request.POST)
    if form.is_valid():
        passkey_rename(user=_user(request), passkey=passkey, name=form.cleaned_data["name"])
        messages.success(request, "Passkey renamed.")
    else:
        messages.error(request, "Give the passkey a name of up to 100 characters.")
    return redirect("authn:passkey_list")


@require_POST
@require_permission("account.view")
@require_step_up
def passkey_remove_view(request: TenantRequest, passkey_id: int) -> HttpResponse:
    user = _user(request)
    passkey = passkey_get(user=user, passkey_id=passkey_id)
    if len(passkeys_of(user)) == 1 and _passkey_required(request):
        messages.error(request, "Your role requires a passkey: add another one before removing this one.")
        return redirect("authn:passkey_list")
    try:
        passkey_remove(user=user, passkey=passkey)
    except PasskeyError as error:
        raise Http404(error.message) from error
    messages.success(
        request,
        f"Passkey “{passkey.name}” removed. Sessions opened with it have ended; you can also end your other sessions.",
    )
    return redirect("authn:passkey_list")


def _passkey_required(request: TenantRequest) -> bool:
    from authn.enforcement import factor_requirement
    from authn.models import RequiredFactor

    requirement = factor_requirement(request)
    return requirement is not None and requirement.required == RequiredFactor.PASSKEY


# --- Sessions ---------------------------------------------------------------------------------------


@require_GET
@require_permission("account.view")
def session_list(request: TenantRequest) -> HttpResponse:
    state = auth_state(request)
    context = {"sessions": sessions_of(_user(request)), "current_session_id": state.session_id if state else ""}
    return render(request, "authn/sessions.html", context)


@require_POST
@require_permission("account.view")
def session_end_view(request: TenantRequest, session_id: uuid.UUID) -> HttpResponse:
    session = user_session_get(user=_user(request), session_id=session_id)
    session_end(session=session, actor=_user(request), reason="ended_by_user", tenant=request.tenant)
    messages.success(request, "Session ended.")
    return redirect("authn:session_list")


@require_POST
@require_permission("account.view")
def session_end_others(request: TenantRequest) -> HttpResponse:
    state = auth_state(request)
    count = sessions_end_others(user=_user(request), keep_session_id=state.session_id if state else None)
    messages.success(request, f"Ended {count} other session{'s' if count != 1 else ''}.")
    return redirect("authn:session_list")


@require_GET
@require_permission("sessions.manage")
def member_session_list(request: TenantRequest) -> HttpResponse:
    sessions = open_sessions_of_members(tenant=request.tenant)
    return render(request, "authn/member_sessions.html", {"sessions": sessions})


@require_POST
@require_permission("sessions.manage")
def member_session_end(request: TenantRequest, session_id: uuid.UUID) -> HttpResponse:
    session = user_session_get_for_member(tenant=request.tenant, session_id=session_id)
    session_end(session=session, actor=_user(request), reason="ended_by_admin", tenant=request.tenant)
    messages.success(request, f"Ended the session of {session.user.display_name}.")
    return redirect("authn:member_session_list")
