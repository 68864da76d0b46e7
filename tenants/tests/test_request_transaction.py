from __future__ import annotations

import pytest

from segments.models import Contact
from tenants.context import tenant_context
from tenants.roles import Role


@pytest.fixture
def crashing_client(world, login, settings):
    settings.ROOT_URLCONF = "tests.failing_views"
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    client.raise_request_exception = False
    return client


@pytest.mark.django_db
def test_a_server_error_writes_nothing(world, crashing_client):
    assert crashing_client.get("/write-then-crash/").status_code == 500
    with tenant_context(world.a.tenant):
        assert not Contact.objects.for_tenant(world.a.tenant).exists()


@pytest.mark.django_db
def test_a_failed_statement_gives_a_500_and_the_next_request_works(world, crashing_client, settings):
    assert crashing_client.get("/broken-sql/").status_code == 500
    settings.ROOT_URLCONF = "sealpost.urls"
    assert crashing_client.get("/").status_code == 200
