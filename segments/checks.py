"""System check: the segment search view is safe only while the application role can create no
function (docs/segments.md, "Why a view"). Runs with ``manage.py check --database default`` and
before ``migrate``."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register
from django.db import connections


@register("database")
def application_role_cannot_create_functions(app_configs: Any, databases: Any = None, **kwargs: Any) -> list[Error]:
    errors: list[Error] = []
    for alias in databases or []:
        connection = connections[alias]
        owner = (connection.settings_dict.get("OWNER") or {}).get("USER")
        if connection.vendor != "postgresql" or not owner:
            continue  # SQLite, or one role for everything (development): nothing to check
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_user, has_schema_privilege(current_user, 'public', 'CREATE') "
                "OR has_database_privilege(current_user, current_database(), 'CREATE')"
            )
            user, can_create = cursor.fetchone()
        if can_create and user != owner:  # the owner (migrate) may; the application may not
            errors.append(
                Error(
                    "The application's database role can create functions (CREATE on the public schema or "
                    "the database).",
                    hint="Revoke it: the segment search view is not a security barrier and relies on the "
                    "application being unable to run functions of its own inside it (docs/deploy.md).",
                    id="segments.E001",
                )
            )
    return errors
