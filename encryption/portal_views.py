"""The recipient portal's pages (no sign-in). Each view finds the organisation and the message
from the link token alone (``escrow_from_token``) and runs inside that organisation's
``tenant_context``; nothing else in the request can choose the tenant. Pages show no address
(a masked hint at most), are neither cached nor indexed, and carry a strict
Content-Security-Policy: nothing remote loads, whatever the message contains.

The message page needs this browser's proof (``EscrowAccess``, found by the portal cookie);
without it every page leads back to the start page.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.csp import CSP
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from authn.passkeys import MAX_CREDENTIAL_JSON, PasskeyError
from encryption import portal
from encryption.escrow import escrow_from_token, escrow_settings_for
from encryption.models import EscrowAccessMethod, EscrowedMessage, EscrowSettings
from encryption.portal_html import link_description, sanitise_message_html
from tenants.access import public_view
from tenants.context import tenant_context
from tenants.models import Organisation

LOGO_TYPES = frozenset({"image/png", "image/jpeg"})
STATE_STATUS = {portal.EXPIRED: 410, portal.RETRACTED: 410, portal.LOCKED: 403}

# Nothing remote: no image, font, style sheet or connection leaves for another site. Inline
# styles only through the nonce (the brand colour) ...
PORTAL_CSP: dict[str, list[str]] = {
    "default-src": [CSP.NONE],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
}
# ... and, on the message page, the message's own style attributes (sanitised: nothing in them
# can fetch anything, and img-src/font-src forbid it anyway).
MESSAGE_CSP: dict[str, list[str]] = {**PORTAL_CSP, "style-src-attr": [CSP.UNSAFE_INLINE]}


@dataclass
class Visit:
    """One request to the portal: whose message it is and this browser's portal cookie."""

    token: str
    tenant: Organisation
    escrow: EscrowedMessage
    settings_row: EscrowSettings
    browser_token: str
    new_browser: bool

    @property
    def state(self) -> str:
        return portal.portal_state(self.escrow)

    def access(self) -> Any:
        return portal.browser_access(tenant=self.tenant, escrow=self.escrow, browser_token=self.browser_token)

    def url(self, name: str, **kwargs: Any) -> str:
        return reverse(f"escrow_portal:{name}", kwargs={"token": self.token, **kwargs})


PortalView = Callable[..., HttpResponseBase]


def portal_page(view: PortalView) -> Callable[..., HttpResponseBase]:
    """Resolve the token (an unknown one gets the "not valid" page), enter its organisation,
    keep the portal cookie, and mark the response private."""

    @wraps(view)
    def wrapped(request: HttpRequest, token: str, *args: Any, **kwargs: Any) -> HttpResponseBase:
        found = escrow_from_token(token)
        if found is None:
            response: HttpResponseBase = invalid_link(request)
        else:
            tenant, escrow = found
            cookie = request.COOKIES.get(portal.PORTAL_COOKIE, "")
            fresh = not (43 <= len(cookie) <= 64)
            with tenant_context(tenant, switch_from_active=True):
                visit = Visit(
                    token=token,
                    tenant=tenant,
                    escrow=escrow,
                    settings_row=escrow_settings_for(tenant=tenant),
                    browser_token=portal.new_browser_token() if fresh else cookie,
                    new_browser=fresh,
                )
                response = view(request, visit, *args, **kwargs)
            if fresh:
                response.set_cookie(
                    portal.PORTAL_COOKIE,
                    visit.browser_token,
                    path="/secure/",
                    secure=settings.SESSION_COOKIE_SECURE,
                    httponly=True,
                    samesite="Lax",
                )
        response["Cache-Control"] = "no-store"
        response["X-Robots-Tag"] = "noindex, nofollow"
        if not hasattr(response, "_csp_config"):
            response._csp_config = PORTAL_CSP  # type: ignore[attr-defined]
        return response

    return wrapped


def invalid_link(request: HttpRequest) -> HttpResponse:
    return render(request, "encryption/portal/invalid.html", {"organisation": None}, status=404)


def _context(visit: Visit, **extra: Any) -> dict[str, Any]:
    colour = portal.brand_colour(visit.settings_row)
    return {
        "organisation": visit.tenant,
        "sender": visit.escrow.from_name or visit.tenant.name,
        "token": visit.token,
        "brand_colour": colour,
        "brand_ink": portal.brand_ink(colour),
        "has_logo": bool(visit.settings_row.logo) and visit.settings_row.logo_type in LOGO_TYPES,
        **extra,
    }


def _state_page(request: HttpRequest, visit: Visit, state: str) -> HttpResponse:
    return render(
        request, f"encryption/portal/{state}.html", _context(visit, escrow=visit.escrow), status=STATE_STATUS[state]
    )


def _redirect(url: str) -> HttpResponseRedirect:
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _unavailable(request: HttpRequest, visit: Visit) -> HttpResponse | None:
    """The page for a message that cannot be read, or None when it can."""
    state = visit.state
    return None if state == portal.ACTIVE else _state_page(request, visit, state)


def _fresh_state(visit: Visit) -> str:
    """The message's state as the database has it now (a concurrent request may have changed
    it); never ``active`` here, since the caller was refused."""
    visit.escrow.refresh_from_db()
    state = visit.state
    return portal.EXPIRED if state == portal.ACTIVE else state


def _signed_in(visit: Visit) -> bool:
    return portal.access_complete(visit.access(), visit.settings_row)


# --- The start page and codes ---------------------------------------------------------------------


def _start_page(request: HttpRequest, visit: Visit, *, error: str = "", status: int = 200) -> HttpResponse:
    offered = portal.passkeys_offered(tenant=visit.tenant, escrow=visit.escrow)
    context = _context(
        visit,
        hint=portal.masked_address(visit.escrow.recipient_email),
        passkeys=offered,
        error=error,
    )
    return render(request, "encryption/portal/start.html", context, status=status)


@public_view
@require_GET
@portal_page
def start_view(request: HttpRequest, visit: Visit) -> HttpResponseBase:
    if (refused := _unavailable(request, visit)) is not None:
        return refused
    portal.portal_opened(tenant=visit.tenant, escrow=visit.escrow)
    access = visit.access()
    if portal.access_complete(access, visit.settings_row):
        return _redirect(visit.url("message"))
    if access is not None:
        return _redirect(visit.url("secret"))
    return _start_page(request, visit)


@public_view
@require_POST
@portal_page
def send_code_view(request: HttpRequest, visit: Visit) -> HttpResponseBase:
    if (refused := _unavailable(request, visit)) is not None:
        return refused
    try:
        portal.code_request(tenant=visit.tenant, escrow=visit.escrow)
    except portal.PortalRefused as error:
        if error.code == "too_many_codes":
            return _start_page(request, visit, error=error.message, status=429)
        return _state_page(request, visit, _fresh_state(visit))
    return _redirect(visit.url("code"))


def _code_page(request: HttpRequest, visit: Visit, *, error: str = "", status: int = 200) -> HttpResponse:
    context = _context(visit, hint=portal.masked_address(visit.escrow.recipient_email), error=error)
    return render(request, "encryption/portal/code.html", context, status=status)


COOKIES_NEEDED = "Your browser did not keep our cookie. Allow cookies for this site, then enter the code again."


@public_view
@require_http_methods(["GET", "POST"])
@portal_page
def code_view(request: HttpRequest, visit: Visit) -> HttpResponseBase:
    if (refused := _unavailable(request, visit)) is not None:
        return refused
    if request.method == "GET":
        return _code_page(request, visit)
    if visit.new_browser:
        return _code_page(request, visit, error=COOKIES_NEEDED, status=400)
    try:
        result = portal.code_verify(
            tenant=visit.tenant,
            escrow=visit.escrow,
            code=request.POST.get("code", ""),
            browser_token=visit.browser_token,
        )
    except portal.PortalRefused:  # expired, retracted or locked since the page was checked
        return _state_page(request, visit, _fresh_state(visit))
    return _after_verification(request, visit, result)


def _after_verification(request: HttpRequest, visit: Visit, result: portal.Verification) -> HttpResponseBase:
    if result.locked:
        return _state_page(request, visit, portal.LOCKED)
    if not result.ok:
        if result.needs_secret:
            return _secret_page(request, visit, error=result.message, status=400)
        return _code_page(request, visit, error=result.message, status=400)
    return _redirect(visit.url("secret" if result.needs_secret else "message"))


def _secret_page(request: HttpRequest, visit: Visit, *, error: str = "", status: int = 200) -> HttpResponse:
    prompt = visit.settings_row.shared_secret_prompt or "Please answer the question the organisation set."
    return render(request, "encryption/portal/secret.html", _context(visit, prompt=prompt, error=error), status=status)


@public_view
@require_http_methods(["GET", "POST"])
@portal_page
def secret_view(request: HttpRequest, visit: Visit) -> HttpResponseBase:
    if (refused := _unavailable(request, visit)) is not None:
        return refused
    access = visit.access()
    if access is None:
        return _redirect(visit.url("start"))
    if portal.access_complete(access, visit.settings_row):
        return _redirect(visit.url("message"))
    if request.method == "GET":
        return _secret_page(request, visit)
    try:
        result = portal.secret_answer(
            tenant=visit.tenant,
            escrow=visit.escrow,
            browser_token=visit.browser_token,
            answer=request.POST.get("answer", ""),
        )
    except portal.PortalRefused as error:
        if error.code == "no_access":
            return _redirect(visit.url("start"))
        return _state_page(request, visit, _fresh_state(visit))
    return _after_verification(request, visit, result)


# --- The message, its links and the reply ---------------------------------------------------------


def _message_page(
    request: HttpRequest, visit: Visit, *, error: str = "", reply: str = "", status: int = 200
) -> HttpResponse:
    escrow = visit.escrow
    sanitised = sanitise_message_html(escrow.html or "", link_prefix=f"{visit.url('start')}link/")
    access = visit.access()
    context = _context(
        visit,
        subject=escrow.subject or "",
        body_html=sanitised.html,
        body_text="" if (escrow.html or "").strip() else (escrow.text or ""),
        error=error,
        reply=reply,
        replied=request.GET.get("sent") == "1",
        offer_passkey=(
            visit.settings_row.allow_passkeys and access is not None and access.method == EscrowAccessMethod.CODE
        ),
        expires_at=escrow.expires_at,
        reply_max=portal.REPLY_MAX_CHARS,
    )
    response = render(request, "encryption/portal/message.html", context, status=status)
    response._csp_config = MESSAGE_CSP  # type: ignore[attr-defined]
    return response


@public_view
@require_GET
@portal_page
def message_view(request: HttpRequest, visit: Visit) -> HttpResponseBase:
    if (refused := _unavailable(request, visit)) is not None:
        return refused
    if not _signed_in(visit):
        return _redirect(visit.url("start"))
    portal.message_read(tenant=visit.tenant, escrow=visit.escrow)
    return _message_page(request, visit)


@public_view
@require_POST
@portal_page
def reply_view(request: HttpRequest, visit: Visit) -> HttpResponseBase:
    if (refused := _unavailable(request, visit)) is not None:
        return refused
    if not _signed_in(visit):
        return _redirect(visit.url("start"))
    body = request.POST.get("body", "")
    try:
        portal.reply_send(tenant=visit.tenant, escrow=visit.escrow, body=body)
    except portal.PortalRefused as error:
        if error.code in {"empty_reply", "long_reply"}:
            return _message_page(request, visit, error=error.message, reply=body, status=400)
        return _state_page(request, visit, _fresh_state(visit))
    return _redirect(f"{visit.url('message')}?sent=1#reply")


@public_view
@require_GET
@portal_page
def link_view(request: HttpRequest, visit: Visit, position: int) -> HttpResponseBase:
    """The warning before leaving: the target is the stored message's link at ``position``."""
    if (refused := _unavailable(request, visit)) is not None:
        return refused
    if not _signed_in(visit):
        return _redirect(visit.url("start"))
    links = sanitise_message_html(visit.escrow.html or "", link_prefix="").links
    if not 0 <= position < len(links):
        return invalid_link(request)
    target = links[position]
    context = _context(visit, target=target, destination=link_description(target))
    response = render(request, "encryption/portal/link.html", context)
    response["Referrer-Policy"] = "no-referrer"
    return response


@public_view
@require_GET
@portal_page
def logo_view(request: HttpRequest, visit: Visit) -> HttpResponseBase:
    row = visit.settings_row
    if not row.logo or row.logo_type not in LOGO_TYPES:
        return HttpResponse(status=404)
    response = HttpResponse(bytes(row.logo), content_type=row.logo_type)
    response["Content-Disposition"] = "inline"
    return response


# --- Passkeys -------------------------------------------------------------------------------------


def _json_error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _credential_json(request: HttpRequest) -> dict[str, Any] | None:
    if len(request.body) > MAX_CREDENTIAL_JSON:
        return None
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


@public_view
@require_POST
@portal_page
def passkey_options_view(request: HttpRequest, visit: Visit) -> HttpResponseBase:
    if visit.state != portal.ACTIVE or not portal.passkeys_offered(tenant=visit.tenant, escrow=visit.escrow):
        return _json_error("Passkeys cannot be used for this message. Ask for a code instead.")
    options = portal.passkey_assertion_options(tenant=visit.tenant, escrow=visit.escrow, session=request.session)
    return JsonResponse({"publicKey": json.loads(options)})


@public_view
@require_POST
@portal_page
def passkey_verify_view(request: HttpRequest, visit: Visit) -> HttpResponseBase:
    credential = _credential_json(request)
    if credential is None:
        return _json_error("The passkey response could not be read.")
    try:
        portal.passkey_verify(
            tenant=visit.tenant,
            escrow=visit.escrow,
            session=request.session,
            credential=credential,
            browser_token=visit.browser_token,
        )
    except PasskeyError as error:
        return _json_error(error.message)
    except portal.PortalRefused:
        return _json_error("This message can no longer be opened.")
    return JsonResponse({"redirect": visit.url("message")})


@public_view
@require_POST
@portal_page
def passkey_register_options_view(request: HttpRequest, visit: Visit) -> HttpResponseBase:
    if visit.state != portal.ACTIVE or not visit.settings_row.allow_passkeys or not _signed_in(visit):
        return _json_error("Open your message with a code first.", status=403)
    options = portal.passkey_registration_options(tenant=visit.tenant, escrow=visit.escrow, session=request.session)
    return JsonResponse({"publicKey": json.loads(options)})


@public_view
@require_POST
@portal_page
def passkey_register_view(request: HttpRequest, visit: Visit) -> HttpResponseBase:
    if visit.state != portal.ACTIVE or not visit.settings_row.allow_passkeys or not _signed_in(visit):
        return _json_error("Open your message with a code first.", status=403)
    data = _credential_json(request)
    credential = data.get("credential") if data else None
    if not isinstance(credential, dict):
        return _json_error("The passkey response could not be read.")
    try:
        portal.passkey_register(
            tenant=visit.tenant, escrow=visit.escrow, session=request.session, credential=credential
        )
    except PasskeyError as error:
        return _json_error(error.message)
    return JsonResponse({"redirect": f"{visit.url('message')}?passkey=1"})
