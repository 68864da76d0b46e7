"""Indexes for segment rules (segments.rules), on PostgreSQL only: SQLite, the embedded default,
has no GIN indexes and small data.

- tags and phi_tokens: GIN with the default jsonb_ops, which answers the key tests the rules
  compile to (``?`` for a tag or a PHI token, ``?|`` for membership and day-token windows).
- attributes: GIN with jsonb_path_ops (smaller, faster for ``@>``), for equality and membership
  on non-PHI attributes compiled as containment.
- created_at and last_activity_at per tenant: btree for date ranges (and data retention).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

INDEXES = {
    "segments_contact_tags_gin": "USING gin (tags)",
    "segments_contact_phi_tokens_gin": "USING gin (phi_tokens)",
    "segments_contact_attributes_gin": "USING gin (attributes jsonb_path_ops)",
    "segments_contact_tenant_created_idx": "(tenant_id, created_at)",
    "segments_contact_tenant_activity_idx": "(tenant_id, last_activity_at)",
}


def create_indexes(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, definition in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON segments_contact {definition}")


def drop_indexes(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("segments", "0002_audience")]

    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]
