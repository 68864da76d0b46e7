"""PostgreSQL row-level security for tenant-owned tables, as migration operations.

Each tenant-owned table gets ``ENABLE`` and ``FORCE ROW LEVEL SECURITY`` (so even the table
owner is subject to it) and a policy admitting only rows of ``sealpost_current_tenant()``, the
tenant set with ``SET LOCAL sealpost.tenant_id`` by ``tenants.context.tenant_context``. With no
tenant set, the function returns NULL and no row matches. On SQLite (the embedded default) the
operations do nothing: the scoped managers are the wall there.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

CURRENT_TENANT_FUNCTION = """
CREATE OR REPLACE FUNCTION sealpost_current_tenant() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT NULLIF(current_setting('sealpost.tenant_id', true), '')::bigint $$;
CREATE OR REPLACE FUNCTION sealpost_current_user() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT NULLIF(current_setting('sealpost.user_id', true), '')::bigint $$;
CREATE OR REPLACE FUNCTION sealpost_current_api_token_hash() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT NULLIF(current_setting('sealpost.api_token_hash', true), '') $$;
"""

DROP_FUNCTIONS = """
DROP FUNCTION IF EXISTS sealpost_current_tenant();
DROP FUNCTION IF EXISTS sealpost_current_user();
DROP FUNCTION IF EXISTS sealpost_current_api_token_hash();
"""

POLICY_NAME = "tenant_isolation"
PRINCIPAL_READ_POLICY_NAME = "tenant_isolation_principal_read"


class CreateTenantFunctions(migrations.RunSQL):
    def __init__(self) -> None:
        super().__init__(CURRENT_TENANT_FUNCTION, DROP_FUNCTIONS)

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class EnableRowLevelSecurity(migrations.operations.base.Operation):
    """Turn on tenant isolation for one model's table.

    ``also_visible_when`` adds an SQL condition under which a row may be read (SELECT only)
    outside its tenant, e.g. a user's own memberships before a tenant is chosen. Inserts,
    updates and deletes are always limited to the current tenant.
    """

    reversible = True

    def __init__(self, model_name: str, also_visible_when: str | None = None) -> None:
        self.model_name = model_name
        self.also_visible_when = also_visible_when

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {"model_name": self.model_name}
        if self.also_visible_when:
            kwargs["also_visible_when"] = self.also_visible_when
        return (self.__class__.__qualname__, [], kwargs)

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def _table(self, app_label: str, state: Any) -> str:
        model = state.apps.get_model(app_label, self.model_name)
        return str(model._meta.db_table)

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        table = schema_editor.quote_name(self._table(app_label, to_state))
        schema_editor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        schema_editor.execute(
            f"CREATE POLICY {POLICY_NAME} ON {table} FOR ALL "
            f"USING (tenant_id = sealpost_current_tenant()) "
            f"WITH CHECK (tenant_id = sealpost_current_tenant())"
        )
        if self.also_visible_when:
            # Permissive policies are OR-ed per command: this one widens SELECT only.
            schema_editor.execute(
                f"CREATE POLICY {PRINCIPAL_READ_POLICY_NAME} ON {table} FOR SELECT USING ({self.also_visible_when})"
            )

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        table = schema_editor.quote_name(self._table(app_label, from_state))
        schema_editor.execute(f"DROP POLICY IF EXISTS {PRINCIPAL_READ_POLICY_NAME} ON {table}")
        schema_editor.execute(f"DROP POLICY IF EXISTS {POLICY_NAME} ON {table}")
        schema_editor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")

    def describe(self) -> str:
        return f"Enable tenant row-level security on {self.model_name}"
