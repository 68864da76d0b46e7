"""Automatic logoff (45 CFR 164.312(a)(2)(iii)): a session ends after ``SESSION_IDLE_SECONDS``
without a request (default 15 minutes) and, whatever the activity, ``SESSION_ABSOLUTE_SECONDS``
after sign-in. Expiry is audited and the user is told why they were signed out."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse

from sealpost.api_errors import error_body

STARTED_KEY = "sealpost_started_at"
SEEN_KEY = "sealpost_last_seen"
# Recording activity on every request would write the session every time; once a minute is
# precise enough for a 15-minute idle limit.
SEEN_RESOLUTION_SECONDS = 60


def _now() -> float:
    return time.time()


@receiver(user_logged_in)
def _start_session_clock(sender: object, request: HttpRequest | None, **_: object) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[STARTED_KEY] = request.session[SEEN_KEY] = _now()


def expiry_reason(request: HttpRequest, now: float) -> str | None:
    started = request.session.get(STARTED_KEY)
    seen = request.session.get(SEEN_KEY)
    if started is None or seen is None:
        return "unknown_start"  # a session from before these clocks existed
    if now - started > settings.SESSION_COOKIE_AGE:
        return "absolute"
    if now - seen > settings.SESSION_IDLE_SECONDS:
        return "idle"
    return None


_MESSAGES = {
    "idle": "You were signed out after {minutes} minutes without activity. Please sign in again.",
    "absolute": "Your session reached its maximum length. Please sign in again.",
    "unknown_start": "Please sign in again.",
}


class SessionTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated:
            return self.get_response(request)
        now = _now()
        reason = expiry_reason(request, now)
        if reason is not None:
            return self._expire(request, reason)
        if now - request.session[SEEN_KEY] >= SEEN_RESOLUTION_SECONDS:
            request.session[SEEN_KEY] = now
        return self.get_response(request)

    @staticmethod
    def _expire(request: HttpRequest, reason: str) -> HttpResponse:
        from audit.services import actor_for_user
        from audit.signals import record_for_each_organisation

        user = request.user
        record_for_each_organisation(user, "auth.session_expired", actor_for_user(user), {"reason": reason})  # type: ignore[arg-type]
        logout(request)
        message = _MESSAGES[reason].format(minutes=settings.SESSION_IDLE_SECONDS // 60)
        if request.path.startswith("/api/"):
            return JsonResponse(error_body("session_expired", message), status=401)
        messages.info(request, message)
        return redirect_to_login(request.get_full_path())
