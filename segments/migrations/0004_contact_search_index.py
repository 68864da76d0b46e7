"""The segment search index (``segments.search_index``): a narrow table of search terms per
contact under a GIN index, and the read-only view segment rules are compiled against.

- ``segments_contact_index``: tenant-owned (row-level security like every such table), plus a
  SELECT-only policy for the role that runs migrations (the table owner), so that
- the view ``segments_contact_search``, owned by that role, reads through the owner's policy and
  admits only rows of ``sealpost_current_tenant()`` by its own WHERE clause: tenant-scoped inside
  the database as through the table's policy, but its conditions can use the GIN index (see
  ``segments.models.ContactSearch``). The application role may only read it
  (``tenants.db.privileges``).
- ``Contact.phi_tokens`` and the GIN indexes of migration 0003 on the contact table go: under
  row-level security PostgreSQL could not use those indexes for a segment's conditions.
- Contacts that already exist are indexed (with the current code: decrypting PHI attributes in
  memory needs the keyring).

On SQLite (the embedded default) the view is a plain one; the scoped managers are the wall there.
"""

from __future__ import annotations

from typing import Any

import django.db.models.deletion
from django.db import migrations, models

import segments.fields
import tenants.rls

VIEW = "segments_contact_search"
OWNER_POLICY = "segments_contact_index_owner_reads"
TERMS_INDEX = "segments_contact_index_terms_gin"
OLD_GIN_INDEXES = ("segments_contact_tags_gin", "segments_contact_attributes_gin")


def create_view(apps: Any, schema_editor: Any) -> None:
    select = "SELECT contact_id AS id, tenant_id, terms, attributes FROM segments_contact_index"
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.execute(f"CREATE VIEW {VIEW} AS {select}")
        return
    for name in OLD_GIN_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    schema_editor.execute(f"CREATE INDEX {TERMS_INDEX} ON segments_contact_index USING gin (terms)")
    schema_editor.execute(
        f"CREATE POLICY {OWNER_POLICY} ON segments_contact_index FOR SELECT TO CURRENT_USER USING (true)"
    )
    schema_editor.execute(
        f"CREATE VIEW {VIEW} WITH (security_barrier = false, security_invoker = false) AS "
        f"{select} WHERE tenant_id = sealpost_current_tenant()"
    )


def drop_view(apps: Any, schema_editor: Any) -> None:
    schema_editor.execute(f"DROP VIEW IF EXISTS {VIEW}")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP POLICY IF EXISTS {OWNER_POLICY} ON segments_contact_index")
        schema_editor.execute(f"DROP INDEX IF EXISTS {TERMS_INDEX}")
        schema_editor.execute("CREATE INDEX IF NOT EXISTS segments_contact_tags_gin ON segments_contact USING gin (tags)")
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS segments_contact_attributes_gin ON segments_contact "
            "USING gin (attributes jsonb_path_ops)"
        )


def index_every_tenant(apps: Any, schema_editor: Any) -> None:
    """Row-level security hides every contact without a tenant, so look per organisation."""
    from tenants.context import tenant_context
    from tenants.models import Organisation

    from segments.search_index import contact_index_rebuild

    for tenant in Organisation.objects.all():
        with tenant_context(tenant):
            contact_index_rebuild(tenant=tenant)


class Migration(migrations.Migration):
    dependencies = [
        ("segments", "0003_segment_indexes"),
        ("tenants", "0002_alter_membership_managers"),
    ]

    operations = [
        migrations.RemoveField(model_name="contact", name="phi_tokens"),
        migrations.CreateModel(
            name="ContactIndex",
            fields=[
                (
                    "contact",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="search_index",
                        serialize=False,
                        to="segments.contact",
                    ),
                ),
                ("terms", segments.fields.TermsField()),
                ("attributes", models.JSONField(default=dict)),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="tenants.organisation"
                    ),
                ),
            ],
            options={"db_table": "segments_contact_index"},
        ),
        tenants.rls.EnableRowLevelSecurity(model_name="contactindex"),
        migrations.CreateModel(
            name="ContactSearch",
            fields=[
                ("id", models.UUIDField(editable=False, primary_key=True, serialize=False)),
                ("terms", segments.fields.TermsField()),
                ("attributes", models.JSONField()),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="tenants.organisation"
                    ),
                ),
            ],
            options={"db_table": VIEW, "managed": False},
        ),
        migrations.RunPython(create_view, drop_view, elidable=False),
        migrations.RunPython(index_every_tenant, migrations.RunPython.noop, elidable=False),
    ]
