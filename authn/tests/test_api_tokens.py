from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from authn.models import ApiToken, hash_api_token
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
    assert issued.secret not in {stored.token_hash, stored.prefix, stored.name}


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
    assert _get(client, url, expired.secret).status_code == 401

    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN])
    assert _get(client, url, issued.secret).status_code == 200
    admin = login(world.a.users[Role.ADMIN], world.a.tenant)
    assert admin.post(reverse("authn:api_token_revoke", kwargs={"token_id": issued.token.pk})).status_code == 302
    admin.logout()
    assert _get(client, url, issued.secret).status_code == 401


def test_admin_creates_a_token_shown_once(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    response = client.post(
        reverse("authn:api_token_list"), {"name": "EHR sync", "role": Role.MARKETER, "lifetime_days": "30"}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = response.context["issued"].secret
    assert secret.startswith("sp_") and secret in response.content.decode()
    again = client.get(reverse("authn:api_token_list")).content.decode()
    assert secret not in again and "EHR sync" in again


def test_token_form_errors_are_shown(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    response = client.post(reverse("authn:api_token_list"), {"name": "", "role": "owner", "lifetime_days": "9999"})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"name", "role", "lifetime_days"}


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
