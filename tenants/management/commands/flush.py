"""``flush`` as the schema owner: the application role has no TRUNCATE (it bypasses row-level
security), so emptying the database is an owner's act. Used by transactional tests."""

from __future__ import annotations

from typing import Any

from django.core.management.commands.flush import Command as DjangoFlushCommand
from django.db import connections

from tenants.db.postgresql.base import as_owner


class Command(DjangoFlushCommand):
    def handle(self, **options: Any) -> None:
        with as_owner(connections[options["database"]]):
            super().handle(**options)
