"""The current tenant: resolved once at the edge, carried in a context variable, and set in
PostgreSQL for row-level security with ``SET LOCAL`` (``set_config(..., true)``) per transaction.

``tenant_context`` is the one way code runs "as" a tenant. Inside it, tenant-scoped managers
filter by the tenant and every statement on PostgreSQL runs with ``sealpost.tenant_id`` set, so
the database itself refuses other tenants' rows. Outside it, tenant-scoped managers raise and
PostgreSQL shows no tenant-owned rows at all.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from django.db import connections, transaction

if TYPE_CHECKING:
    from tenants.models import Organisation

TENANT_GUC = "sealpost.tenant_id"
USER_GUC = "sealpost.user_id"
API_TOKEN_GUC = "sealpost.api_token_hash"  # noqa: S105 - a setting name, not a secret

_current_tenant: contextvars.ContextVar[Organisation | None] = contextvars.ContextVar(
    "sealpost_current_tenant", default=None
)


class TenantContextMissing(RuntimeError):
    """Tenant-owned data was touched outside ``tenant_context``."""


class TenantMismatch(RuntimeError):
    """Code asked for one tenant's data while running as another tenant."""


def current_tenant() -> Organisation | None:
    return _current_tenant.get()


def require_current_tenant() -> Organisation:
    tenant = _current_tenant.get()
    if tenant is None:
        raise TenantContextMissing("This operation needs a tenant; run it inside tenant_context().")
    return tenant


def require_tenant_is_current(tenant: Organisation) -> None:
    """Defence in depth for selectors and services: the tenant they were given must be the one
    the request or task runs as."""
    active = require_current_tenant()
    if active.pk != tenant.pk:
        raise TenantMismatch("The tenant passed in is not the active tenant.")


def set_local(name: str, value: str, *, using: str = "default") -> None:
    """``SET LOCAL name = value`` for the current transaction (PostgreSQL only)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    if not connection.in_atomic_block:
        raise RuntimeError(f"{name} must be set inside a transaction; SET LOCAL would not last.")
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, true)", [name, value])


def swap_locals(values: dict[str, str], *, using: str = "default") -> dict[str, str]:
    """Set several settings for the current transaction in one round trip; returns what they
    were before (PostgreSQL only; elsewhere nothing is set and the previous values are empty)."""
    connection = connections[using]
    names = list(values)
    if connection.vendor != "postgresql":
        return dict.fromkeys(names, "")
    if not connection.in_atomic_block:
        raise RuntimeError("Settings must be set inside a transaction; SET LOCAL would not last.")
    reads = ", ".join(["coalesce(current_setting(%s, true), '')"] * len(names))
    writes = ", ".join(["set_config(%s, %s, true)"] * len(names))
    params: list[str] = [*names]
    for name in names:
        params += [name, values[name]]
    with connection.cursor() as cursor:
        # MATERIALIZED: the old values are read before any set_config runs.
        sql = f"WITH previous AS MATERIALIZED (SELECT {reads}) SELECT previous.*, {writes} FROM previous"  # noqa: S608
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return dict(zip(names, row[: len(names)], strict=True))


def _restore_local(name: str, value: str, *, using: str) -> None:
    """Put a setting back at the end of a block. If the block is being rolled back, the rollback
    itself restores the setting (and no statement may run first), so nothing is done."""
    if connections[using].needs_rollback:
        return
    set_local(name, value, using=using)


@contextmanager
def tenant_context(
    tenant: Organisation, *, using: str = "default", switch_from_active: bool = False
) -> Iterator[Organisation]:
    """Run the block as ``tenant``: one transaction (or a savepoint inside an outer one) with the
    tenant set for row-level security. On leaving, the previous setting is restored (a savepoint
    that is released would otherwise leave the tenant set for the rest of an outer transaction).

    Entering a different tenant while one is active is refused unless ``switch_from_active`` says
    the caller means it (the audit log records a user's sign-out in each of their organisations).
    """
    active = _current_tenant.get()
    if active is not None and active.pk != tenant.pk and not switch_from_active:
        raise TenantMismatch("Cannot enter a second tenant while running as another.")
    token = _current_tenant.set(tenant)
    try:
        with transaction.atomic(using=using):
            set_local(TENANT_GUC, str(tenant.pk), using=using)
            yield tenant
            _restore_local(TENANT_GUC, "" if active is None else str(active.pk), using=using)
    finally:
        _current_tenant.reset(token)


@contextmanager
def principal_context(
    *, user_id: int | None = None, api_token_hash: str | None = None, using: str = "default"
) -> Iterator[None]:
    """Let the block read the rows that belong to a principal across tenants (a user's own
    memberships, the API token presented) before any tenant is chosen. Row-level security
    policies on those two tables admit rows matching these settings."""
    with transaction.atomic(using=using):
        principal = {USER_GUC: "" if user_id is None else str(user_id), API_TOKEN_GUC: api_token_hash or ""}
        previous = swap_locals(principal, using=using)
        yield
        if not connections[using].needs_rollback:
            swap_locals(previous, using=using)
