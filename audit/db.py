"""Database-side protection of the audit log: row-level security (per tenant, plus the global
chain while ``sealpost.audit_global`` is on) and triggers that refuse UPDATE, DELETE and
TRUNCATE. Only the schema owner, with ``sealpost.audit_maintenance = 'truncate'`` set, may
TRUNCATE (``flush`` for transactional tests); the owner could drop the triggers anyway, which is
what the hash chain and the signed checkpoints detect."""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.db.migrations.exceptions import IrreversibleError

TABLES = ("audit_auditevent", "audit_auditchainhead", "audit_auditcheckpoint")
APPEND_ONLY = ("audit_auditevent", "audit_auditcheckpoint")

_PG_FORWARD = [
    """
    CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'TRUNCATE'
         AND current_setting('sealpost.audit_maintenance', true) = 'truncate'
         AND current_user = (SELECT tableowner FROM pg_tables
                             WHERE schemaname = TG_TABLE_SCHEMA AND tablename = TG_TABLE_NAME) THEN
        RETURN NULL;
      END IF;
      RAISE EXCEPTION USING
        MESSAGE = 'the audit log is append-only: ' || TG_OP || ' on ' || TG_TABLE_NAME || ' refused',
        ERRCODE = 'insufficient_privilege';
    END
    $$
    """
]
for _table in TABLES:
    _PG_FORWARD += [
        f"ALTER TABLE {_table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {_table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {_table} FOR ALL "
        f"USING (tenant_id = sealpost_current_tenant()) WITH CHECK (tenant_id = sealpost_current_tenant())",
        f"CREATE POLICY audit_global_chain ON {_table} FOR ALL "
        f"USING (tenant_id IS NULL AND current_setting('sealpost.audit_global', true) = 'on') "
        f"WITH CHECK (tenant_id IS NULL AND current_setting('sealpost.audit_global', true) = 'on')",
    ]
for _table in APPEND_ONLY:
    _PG_FORWARD += [
        f"CREATE TRIGGER {_table}_append_only BEFORE UPDATE OR DELETE ON {_table} "
        f"FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
        f"CREATE TRIGGER {_table}_no_truncate BEFORE TRUNCATE ON {_table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
    ]

_SQLITE_FORWARD = []
for _table in APPEND_ONLY:
    for _operation in ("UPDATE", "DELETE"):
        _SQLITE_FORWARD.append(
            f"CREATE TRIGGER {_table}_no_{_operation.lower()} BEFORE {_operation} ON {_table} "
            f"BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
        )


class ProtectAuditTables(migrations.operations.base.Operation):
    reversible = False

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        statements = _PG_FORWARD if schema_editor.connection.vendor == "postgresql" else _SQLITE_FORWARD
        for statement in statements:
            schema_editor.execute(statement)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        raise IrreversibleError("The audit log's protection is not removed by a migration.")

    def describe(self) -> str:
        return "Row-level security and append-only triggers on the audit tables"

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (self.__class__.__qualname__, [], {})
