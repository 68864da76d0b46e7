"""What the application role may do. Applied after every ``migrate`` by the owner role."""

from __future__ import annotations

from typing import Any

from tenants.db.postgresql.base import application_role

# Tables the application may only read and append to (the audit log adds itself here).
APPEND_ONLY_TABLES: set[str] = set()

# Columns of append-only tables the application may still rewrite: ciphertexts that key
# rotation re-encrypts under the new key (the plaintext stays the same; nothing else changes).
REENCRYPTABLE_COLUMNS: dict[str, set[str]] = {}

# Bookkeeping the application must never change, and views it may only read (a simple view is
# updatable in PostgreSQL, with its owner's rights).
READ_ONLY_TABLES: set[str] = {"django_migrations", "segments_contact_search"}


def grant_application_privileges(connection: Any) -> None:
    role = application_role(connection)
    if connection.vendor != "postgresql" or role is None:
        return
    quoted = connection.ops.quote_name(role)
    existing = set(connection.introspection.table_names(include_views=True))
    with connection.cursor() as cursor:
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {quoted}")
        # No TRUNCATE: it is not subject to row-level security.
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}")
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}")
        for table in sorted(READ_ONLY_TABLES & existing):
            cursor.execute(
                f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {connection.ops.quote_name(table)} FROM {quoted}"
            )
        for table in sorted(APPEND_ONLY_TABLES & existing):
            cursor.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {connection.ops.quote_name(table)} FROM {quoted}")
            columns = sorted(REENCRYPTABLE_COLUMNS.get(table, ()))
            if columns:
                names = ", ".join(connection.ops.quote_name(column) for column in columns)
                cursor.execute(f"GRANT UPDATE ({names}) ON {connection.ops.quote_name(table)} TO {quoted}")
