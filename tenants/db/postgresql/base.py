"""PostgreSQL backend that keeps two roles apart.

The application connects as a role that owns nothing and is subject to row-level security
(``DATABASE_URL``). Schema changes run as the owner role (``DATABASE_MIGRATE_URL``), which the
``migrate`` and ``flush`` commands and test-database set-up switch to with ``as_owner``. Web and
worker processes in production are started without the owner's credentials at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db.backends.postgresql import base, creation


@contextmanager
def as_owner(connection: Any) -> Iterator[None]:
    """Reconnect ``connection`` as the schema owner for the duration of the block."""
    owner = connection.settings_dict.get("OWNER")
    depth = getattr(connection, "_sealpost_owner_depth", 0)
    if not owner or depth:
        connection._sealpost_owner_depth = depth + 1
        try:
            yield
        finally:
            connection._sealpost_owner_depth = depth
        return
    app_credentials = (connection.settings_dict["USER"], connection.settings_dict["PASSWORD"])
    connection.close()
    connection.settings_dict["USER"] = owner["USER"]
    connection.settings_dict["PASSWORD"] = owner["PASSWORD"]
    connection._sealpost_owner_depth = 1
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["USER"], connection.settings_dict["PASSWORD"] = app_credentials
        connection._sealpost_owner_depth = 0


def application_role(connection: Any) -> str | None:
    """The role the application connects as, if it differs from the owner."""
    owner = connection.settings_dict.get("OWNER")
    if not owner:
        return None
    app_user = getattr(connection, "_sealpost_app_user", None) or connection.settings_dict["USER"]
    return None if app_user == owner["USER"] else str(app_user)


class DatabaseCreation(creation.DatabaseCreation):
    def create_test_db(self, *args: Any, **kwargs: Any) -> str:
        with as_owner(self.connection):
            name: str = super().create_test_db(*args, **kwargs)
        return name

    def destroy_test_db(self, *args: Any, **kwargs: Any) -> None:
        with as_owner(self.connection):
            super().destroy_test_db(*args, **kwargs)


class DatabaseWrapper(base.DatabaseWrapper):
    creation_class = DatabaseCreation

    def __init__(self, settings_dict: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(settings_dict, *args, **kwargs)
        self._sealpost_app_user = settings_dict.get("USER")
        self._sealpost_owner_depth = 0
