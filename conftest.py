"""Shared test fixtures: two organisations with one user per role in each, run on PostgreSQL as
the application role (so row-level security is live in every test)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest

from tenants.roles import Role


def pytest_configure(config: pytest.Config) -> None:
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        raise pytest.UsageError(
            "The test suite runs on PostgreSQL and Redis: use `make test`, or set DATABASE_URL, "
            "DATABASE_MIGRATE_URL and REDIS_URL as the Makefile does."
        )


@dataclass
class TenantFixture:
    tenant: object
    users: dict[Role, object] = field(default_factory=dict)
    memberships: dict[Role, object] = field(default_factory=dict)


@dataclass
class World:
    a: TenantFixture
    b: TenantFixture


PASSWORD = "correct-horse-battery-staple-1"  # noqa: S105 - synthetic test credential


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Sign-in throttling counts in the cache (Redis in the suite): each test starts clean."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _audit_checkpoint_key(settings, tmp_path):
    """Each test signs audit checkpoints with its own key and log, outside the database."""
    from encryption.keyfile import ensure_key_file

    settings.AUDIT_CHECKPOINT_KEY_FILE = tmp_path / "audit_checkpoint.key"
    settings.AUDIT_CHECKPOINT_LOG = tmp_path / "audit_checkpoints.jsonl"
    ensure_key_file(settings.AUDIT_CHECKPOINT_KEY_FILE)


@pytest.fixture(autouse=True)
def _master_key(settings, tmp_path):
    """Each test wraps tenant keys with its own master key; nothing unwrapped survives a test."""
    from encryption.keyfile import ensure_key_file
    from encryption.keyring import forget_cached_keys
    from encryption.providers import get_key_provider

    settings.MASTER_KEY_FILE = tmp_path / "master.key"
    ensure_key_file(settings.MASTER_KEY_FILE)
    get_key_provider.cache_clear()
    forget_cached_keys()
    yield
    get_key_provider.cache_clear()
    forget_cached_keys()


def _make_tenant(slug: str) -> TenantFixture:
    from authn.models import User
    from tenants.context import tenant_context
    from tenants.models import Organisation
    from tenants.services import membership_create

    tenant = Organisation.objects.create(name=f"Org {slug.upper()}", slug=f"org-{slug}")
    fixture = TenantFixture(tenant=tenant)
    with tenant_context(tenant):
        for role in Role:
            user = User.objects.create_user(
                email=f"{role.value}@{slug}.example.com", password=PASSWORD, full_name=f"{role.label} {slug.upper()}"
            )
            fixture.users[role] = user
            fixture.memberships[role] = membership_create(tenant=tenant, actor=None, user=user, role=role)
    return fixture


@pytest.fixture
def world(db) -> World:
    return World(a=_make_tenant("a"), b=_make_tenant("b"))


@pytest.fixture
def login(client):
    """``login(user, tenant)``: a signed-in test client acting for ``tenant``, its session bound
    to the client's device cookie and network and opened with a passkey (``factor=`` to change,
    ``step_up=True`` for a fresh step-up)."""
    from tenants.resolution import SESSION_TENANT_KEY

    def _login(user, tenant=None, *, factor=None, step_up=False):
        from authn.models import Factor
        from authn.tests.support import bind_client_session

        client.force_login(user)
        bind_client_session(client, user, factor=factor or Factor.PASSKEY, step_up=step_up)
        if tenant is not None:
            session = client.session
            session[SESSION_TENANT_KEY] = tenant.pk
            session.save()
        return client

    return _login
