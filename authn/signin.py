"""Completing a sign-in: Django's login, the ``UserSession`` that binds the session to this
browser and network, and the session's record of how its user authenticated."""

from __future__ import annotations

import time

from django.contrib.auth import login
from django.http import HttpRequest
from django.utils import timezone

from authn.auth_state import PENDING_KEY, AuthState, store_auth_state
from authn.binding import ensure_device_secret, hash_device_secret, network_of
from authn.models import Factor, KnownDevice, Passkey, User, UserSession
from sealpost.request_id import client_ip

BACKEND = "django.contrib.auth.backends.ModelBackend"


def open_user_session(
    request: HttpRequest,
    user: User,
    *,
    factor: Factor,
    passkey: Passkey | None = None,
    country: str = "",
    latitude: float | None = None,
    longitude: float | None = None,
) -> UserSession:
    """Sign ``user`` in on this request (new session id) and bind the session to the browser's
    device cookie and network."""
    request.sealpost_sign_in_factor = factor  # type: ignore[attr-defined]  # read by the audit signal
    request.session.pop(PENDING_KEY, None)
    login(request, user, backend=BACKEND)
    device_hash = hash_device_secret(ensure_device_secret(request))
    ip = client_ip(request)
    session = UserSession.objects.create(
        user=user,
        session_key=request.session.session_key or "",
        device_hash=device_hash,
        network=network_of(ip),
        ip=ip or None,
        user_agent=request.headers.get("User-Agent", "")[:200],
        country=country,
        latitude=latitude,
        longitude=longitude,
        factor=factor,
        passkey=passkey,
    )
    KnownDevice.objects.update_or_create(
        user=user, device_hash=device_hash, defaults={"user_agent": session.user_agent, "last_seen_at": timezone.now()}
    )
    store_auth_state(
        request,
        AuthState(
            session_id=str(session.pk),
            factor=factor,
            passkey_id=passkey.pk if passkey else None,
            # Signing in with a passkey is itself a fresh assertion.
            step_up_at=time.time() if passkey is not None else None,
        ),
    )
    return session
