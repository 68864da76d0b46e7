from __future__ import annotations

import pytest
from django.db import connection, transaction

from audit.actions import UnknownAction
from audit.chain import GENESIS_HASH, HASHED_COLUMNS, event_hash
from audit.models import GLOBAL_CHAIN, AuditEvent
from audit.services import SYSTEM, EventInput, Target, UnsafeAuditDetails, record, record_many
from audit.verify import first_break_python, verify_chain, write_checkpoint
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db


def _chain(tenant):
    with tenant_context(tenant):
        return list(AuditEvent.objects.filter(chain_id=tenant.pk).order_by("seq"))


def test_events_form_a_hash_chain_per_tenant(world):
    with tenant_context(world.a.tenant):
        for n in range(3):
            record(tenant=world.a.tenant, action="audit.viewed", actor=SYSTEM, details={"page": n})
    events = _chain(world.a.tenant)
    assert [event.seq for event in events] == list(range(1, len(events) + 1))
    previous = GENESIS_HASH
    for event in events:
        assert event.prev_hash == previous
        assert event.hash == event_hash(event.prev_hash, [getattr(event, column) for column in HASHED_COLUMNS])
        previous = event.hash
    # B's chain is separate and starts at 1 too.
    assert _chain(world.b.tenant)[0].seq == 1


def test_sql_and_python_engines_agree_and_pass(world):
    with tenant_context(world.a.tenant):
        record_many(
            tenant=world.a.tenant,
            events=[EventInput("audit.viewed", SYSTEM, Target("contact", f"c{n}"), {"n": n}) for n in range(250)],
        )
        sql = verify_chain(world.a.tenant, engine="sql")
        python = verify_chain(world.a.tenant, engine="python")
    assert sql.ok and python.ok
    assert (sql.events, sql.head_hash) == (python.events, python.head_hash)


def test_an_event_rolls_back_with_its_action(world):
    before = len(_chain(world.a.tenant))
    with tenant_context(world.a.tenant), pytest.raises(RuntimeError), transaction.atomic():
        record(tenant=world.a.tenant, action="audit.viewed", actor=SYSTEM)
        raise RuntimeError("the action failed")
    assert len(_chain(world.a.tenant)) == before
    with tenant_context(world.a.tenant):
        record(tenant=world.a.tenant, action="audit.viewed", actor=SYSTEM)
        assert verify_chain(world.a.tenant).ok


@pytest.mark.parametrize(
    "details",
    [
        {"email": "jane.testpatient@example.com"},
        {"name": "Jane Testpatient"},
        {"note": "diabetes follow-up"},
        {"Bad Key": 1},
        {"nested": {"a": 1}},
        {"ids": ["ok", "not ok"]},
    ],
)
def test_details_refuse_anything_that_could_be_phi(world, details):
    with tenant_context(world.a.tenant), pytest.raises(UnsafeAuditDetails) as error:
        record(tenant=world.a.tenant, action="audit.viewed", actor=SYSTEM, details=details)
    for value in details.values():
        assert str(value) not in str(error.value)


def test_unknown_actions_are_refused(world):
    with tenant_context(world.a.tenant), pytest.raises(UnknownAction):
        record(tenant=world.a.tenant, action="made.up", actor=SYSTEM)


def test_a_tenant_event_must_be_written_as_that_tenant(world):
    with tenant_context(world.b.tenant), pytest.raises(RuntimeError, match="tenant_context"):
        record(tenant=world.a.tenant, action="audit.viewed", actor=SYSTEM)


def test_the_global_chain_is_invisible_to_tenants(world):
    record(tenant=None, action="auth.login_failed", actor=SYSTEM, details={"reason": "unknown_account"})
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_auditevent WHERE chain_id = %s", [GLOBAL_CHAIN])
        assert cursor.fetchone()[0] == 0
    assert verify_chain(None).events >= 1


def test_python_walk_names_the_first_broken_event(world):
    with tenant_context(world.a.tenant):
        record_many(tenant=world.a.tenant, events=[EventInput("audit.viewed", SYSTEM) for _ in range(5)])
        columns = (*HASHED_COLUMNS, "prev_hash", "hash")
        rows = [
            list(row)
            for row in AuditEvent.objects.filter(chain_id=world.a.tenant.pk).order_by("seq").values_list(*columns)
        ]
    rows[3][HASHED_COLUMNS.index("action")] = "audit.exported"
    broken, _, _ = first_break_python(rows)
    assert broken is not None and broken.seq == rows[3][HASHED_COLUMNS.index("seq")]


def test_checkpoints_are_signed_and_anchor_the_chain(world, settings):
    with tenant_context(world.a.tenant):
        checkpoint = write_checkpoint(world.a.tenant)
        assert checkpoint is not None
        assert write_checkpoint(world.a.tenant) is None  # head unchanged: nothing new to sign
        report = verify_chain(world.a.tenant)
    assert report.ok and report.checkpoint_seq == checkpoint.seq
    assert settings.AUDIT_CHECKPOINT_LOG.read_text().count('"signature"') == 1


def test_membership_actions_write_their_events_in_order(world):
    from tenants.services import membership_change_role, membership_set_active

    admin = world.a.users[Role.ADMIN]
    marketer = world.a.memberships[Role.MARKETER]
    with tenant_context(world.a.tenant):
        start = AuditEvent.objects.filter(chain_id=world.a.tenant.pk).count()
        membership_change_role(tenant=world.a.tenant, actor=admin, membership=marketer, role=Role.COMPLIANCE_OFFICER)
        membership_set_active(tenant=world.a.tenant, actor=admin, membership=marketer, is_active=False)
        membership_set_active(tenant=world.a.tenant, actor=admin, membership=marketer, is_active=False)  # no change
        membership_set_active(tenant=world.a.tenant, actor=admin, membership=marketer, is_active=True)
        events = list(AuditEvent.objects.filter(chain_id=world.a.tenant.pk, seq__gt=start).order_by("seq"))
    assert [event.action for event in events] == [
        "membership.role_changed",
        "membership.deactivated",
        "membership.reactivated",
    ]
    assert events[0].details == f'{{"from":"marketer","to":"compliance_officer","user_id":{marketer.user_id}}}'
    assert {event.actor_id for event in events} == {str(admin.pk)}
    assert {event.target_id for event in events} == {str(marketer.pk)}
