"""PostgreSQL row-level security is the last wall: raw SQL, as the application role, sees no
tenant-owned row without a tenant, and only its own tenant's rows with one."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction

from tenants.context import TENANT_GUC, set_local, tenant_context
from tenants.managers import TenantModel
from tenants.roles import Role
from tests.factories import make_contact, make_token


def tenant_owned_tables() -> list[str]:
    return sorted(
        model._meta.db_table
        for model in apps.get_models()
        if issubclass(model, TenantModel) and not model._meta.proxy and model._meta.managed
    )


def tenant_scoped_views() -> list[str]:
    """Unmanaged tenant models are views over tenant-owned tables (segments.ContactSearch)."""
    return sorted(
        model._meta.db_table
        for model in apps.get_models()
        if issubclass(model, TenantModel) and not model._meta.managed
    )


def _count(table: str, where: str = "", params: list | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)} {where}", params or [])  # noqa: S608
        return cursor.fetchone()[0]


@pytest.fixture
def populated(world):
    from django.utils import timezone

    from audit.verify import write_checkpoint
    from campaigns.scheduling import due_work_schedule
    from campaigns.tests.support import campaign_rows_in_every_table
    from consent.tests.support import consent_rows_in_every_table
    from delivery.posture import recipient_domain_touch
    from delivery.tests.support import sending_domain_rows
    from delivery.tests.test_inbound_support import inbound_report_rows
    from encryption.aead import FieldContext, encrypt_text
    from encryption.services import data_key_rotate
    from encryption.tests.escrow_support import escrow_rows_in_every_table
    from encryption.tests.support import protection_rows_in_every_table
    from reporting.tests.compliance_support import report_export_rows
    from reporting.tests.event_support import event_rows_in_every_table
    from reporting.tests.tracking_support import tracking_rows_in_every_table
    from templates.tests.support import template_rows_in_every_table

    for fixture in (world.a, world.b):
        consent_rows_in_every_table(fixture.tenant, make_contact(fixture.tenant))
        template_rows_in_every_table(fixture)
        campaign_rows_in_every_table(fixture)
        protection_rows_in_every_table(fixture)
        tracking_rows_in_every_table(fixture)
        make_token(fixture.tenant, fixture.users[Role.ADMIN])  # also writes audit events
        with tenant_context(fixture.tenant):
            write_checkpoint(fixture.tenant)
            encrypt_text(fixture.tenant, FieldContext("t", "f", "r"), "synthetic")  # creates its keys
            data_key_rotate(tenant=fixture.tenant, actor=fixture.users[Role.ADMIN])  # a rotation row
            recipient_domain_touch(tenant=fixture.tenant, domain=f"{fixture.tenant.slug}.example.test")
            sending_domain_rows(fixture)
            inbound_report_rows(fixture)
            escrow_rows_in_every_table(fixture)
            report_export_rows(fixture)
            event_rows_in_every_table(fixture)
            _identity_rows(fixture)
            due_work_schedule(tenant=fixture.tenant, kind="test.rls", subject_id="synthetic", due_at=timezone.now())
    return world


def _identity_rows(fixture) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from authn.models import AccessPolicy, BreakGlassGrant

    admin = fixture.users[Role.ADMIN]
    AccessPolicy.objects.create(tenant=fixture.tenant, updated_by=admin)
    from segments.models import AttributeDefinition, ContactImport, RetentionPolicy, Segment

    AttributeDefinition.objects.create(tenant=fixture.tenant, key="plan", label="Plan", type="text")
    Segment.objects.create(tenant=fixture.tenant, name="All", rules={"all": []}, created_by=admin)
    ContactImport.objects.create(tenant=fixture.tenant, created_by=admin)
    RetentionPolicy.objects.create(tenant=fixture.tenant, inactive_days=730)
    from baa.tests.support import make_active, make_subprocessor

    make_active(fixture)
    make_subprocessor(fixture)
    BreakGlassGrant.objects.create(
        tenant=fixture.tenant,
        user=fixture.users[Role.MARKETER],
        role=Role.ADMIN,
        reason="Synthetic emergency",
        granted_by=admin,
        expires_at=timezone.now() + timedelta(hours=1),
    )


def test_the_application_role_is_subject_to_rls(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False)


@pytest.mark.django_db
def test_every_tenant_owned_table_has_forced_rls_and_no_owner_access(db):
    tables = tenant_owned_tables()
    assert {"tenants_membership", "authn_apitoken", "segments_contact"} <= set(tables)
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                "SELECT relrowsecurity, relforcerowsecurity, pg_get_userbyid(relowner) = current_user "
                "FROM pg_class WHERE relname = %s",
                [table],
            )
            enabled, forced, owned_by_app = cursor.fetchone()
            assert enabled and forced, table
            assert not owned_by_app, f"the application role must not own {table}"
            cursor.execute(
                "SELECT count(*) FROM pg_policies WHERE tablename = %s AND policyname = 'tenant_isolation'", [table]
            )
            assert cursor.fetchone()[0] == 1, table
            cursor.execute("SELECT has_table_privilege(current_user, %s, 'TRUNCATE')", [table])
            assert cursor.fetchone()[0] is False, f"TRUNCATE bypasses RLS; the app role must not hold it on {table}"


def test_raw_select_without_tenant_returns_no_rows(populated):
    for table in tenant_owned_tables():
        assert _count(table) == 0, table


def test_raw_select_with_tenant_a_returns_none_of_bs_rows(populated):
    a, b = populated.a.tenant, populated.b.tenant
    with tenant_context(a):
        for table in tenant_owned_tables():
            assert _count(table, "WHERE tenant_id = %s", [b.pk]) == 0, table
            assert _count(table, "WHERE tenant_id = %s", [a.pk]) > 0, table
    # Leaving the context restores "no tenant" even inside the test's outer transaction.
    assert _count("segments_contact") == 0


def test_raw_insert_for_another_tenant_is_refused(populated):
    a, b = populated.a.tenant, populated.b.tenant
    with (
        tenant_context(a),
        pytest.raises(DatabaseError, match="row-level security"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO segments_contact (id, tenant_id, email, first_name, last_name, external_id, language,"
            " time_zone, created_at, updated_at) VALUES (gen_random_uuid(), %s, 'x@example.com', '', '', '',"
            " 'en', 'UTC', now(), now())",
            [b.pk],
        )


def test_raw_update_cannot_move_a_row_to_another_tenant(populated):
    a, b = populated.a.tenant, populated.b.tenant
    with (
        tenant_context(a),
        pytest.raises(DatabaseError, match="row-level security"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE segments_contact SET tenant_id = %s", [b.pk])


def test_a_forged_guc_without_set_local_does_not_outlive_its_transaction(populated):
    a = populated.a.tenant
    with transaction.atomic():
        set_local(TENANT_GUC, str(a.pk))
        assert _count("segments_contact") == 1
        set_local(TENANT_GUC, "")
    assert _count("segments_contact") == 0


def test_members_see_their_own_memberships_only_through_the_principal_policy(populated):
    from tenants.context import principal_context

    user = populated.a.users[Role.MARKETER]
    assert _count("tenants_membership") == 0
    with principal_context(user_id=user.pk):
        assert _count("tenants_membership") == 1
        # The principal policy is read-only: it does not let the user change the row.
        with connection.cursor() as cursor:
            cursor.execute("UPDATE tenants_membership SET role = 'admin' WHERE user_id = %s", [user.pk])
            assert cursor.rowcount == 0


def test_tenant_scoped_views_filter_by_the_current_tenant_themselves(populated):
    views = tenant_scoped_views()
    assert views == ["segments_contact_search"]
    a, b = populated.a.tenant, populated.b.tenant
    for view in views:
        assert _count(view) == 0, view
        with tenant_context(a):
            assert _count(view, "WHERE tenant_id = %s", [b.pk]) == 0, view
            assert _count(view, "WHERE tenant_id = %s", [a.pk]) > 0, view


def test_tenant_scoped_views_are_read_only_for_the_application(populated):
    with connection.cursor() as cursor:
        for view in tenant_scoped_views():
            for privilege in ("INSERT", "UPDATE", "DELETE", "TRUNCATE"):
                cursor.execute("SELECT has_table_privilege(current_user, %s, %s)", [view, privilege])
                assert cursor.fetchone()[0] is False, f"{privilege} on {view}"
    with (
        tenant_context(populated.a.tenant),
        pytest.raises(DatabaseError, match="permission denied"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE segments_contact_search SET terms = '{}'")


def test_the_owners_read_policy_does_not_widen_the_applications_view_of_contacts(populated):
    # The owner reads every contact (for the view); the application role still sees only the
    # current tenant's through the table.
    with tenant_context(populated.a.tenant):
        assert _count("segments_contact", "WHERE tenant_id = %s", [populated.b.tenant.pk]) == 0


def test_the_application_role_cannot_create_functions(db):
    # The search view is not a security barrier: only functions the application role cannot
    # create run inside it (see segments.models.ContactSearch).
    with connection.cursor() as cursor:
        cursor.execute("SELECT has_schema_privilege(current_user, 'public', 'CREATE')")
        assert cursor.fetchone()[0] is False
        cursor.execute("SELECT has_database_privilege(current_user, current_database(), 'CREATE')")
        assert cursor.fetchone()[0] is False


def test_the_function_check_passes_here_and_fails_for_a_role_that_can_create(db):
    import psycopg

    from segments import checks

    assert checks.application_role_cannot_create_functions(None, databases=["default"]) == []
    settings = connection.settings_dict
    # CREATE on the database lets a role create a schema of its own, and functions in it.
    database, role = (connection.ops.quote_name(settings[key]) for key in ("NAME", "USER"))
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"], dbname=settings["NAME"], user=settings["OWNER"]["USER"]
    ) as owner:
        owner.execute(f"GRANT CREATE ON DATABASE {database} TO {role}")  # type: ignore[arg-type]
        owner.commit()
        try:
            (error,) = checks.application_role_cannot_create_functions(None, databases=["default"])
            assert error.id == "segments.E001"
        finally:
            owner.execute(f"REVOKE CREATE ON DATABASE {database} FROM {role}")  # type: ignore[arg-type]
            owner.commit()
    assert checks.application_role_cannot_create_functions(None, databases=["default"]) == []
