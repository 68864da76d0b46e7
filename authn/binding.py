"""Binding a session to the browser and network that created it.

At sign-in the browser gets a long-lived random device cookie (if it has none) and a
``UserSession`` row records the cookie's digest and the client's network. On every request the
session is refused, and its user must sign in again, when the row has been ended (by the user,
an admin, a change of factors or a disabled account), when the device cookie is missing or
different, when the client's network differs, or when the passkey it was opened with has been
removed. A session cookie copied into another browser, or replayed from elsewhere, is useless.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from authn.auth_state import auth_state
from authn.models import UserSession
from sealpost.api_errors import error_body
from sealpost.request_id import client_ip

DEVICE_COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie
SESSION_LAST_SEEN_RESOLUTION_SECONDS = 60


def device_cookie_name() -> str:
    return str(settings.DEVICE_COOKIE_NAME)


def hash_device_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii", errors="replace")).hexdigest()


def device_secret_of(request: HttpRequest) -> str | None:
    value = request.COOKIES.get(device_cookie_name(), "")
    if not value or len(value) > 128 or not value.isascii():
        return None
    return value


def ensure_device_secret(request: HttpRequest) -> str:
    """The browser's device secret, minted now if it has none; the response sets the cookie
    (see ``set_device_cookie``)."""
    secret = device_secret_of(request)
    if secret is None:
        secret = secrets.token_urlsafe(32)
        request.sealpost_new_device_secret = secret  # type: ignore[attr-defined]
    return secret


def set_device_cookie(request: HttpRequest, response: HttpResponse) -> None:
    secret = getattr(request, "sealpost_new_device_secret", None)
    if secret:
        response.set_cookie(
            device_cookie_name(),
            secret,
            max_age=DEVICE_COOKIE_MAX_AGE,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
            path="/",
        )


def network_of(ip: str) -> str:
    """The network a session is bound to: the /24 around an IPv4 address, the /56 around an IPv6
    one (``SESSION_BIND_IPV4_PREFIX`` / ``SESSION_BIND_IPV6_PREFIX``)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "unknown"
    prefix = settings.SESSION_BIND_IPV4_PREFIX if address.version == 4 else settings.SESSION_BIND_IPV6_PREFIX
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def refusal_reason(request: HttpRequest, session: UserSession | None) -> str | None:
    """Why this request may not use its session, or None when it may."""
    if session is None:
        return "unknown_session"
    if session.ended_at is not None:
        return "ended"
    secret = device_secret_of(request)
    if secret is None or not secrets.compare_digest(hash_device_secret(secret), session.device_hash):
        return "other_device"
    if network_of(client_ip(request)) != session.network:
        return "other_network"
    if session.factor == "passkey" and session.passkey_id is None:
        return "passkey_removed"
    return None


_MESSAGES = {
    "ended": "Your session was ended. Please sign in again.",
    "other_device": "This session belongs to another browser. Please sign in again.",
    "other_network": "Your network changed since you signed in. Please sign in again.",
    "passkey_removed": "The passkey this session was opened with was removed. Please sign in again.",
    "unknown_session": "Please sign in again.",
}


class SessionBindingMiddleware:
    """Runs after authentication and the timeout check, before the tenant is resolved."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated:
            response = self.get_response(request)
            set_device_cookie(request, response)
            return response
        state = auth_state(request)
        session = (
            UserSession.objects.filter(pk=state.session_id, user_id=request.user.pk).first()
            if state is not None
            else None
        )
        reason = refusal_reason(request, session)
        if reason is not None:
            return self._refuse(request, session, reason)
        assert session is not None  # noqa: S101 - refusal_reason returned None
        request.user_session = session  # type: ignore[attr-defined]
        self._touch(request, session)
        response = self.get_response(request)
        set_device_cookie(request, response)
        return response

    @staticmethod
    def _touch(request: HttpRequest, session: UserSession) -> None:
        now = timezone.now()
        fields: dict[str, object] = {}
        if (now - session.last_seen_at).total_seconds() >= SESSION_LAST_SEEN_RESOLUTION_SECONDS:
            fields["last_seen_at"] = now
        if request.session.session_key and request.session.session_key != session.session_key:
            fields["session_key"] = request.session.session_key
        if fields:
            UserSession.objects.filter(pk=session.pk).update(**fields)

    @staticmethod
    def _refuse(request: HttpRequest, session: UserSession | None, reason: str) -> HttpResponse:
        from audit.services import actor_for_user
        from audit.signals import record_for_each_organisation

        user = request.user
        if session is not None and session.ended_at is None:
            # A live session presented from another browser or network: its cookie may have been
            # stolen, so the session ends for everyone holding it and its owner signs in again.
            UserSession.objects.filter(pk=session.pk, ended_at=None).update(ended_at=timezone.now(), end_reason=reason)
            details = {"reason": reason, "session_id": str(session.pk)}
            record_for_each_organisation(user, "auth.session_refused", actor_for_user(user), details)  # type: ignore[arg-type]
        request.session.flush()
        request.user = AnonymousUser()
        message = _MESSAGES[reason]
        if request.path.startswith("/api/"):
            return JsonResponse(error_body("session_refused", message), status=401)
        messages.info(request, message)
        return redirect_to_login(request.get_full_path())
