"""A superuser can bypass the triggers; the hash chain and the signed checkpoints still catch
every kind of tampering, and ``audit_verify`` names where."""

from __future__ import annotations

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit.services import SYSTEM, EventInput, Target, record_many
from audit.verify import write_checkpoint
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chain(world):
    """Ten more events in A's chain, a signed checkpoint at the head, and a superuser connection
    that has switched the append-only triggers off."""
    tenant = world.a.tenant
    with tenant_context(tenant):
        last = record_many(
            tenant=tenant, events=[EventInput("audit.viewed", SYSTEM, Target("contact", f"c{n}")) for n in range(10)]
        )
        write_checkpoint(tenant)
    settings = connection.settings_dict
    superuser = psycopg.connect(
        host=settings["HOST"], port=settings["PORT"] or 5432, dbname=settings["NAME"], user="postgres", autocommit=True
    )
    superuser.execute("SET session_replication_role = replica")
    yield tenant, last, superuser
    superuser.close()


def _verify(tenant, capsys, *extra: str) -> tuple[bool, str]:
    try:
        call_command("audit_verify", "--tenant", tenant.slug, *extra)
    except CommandError:
        return False, capsys.readouterr().out
    return True, capsys.readouterr().out


def test_an_untouched_chain_verifies(chain, capsys, engine):
    tenant, last, _ = chain
    ok, out = _verify(tenant, capsys, "--engine", engine)
    assert ok, out
    assert f"anchored by checkpoint at #{last}" in out


@pytest.fixture(params=["sql", "sql-parallel", "python"])
def engine(request, monkeypatch):
    """Each way of verifying: one SQL query, SQL over parallel seq ranges, or Python."""
    if request.param == "sql-parallel":
        monkeypatch.setattr("audit.verify.PARALLEL_VERIFY_MIN_EVENTS", 1)
        return "sql"
    return request.param


def test_an_edited_event_is_caught(chain, capsys, engine):
    tenant, last, superuser = chain
    superuser.execute(
        "UPDATE audit_auditevent SET target_id = 'someone-else' WHERE chain_id = %s AND seq = %s", [tenant.pk, last - 4]
    )
    ok, out = _verify(tenant, capsys, "--engine", engine)
    assert not ok
    assert f"BROKEN at event #{last - 4}" in out and "do not match its hash" in out


def test_a_deleted_event_is_caught(chain, capsys, engine):
    tenant, last, superuser = chain
    superuser.execute("DELETE FROM audit_auditevent WHERE chain_id = %s AND seq = %s", [tenant.pk, last - 3])
    ok, out = _verify(tenant, capsys, "--engine", engine)
    assert not ok
    assert f"BROKEN at event #{last - 3}: event #{last - 3} is missing" in out


def test_swapped_events_are_caught(chain, capsys, engine):
    tenant, last, superuser = chain
    a, b = last - 6, last - 5
    superuser.execute(
        "UPDATE audit_auditevent SET seq = CASE seq WHEN %s THEN %s ELSE %s END "
        "WHERE chain_id = %s AND seq IN (%s, %s)",
        [a, -1, a, tenant.pk, a, b],
    )
    superuser.execute("UPDATE audit_auditevent SET seq = %s WHERE chain_id = %s AND seq = -1", [b, tenant.pk])
    ok, out = _verify(tenant, capsys, "--engine", engine)
    assert not ok
    assert f"BROKEN at event #{a}" in out


def test_an_inserted_event_is_caught(chain, capsys):
    tenant, last, superuser = chain
    superuser.execute(
        "INSERT INTO audit_auditevent (chain_id, tenant_id, seq, occurred_at, action, actor_type, actor_id, "
        "actor_label, target_type, target_id, request_id, ip, user_agent, details, prev_hash, hash) "
        "SELECT chain_id, tenant_id, seq + 1, occurred_at, 'audit.exported', actor_type, actor_id, actor_label, "
        "target_type, target_id, request_id, ip, user_agent, details, hash, repeat('a', 64) "
        "FROM audit_auditevent WHERE chain_id = %s AND seq = %s",
        [tenant.pk, last],
    )
    ok, out = _verify(tenant, capsys)
    assert not ok
    assert f"BROKEN at event #{last + 1}" in out


def test_a_removed_tail_is_caught_by_the_checkpoint(chain, capsys):
    tenant, last, superuser = chain
    superuser.execute("DELETE FROM audit_auditevent WHERE chain_id = %s AND seq > %s", [tenant.pk, last - 3])
    superuser.execute(
        "UPDATE audit_auditchainhead SET last_seq = %s, last_hash = "
        "(SELECT hash FROM audit_auditevent WHERE chain_id = %s AND seq = %s) WHERE chain_id = %s",
        [last - 3, tenant.pk, last - 3, tenant.pk],
    )
    ok, out = _verify(tenant, capsys)
    assert not ok
    assert f"BROKEN at event #{last - 2}: events from #{last - 2} to #{last} are missing" in out


def test_a_removed_tail_and_checkpoints_are_caught_by_the_external_log(chain, capsys):
    tenant, last, superuser = chain
    superuser.execute("DELETE FROM audit_auditevent WHERE chain_id = %s AND seq > %s", [tenant.pk, last - 3])
    superuser.execute("DELETE FROM audit_auditcheckpoint WHERE chain_id = %s", [tenant.pk])
    ok, out = _verify(tenant, capsys)
    assert not ok
    assert f"events from #{last - 2} to #{last} are missing" in out


def test_a_rewritten_chain_fails_its_signed_checkpoint(chain, capsys):
    """Whoever rewrites every hash consistently still cannot re-sign the checkpoint."""
    from audit.chain import HASHED_COLUMNS, event_hash

    tenant, _last, superuser = chain
    superuser.execute(
        "UPDATE audit_auditevent SET target_id = 'rewritten' WHERE chain_id = %s AND seq = 2", [tenant.pk]
    )
    columns = ", ".join((*HASHED_COLUMNS, "prev_hash"))
    rows = superuser.execute(
        f"SELECT {columns} FROM audit_auditevent WHERE chain_id = %s ORDER BY seq",  # noqa: S608 - our column names
        [tenant.pk],
    ).fetchall()
    previous = rows[0][-1]
    for row in rows:
        digest = event_hash(previous, list(row[:-1]))
        superuser.execute(
            "UPDATE audit_auditevent SET prev_hash = %s, hash = %s WHERE chain_id = %s AND seq = %s",
            [previous, digest, tenant.pk, row[1]],
        )
        previous = digest
    ok, out = _verify(tenant, capsys)
    assert not ok
    assert "does not match its signed checkpoint" in out


def test_a_forged_checkpoint_is_caught(chain, capsys):
    tenant, _last, superuser = chain
    superuser.execute("UPDATE audit_auditcheckpoint SET seq = seq - 1 WHERE chain_id = %s", [tenant.pk])
    ok, out = _verify(tenant, capsys, "--checkpoints", "/dev/null")
    assert not ok
    assert "signature is invalid" in out
