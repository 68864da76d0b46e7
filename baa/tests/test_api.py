"""The BAA API: status, the gate's decision and the sub-processors, with scopes, roles, other
tenants and query budgets."""

from __future__ import annotations

import pytest
from django.urls import reverse

from baa.tests.support import make_active, make_draft, make_subprocessor, terminate
from tenants.roles import Role
from tests.factories import make_token

pytestmark = pytest.mark.django_db

STATUS = reverse("api:baa_api:status")
GATE = reverse("api:baa_api:gate")
SUBPROCESSORS = reverse("api:baa_api:subprocessor_list")


def _auth(fixture, scopes=("baa:read",)) -> dict[str, str]:
    issued = make_token(fixture.tenant, fixture.users[Role.ADMIN], scopes=list(scopes))
    return {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}


def test_status_without_an_agreement_says_why_and_where_to_sign(world, client):
    body = client.get(STATUS, **_auth(world.a)).json()
    assert body["current"] is None and body["agreements"] == []
    gate = body["gate"]
    assert gate["allowed"] is False and gate["code"] == "no_agreement"
    assert gate["sign_url"] == "http://testserver" + reverse("baa:status")


def test_status_shows_the_agreement_in_force_and_the_history(world, client):
    first = make_active(world.a)
    second = make_active(world.a)
    body = client.get(STATUS, **_auth(world.a)).json()
    assert body["gate"]["allowed"] is True and body["gate"]["agreement_id"] == str(second.pk)
    current = body["current"]
    assert current["id"] == str(second.pk) and current["status"] == "active"
    assert current["document_version"] == 1 and len(current["document_sha256"]) == 64
    assert current["signer_name"] == "Avery Signer" and current["countersigned_at"]
    assert current["expiry_date"] == second.expiry_date.isoformat()
    assert [(row["id"], row["status"]) for row in body["agreements"]] == [
        (str(second.pk), "active"),
        (str(first.pk), "terminated"),
    ]


def test_the_gate_refuses_phi_and_allows_other_mail(world, client):
    auth = _auth(world.a)
    refused = client.get(GATE, **auth).json()
    assert (refused["allowed"], refused["code"]) == (False, "no_agreement")
    assert client.get(GATE, {"phi": "true"}, **auth).json()["allowed"] is False
    allowed = client.get(GATE, {"phi": "false"}, **auth).json()
    assert (allowed["allowed"], allowed["code"]) == (True, "not_phi")
    active = make_active(world.a)
    assert client.get(GATE, **auth).json()["allowed"] is True
    terminate(world.a, active)
    assert client.get(GATE, **auth).json()["code"] == "terminated"


def test_a_bad_phi_parameter_is_a_structured_400(world, client):
    response = client.get(GATE, {"phi": "perhaps"}, **_auth(world.a))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and "phi" in error["fields"]


def test_subprocessors_are_listed_within_a_query_budget(world, client, django_assert_max_num_queries):
    auth = _auth(world.a)
    make_subprocessor(world.a, name="First")
    client.get(SUBPROCESSORS, **auth)  # the token's first use also records it
    # The token, its application and the audit of the call; one query for the list itself.
    with django_assert_max_num_queries(23) as one:
        assert len(client.get(SUBPROCESSORS, **auth).json()) == 1
    for number in range(20):
        make_subprocessor(world.a, name=f"Processor {number:02d}", handles_phi=False, baa_status="none", baa_date=None)
    with django_assert_max_num_queries(len(one.captured_queries)):
        rows = client.get(SUBPROCESSORS, **auth).json()
    assert len(rows) == 21
    assert rows[0] == {
        "id": rows[0]["id"],
        "name": "First",
        "purpose": "Email delivery",
        "handles_phi": True,
        "baa_status": "signed",
        "baa_date": "2026-01-15",
        "updated_at": rows[0]["updated_at"],
    }


def test_status_stays_within_a_query_budget_however_long_the_history(world, client, django_assert_max_num_queries):
    auth = _auth(world.a)
    make_active(world.a)
    client.get(STATUS, **auth)  # the token's first use also records it
    # As for the list, plus three: the agreement in force (twice) and the history.
    with django_assert_max_num_queries(25) as one:
        client.get(STATUS, **auth)
    for _ in range(5):
        make_active(world.a)
    make_draft(world.a)
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert len(client.get(STATUS, **auth).json()["agreements"]) == 7


def test_another_tenants_token_sees_only_its_own(world, client):
    make_active(world.a)
    make_subprocessor(world.a)
    auth_b = _auth(world.b)
    status = client.get(STATUS, **auth_b).json()
    assert status["current"] is None and status["agreements"] == []
    assert status["gate"]["allowed"] is False
    assert client.get(GATE, **auth_b).json()["allowed"] is False
    assert client.get(SUBPROCESSORS, **auth_b).json() == []
    assert client.get(GATE, **_auth(world.a)).json()["allowed"] is True


@pytest.mark.parametrize("url", [STATUS, GATE, SUBPROCESSORS])
def test_a_token_without_baa_read_is_refused(world, client, url):
    response = client.get(url, **_auth(world.a, scopes=("contacts:read", "audit:read")))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"


@pytest.mark.parametrize(
    ("role", "expected"), [(Role.ADMIN, 200), (Role.COMPLIANCE_OFFICER, 200), (Role.MARKETER, 403)]
)
def test_members_with_a_session_need_baa_view(world, login, role, expected):
    client = login(world.a.users[role], world.a.tenant)
    for url in (STATUS, GATE, SUBPROCESSORS):
        assert client.get(url).status_code == expected, url


def test_the_schema_documents_the_baa_endpoints(client):
    document = client.get(reverse("api:schema"), HTTP_ACCEPT="application/json").json()
    for path in ("/api/baa/", "/api/baa/gate/", "/api/baa/subprocessors/"):
        assert "get" in document["paths"][path], path
