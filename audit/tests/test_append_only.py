"""As the application role, the audit log cannot be changed: UPDATE, DELETE and TRUNCATE fail,
and so does switching the triggers off."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from audit.services import SYSTEM, record
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db

STATEMENTS = [
    "UPDATE audit_auditevent SET action = 'audit.exported'",
    "DELETE FROM audit_auditevent",
    "TRUNCATE audit_auditevent",
    "ALTER TABLE audit_auditevent DISABLE TRIGGER ALL",
    "ALTER TABLE audit_auditevent DISABLE ROW LEVEL SECURITY",
    "DROP TRIGGER audit_auditevent_append_only ON audit_auditevent",
    "UPDATE audit_auditcheckpoint SET seq = 0",
    "DELETE FROM audit_auditcheckpoint",
    "TRUNCATE audit_auditcheckpoint",
    "SET session_replication_role = replica",
]


@pytest.mark.parametrize("statement", STATEMENTS)
def test_the_application_role_cannot_change_the_log(world, statement):
    with tenant_context(world.a.tenant):
        record(tenant=world.a.tenant, action="audit.viewed", actor=SYSTEM)
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)


def test_it_may_only_read_and_append(world):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = current_user AND table_name = 'audit_auditevent' ORDER BY 1"
        )
        assert [row[0] for row in cursor.fetchall()] == ["INSERT", "SELECT"]


@pytest.mark.django_db(transaction=True)
def test_the_trigger_refuses_truncate_even_by_the_owner(world):
    """Privileges aside, the trigger itself refuses TRUNCATE, here through the owner's connection
    (only ``flush`` for tests sets the maintenance switch the trigger honours)."""
    from tenants.db.postgresql.base import as_owner

    with tenant_context(world.a.tenant):
        record(tenant=world.a.tenant, action="audit.viewed", actor=SYSTEM)
    with as_owner(connection), pytest.raises(DatabaseError, match="append-only"), connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_auditevent")
