"""Error pages and the health check. API paths get the structured JSON error body; pages get
the product's own error page (never Django's debug page outside DEBUG)."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from sealpost.api_errors import error_body
from tenants.access import public_view

_ERRORS = {
    400: ("bad_request", "Bad request", "We could not understand that request."),
    403: (
        "forbidden",
        "Not allowed",
        "Your role does not allow this. Ask an admin of your organisation if you need it.",
    ),
    404: ("not_found", "Not found", "There is nothing here, or it belongs to an organisation you are not working in."),
    500: ("server_error", "Something went wrong", "The error was logged with its request id. Please try again."),
}


def _error(request: HttpRequest, status: int) -> HttpResponse:
    code, title, message = _ERRORS[status]
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(code, message), status=status)
    context = {"status": status, "title": title, "message": message, "request_id": getattr(request, "request_id", None)}
    return render(request, "error.html", context, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 404)


def server_error(request: HttpRequest) -> HttpResponse:
    return _error(request, 500)


@public_view
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    status: dict[str, Any] = {"status": "ok"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse(status)
