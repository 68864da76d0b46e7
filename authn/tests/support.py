"""Signing a Django test client in the way a real sign-in would: a session bound to a device
cookie and the client's network, with the factor it was opened with."""

from __future__ import annotations

import secrets
import time

from django.conf import settings

from authn.auth_state import AUTH_STATE_KEY, auth_state
from authn.binding import hash_device_secret, network_of
from authn.models import Factor, Passkey, User, UserSession

TEST_CLIENT_IP = "127.0.0.1"  # Django's test client sends REMOTE_ADDR=127.0.0.1
# The origin of Django's test client, the relying party in server-side passkey tests.
TEST_ORIGIN = "http://testserver"


def use_test_client_as_relying_party(settings) -> None:
    settings.WEBAUTHN_RP_ID = "testserver"
    settings.WEBAUTHN_ORIGINS = [TEST_ORIGIN]


def post_json(client, url: str, payload: object):
    import json

    return client.post(url, data=json.dumps(payload), content_type="application/json")


def bind_client_session(
    client, user: User, *, factor: Factor = Factor.PASSKEY, passkey: Passkey | None = None, step_up: bool = False
) -> UserSession:
    """``client`` must already be force-logged-in as ``user``."""
    device_secret = client.cookies.get(settings.DEVICE_COOKIE_NAME)
    secret = device_secret.value if device_secret is not None else secrets.token_urlsafe(32)
    client.cookies[settings.DEVICE_COOKIE_NAME] = secret
    if factor == Factor.PASSKEY and passkey is None:
        passkey = make_passkey(user)
    user_session = UserSession.objects.create(
        user=user,
        session_key=client.session.session_key or "",
        device_hash=hash_device_secret(secret),
        network=network_of(TEST_CLIENT_IP),
        ip=TEST_CLIENT_IP,
        factor=factor,
        passkey=passkey,
    )
    session = client.session
    session[AUTH_STATE_KEY] = {
        "session_id": str(user_session.pk),
        "factor": factor.value,
        "passkey_id": passkey.pk if passkey else None,
        "step_up_at": time.time() if step_up else None,
    }
    session.save()
    return user_session


def give_step_up(client) -> None:
    """As if the user had just confirmed with a passkey."""
    session = client.session
    state = dict(session[AUTH_STATE_KEY])
    state["step_up_at"] = time.time()
    session[AUTH_STATE_KEY] = state
    session.save()


def current_state(client):
    class _Request:
        pass

    request = _Request()
    request.session = client.session  # type: ignore[attr-defined]
    return auth_state(request)  # type: ignore[arg-type]


_counter = iter(range(1, 1_000_000))


def make_passkey(user: User, name: str = "Test passkey") -> Passkey:
    """A stored passkey row for tests that do not run a WebAuthn ceremony (the browser tests
    do). Its public key is random bytes: no assertion can verify against it."""
    return Passkey.objects.create(
        user=user,
        name=name,
        credential_id=secrets.token_bytes(16) + next(_counter).to_bytes(4, "big"),
        public_key=secrets.token_bytes(77),
        user_handle=secrets.token_bytes(32),
    )
