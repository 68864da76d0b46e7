"""Quarantine review pages: compliance officers only; the list shows no PHI; a held message's
content needs a fresh passkey step-up and every showing is audited; release and reject are
POSTs with CSRF and step-up; other tenants get 404."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.tests.helpers import events, head_seq
from authn.tests.support import give_step_up
from encryption.models import QuarantineStatus
from encryption.selectors import quarantine_get
from encryption.tests.support import SYNTHETIC_SUBJECT, make_held
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db

LIST = reverse("encryption:quarantine_list")
# Pieces of the synthetic message that must never appear where PHI may not.
CONTENT = ("Testy", "ZZ-000000", "synthetic-itis", "555-0100", SYNTHETIC_SUBJECT)


def _url(name: str, item) -> str:
    return reverse(f"encryption:{name}", kwargs={"item_id": item.pk})


def _status(fixture, item) -> str:
    with tenant_context(fixture.tenant):
        return quarantine_get(tenant=fixture.tenant, item_id=item.pk).status


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MARKETER])
def test_only_compliance_officers_review(world, login, role):
    item = make_held(world.a)
    client = login(world.a.users[role], world.a.tenant, step_up=True)
    assert client.get(LIST).status_code == 403
    assert client.get(_url("quarantine_detail", item)).status_code == 403
    assert client.post(_url("quarantine_release", item)).status_code == 403
    assert client.post(_url("quarantine_reject", item)).status_code == 403
    assert _status(world.a, item) == QuarantineStatus.HELD


def test_the_list_shows_no_phi(world, login, django_assert_max_num_queries):
    items = [make_held(world.a) for _ in range(3)]
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    seq = head_seq(world.a.tenant)
    with django_assert_max_num_queries(15), CaptureQueriesContext(connection) as queries:
        response = client.get(LIST)
    # The encrypted columns are not even read.
    assert not any('"encryption_quarantinedmessage"."text"' in query["sql"] for query in queries.captured_queries)
    assert not any('"encryption_quarantinedmessage"."subject"' in query["sql"] for query in queries.captured_queries)
    body = response.content.decode()
    assert response.status_code == 200
    for item in items:
        assert str(item.pk) in body
    assert "MRN" in body and "CONDITION" in body and "for the marketing purpose" in body
    for piece in CONTENT:
        assert piece not in body
    assert events(world.a.tenant, seq) == []  # nothing decrypted, nothing to audit


def test_the_list_filters_by_status(world, login):
    held, decided = make_held(world.a), make_held(world.a)
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant, step_up=True)
    client.post(_url("quarantine_reject", decided))
    assert str(held.pk) in client.get(LIST).content.decode()
    assert str(decided.pk) not in client.get(LIST).content.decode()
    rejected = client.get(LIST, {"status": "rejected"}).content.decode()
    assert str(decided.pk) in rejected and str(held.pk) not in rejected
    assert client.get(LIST, {"status": "nonsense"}).status_code == 200


def test_reading_a_held_message_needs_a_step_up_and_is_audited(world, login):
    item = make_held(world.a)
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    seq = head_seq(world.a.tenant)
    refused = client.get(_url("quarantine_detail", item))
    assert refused.status_code == 302 and refused["Location"].startswith(reverse("authn:step_up"))
    assert events(world.a.tenant, seq) == []

    give_step_up(client)
    response = client.get(_url("quarantine_detail", item))
    body = response.content.decode()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert '<mark title="MRN">ZZ-000000<sup class="finding-type"> MRN</sup></mark>' in body
    assert '<mark title="NAME">Testy Synthetic' in body
    # The HTML body is shown as escaped source, never rendered.
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    [(action, details)] = events(world.a.tenant, seq)
    assert (action, details) == ("quarantine.viewed", {})
    from audit.models import AuditEvent

    with tenant_context(world.a.tenant):
        event = AuditEvent.objects.filter(chain_id=world.a.tenant.pk).order_by("-seq").first()
    assert (event.target_type, event.target_id) == ("quarantinedmessage", str(item.pk))
    # Each showing is audited.
    client.get(_url("quarantine_detail", item))
    assert [action for action, _ in events(world.a.tenant, seq)] == ["quarantine.viewed", "quarantine.viewed"]


def test_release_needs_a_step_up_and_csrf(world, login):
    item = make_held(world.a)
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    seq = head_seq(world.a.tenant)
    refused = client.post(_url("quarantine_release", item), {"note": "ok"})
    assert refused.status_code == 302 and refused["Location"].startswith(reverse("authn:step_up"))
    give_step_up(client)
    client.handler.enforce_csrf_checks = True
    assert client.post(_url("quarantine_release", item), {"note": "ok"}).status_code == 403
    client.handler.enforce_csrf_checks = False
    assert _status(world.a, item) == QuarantineStatus.HELD and events(world.a.tenant, seq) == []

    released = client.post(_url("quarantine_release", item), {"note": "Reviewed; authorisation on file"}, follow=True)
    assert released.redirect_chain[-1][0] == LIST
    assert "may now be sent" in released.content.decode()
    assert _status(world.a, item) == QuarantineStatus.RELEASED
    assert events(world.a.tenant, seq) == [("quarantine.released", {})]
    # Decided: a second decision is refused with a message; the detail page shows who decided.
    again = client.post(_url("quarantine_reject", item), follow=True)
    assert "already released or rejected" in again.content.decode()
    assert _status(world.a, item) == QuarantineStatus.RELEASED
    detail = client.get(_url("quarantine_detail", item)).content.decode()
    assert "Reviewed; authorisation on file" in detail and "Compliance officer A" in detail


def test_reject(world, login):
    item = make_held(world.a)
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant, step_up=True)
    seq = head_seq(world.a.tenant)
    response = client.post(_url("quarantine_reject", item))
    assert response.status_code == 302 and response["Location"] == LIST
    assert _status(world.a, item) == QuarantineStatus.REJECTED
    assert events(world.a.tenant, seq) == [("quarantine.rejected", {})]


def test_a_too_long_note_changes_nothing(world, login):
    item = make_held(world.a)
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant, step_up=True)
    response = client.post(_url("quarantine_release", item), {"note": "x" * 1001}, follow=True)
    assert "at most 1000 characters" in response.content.decode()
    assert _status(world.a, item) == QuarantineStatus.HELD


def test_it_checks_ownership(world, login):
    item = make_held(world.a)
    client = login(world.b.users[Role.COMPLIANCE_OFFICER], world.b.tenant, step_up=True)
    seq = head_seq(world.a.tenant)
    assert client.get(_url("quarantine_detail", item)).status_code == 404
    assert client.post(_url("quarantine_release", item)).status_code == 404
    assert client.post(_url("quarantine_reject", item)).status_code == 404
    assert str(item.pk) not in client.get(LIST).content.decode()
    assert _status(world.a, item) == QuarantineStatus.HELD
    assert events(world.a.tenant, seq) == []


def test_after_crypto_shredding_the_content_cannot_be_shown(world, login):
    from encryption.services import tenant_keys_destroy

    item = make_held(world.a)
    with tenant_context(world.a.tenant):
        tenant_keys_destroy(tenant=world.a.tenant, actor=world.a.users[Role.ADMIN], confirmation=world.a.tenant.slug)
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant, step_up=True)
    seq = head_seq(world.a.tenant)
    response = client.get(_url("quarantine_detail", item))
    assert response.status_code == 200 and "can no longer be read" in response.content.decode()
    assert events(world.a.tenant, seq) == []
    assert client.get(LIST).status_code == 200
