"""A request id for every request and every task it causes, for correlating logs.

Taken from an incoming ``X-Request-ID`` only when it is a plain token (so a client cannot inject
text into our logs), otherwise generated. Returned in the response header and carried into
Celery tasks as a message header (see ``sealpost.celery``).
"""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
_VALID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("sealpost_request_id", default=None)
_client: contextvars.ContextVar[tuple[str, str]] = contextvars.ContextVar("sealpost_client", default=("", ""))
USER_AGENT_MAX = 300


def get_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> contextvars.Token[str | None]:
    return _request_id.set(value)


def reset_request_id(token: contextvars.Token[str | None]) -> None:
    _request_id.reset(token)


def get_client() -> tuple[str, str]:
    """(IP address, user agent) of the request being served, or empty strings outside one."""
    return _client.get()


def client_ip(request: HttpRequest) -> str:
    """The client's address. Behind the TLS proxy (SEALPOST_BEHIND_TLS_PROXY) it is the last
    X-Forwarded-For entry, the one our own proxy appended; otherwise the socket's peer."""
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = request.headers.get("X-Forwarded-For", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last[:45]
    return str(request.META.get("REMOTE_ADDR", ""))[:45]


def new_request_id() -> str:
    return uuid.uuid4().hex


def clean_request_id(candidate: str | None) -> str:
    if candidate and _VALID.match(candidate):
        return candidate
    return new_request_id()


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = clean_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id  # type: ignore[attr-defined]
        token = set_request_id(request_id)
        client_token = _client.set((client_ip(request), request.headers.get("User-Agent", "")[:USER_AGENT_MAX]))
        try:
            response = self.get_response(request)
        finally:
            _client.reset(client_token)
            reset_request_id(token)
        response[REQUEST_ID_HEADER] = request_id
        return response
