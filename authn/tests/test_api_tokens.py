from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from authn.models import ApiApplication, ApiToken, hash_api_token
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact, make_token

pytestmark = pytest.mark.django_db


def _get(client, url, secret):
    return client.get(url, HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_a_token_sees_only_its_own_tenants_contacts(world, client):
    mine = make_contact(world.a.tenant)
    make_contact(world.b.tenant)
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN])
    response = _get(client, reverse("api:segments_api:contact_list"), issued.secret)
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(mine.pk)]


def test_the_secret_is_stored_only_as_a_hash(world):
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN])
    with tenant_context(world.a.tenant):
        stored = ApiToken.objects.for_tenant(world.a.tenant).get(pk=issued.token.pk)
    assert stored.token_hash == hash_api_token(issued.secret)
    assert issued.secret not in {stored.token_hash, stored.prefix}
    assert len(stored.prefix) == len("sp_") + 6 and issued.secret.startswith(stored.prefix)


@pytest.mark.parametrize(
    "secret",
    ["", "sp_not-a-real-token", "garbage", "sp_" + "x" * 200],
)
def test_unknown_tokens_get_a_structured_401(world, client, secret):
    response = _get(client, reverse("api:segments_api:contact_list"), secret)
    assert response.status_code == 401
    body = response.json()
    assert body["error"]["code"] in {"authentication_failed", "invalid_token"}
    assert body["error"]["request_id"] == response["X-Request-ID"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_and_expired_tokens_fail(world, client, login):
    url = reverse("api:segments_api:contact_list")
    expired = make_token(world.a.tenant, world.a.users[Role.ADMIN], expires_at=timezone.now() - timedelta(seconds=1))
    response = _get(client, url, expired.secret)
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_token"

    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN])
    assert _get(client, url, issued.secret).status_code == 200
    admin = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True)
    revoke = reverse("authn:api_application_revoke", kwargs={"application_id": issued.application.pk})
    assert admin.post(revoke).status_code == 302
    admin.logout()
    response = _get(client, url, issued.secret)
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_token"


def test_a_token_of_a_revoked_application_fails_even_if_the_token_row_was_missed(world, client):
    """Defence in depth: resolution checks the application too, not only the token row."""
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN])
    with tenant_context(world.a.tenant):
        ApiApplication.objects.for_tenant(world.a.tenant).filter(pk=issued.application.pk).update(
            revoked_at=timezone.now()
        )
    assert _get(client, reverse("api:segments_api:contact_list"), issued.secret).status_code == 401


def test_a_token_without_the_scope_gets_a_structured_403(world, client):
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN], scopes=["audit:read"])
    response = _get(client, reverse("api:segments_api:contact_list"), issued.secret)
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "insufficient_scope"
    assert "contacts:read" in error["message"]
    assert error["request_id"] == response["X-Request-ID"]


def test_api_errors_are_structured(world, client):
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN])
    response = _get(client, "/api/contacts/00000000-0000-0000-0000-000000000000/", issued.secret)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    response = client.get("/api/no-such-endpoint/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_openapi_schema_and_docs_are_served(client):
    schema = client.get(reverse("api:schema"), HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    document = schema.json()
    assert "/api/contacts/" in document["paths"]
    assert document["components"]["securitySchemes"]["ApiToken"]["scheme"] == "bearer"
    assert client.get(reverse("api:docs")).status_code == 200
