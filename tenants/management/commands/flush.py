"""``flush`` as the schema owner: the application role has no TRUNCATE (it bypasses row-level
security), so emptying the database is an owner's act. Used by transactional tests."""

from __future__ import annotations

from typing import Any

from django.core.management.commands.flush import Command as DjangoFlushCommand
from django.db import connections

from tenants.db.postgresql.base import as_owner

# The audit log's triggers refuse TRUNCATE except from the owner with this set (audit/db.py).
AUDIT_MAINTENANCE = "SET sealpost.audit_maintenance = 'truncate'"


class Command(DjangoFlushCommand):
    def handle(self, **options: Any) -> None:
        connection = connections[options["database"]]
        with as_owner(connection):
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(AUDIT_MAINTENANCE)
            try:
                super().handle(**options)
            finally:
                if connection.vendor == "postgresql" and connection.is_usable():
                    with connection.cursor() as cursor:
                        cursor.execute("RESET sealpost.audit_maintenance")
