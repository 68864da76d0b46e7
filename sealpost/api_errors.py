"""One error shape for the whole API:

    {"error": {"code": "not_found", "message": "...", "fields": {...}, "request_id": "..."}}

``fields`` appears for validation errors and maps each field to its messages. Messages come from
our own code and DRF, never from the input that failed (which may carry PHI).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from sealpost.request_id import get_request_id


def _code_for(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "invalid"
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    return str(exc.default_code)


def _message_for(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "The request has invalid fields."
    detail = exc.detail
    if isinstance(detail, list | dict):
        return str(exc.default_detail)
    return str(detail)


def error_body(code: str, message: str, fields: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "request_id": get_request_id()}
    if fields is not None:
        error["fields"] = fields
    return {"error": error}


def structured_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    fields = exc.detail if isinstance(exc, exceptions.ValidationError) else None
    if isinstance(fields, list):
        fields = {"non_field_errors": fields}
    response.data = error_body(_code_for(exc), _message_for(exc), fields)
    return response
