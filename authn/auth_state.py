"""What the session knows about how its user signed in: the factor used, the passkey (if any),
the ``UserSession`` row that binds it to a device and network, and when a passkey last
confirmed a sensitive action (step-up). Kept in one place so every reader agrees."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.http import HttpRequest

from authn.models import Factor

AUTH_STATE_KEY = "sealpost_auth"
# Which user has passed the password (or first) step and still owes a second factor.
PENDING_KEY = "sealpost_pending_sign_in"


@dataclass(frozen=True)
class AuthState:
    session_id: str
    factor: Factor
    passkey_id: int | None
    step_up_at: float | None

    @property
    def used_passkey(self) -> bool:
        return self.factor == Factor.PASSKEY


def auth_state(request: HttpRequest) -> AuthState | None:
    raw = request.session.get(AUTH_STATE_KEY)
    if not isinstance(raw, dict):
        return None
    try:
        return AuthState(
            session_id=str(raw["session_id"]),
            factor=Factor(raw["factor"]),
            passkey_id=raw.get("passkey_id"),
            step_up_at=raw.get("step_up_at"),
        )
    except (KeyError, ValueError):
        return None


def store_auth_state(request: HttpRequest, state: AuthState) -> None:
    request.session[AUTH_STATE_KEY] = {
        "session_id": state.session_id,
        "factor": state.factor.value,
        "passkey_id": state.passkey_id,
        "step_up_at": state.step_up_at,
    }


def mark_stepped_up(request: HttpRequest, passkey_id: int) -> None:
    """A fresh passkey assertion: the session id changes and sensitive actions are open for
    ``STEP_UP_SECONDS``."""
    state = auth_state(request)
    if state is None:
        return
    request.session.cycle_key()
    store_auth_state(
        request,
        AuthState(session_id=state.session_id, factor=Factor.PASSKEY, passkey_id=passkey_id, step_up_at=time.time()),
    )
