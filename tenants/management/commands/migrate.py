"""``migrate`` as the schema owner, then grant the application role what it may do.

Overrides Django's command (apps' commands take precedence over core ones) so that every path
that migrates, ``manage.py migrate`` and test-database creation alike, uses the owner role.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands.migrate import Command as DjangoMigrateCommand
from django.db import connections

from tenants.db.postgresql.base import as_owner
from tenants.db.privileges import grant_application_privileges


class Command(DjangoMigrateCommand):
    def handle(self, *args: Any, **options: Any) -> None:
        connection = connections[options["database"]]
        with as_owner(connection):
            super().handle(*args, **options)
            grant_application_privileges(connection)
