"""Views that fail on purpose, for the request-transaction tests (mounted only in tests)."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path

from tenants.access import require_permission
from tests.factories import make_contact


@require_permission("contacts.view")
def write_then_crash(request: HttpRequest) -> HttpResponse:
    make_contact(request.tenant, last_name="Halfwritten")  # type: ignore[attr-defined]
    raise RuntimeError("crash after a write")


@require_permission("contacts.view")
def broken_sql(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table")
    return HttpResponse("unreachable")


urlpatterns = [
    path("write-then-crash/", write_then_crash, name="write_then_crash"),
    path("broken-sql/", broken_sql, name="broken_sql"),
]
