from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from audit.services import Target, actor_for_user, record
from authn.models import ApiToken, User, hash_api_token
from tenants.context import require_tenant_is_current
from tenants.models import Organisation
from tenants.resolution import TOKEN_PREFIX
from tenants.roles import Role


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


@transaction.atomic
def api_token_create(
    *, tenant: Organisation, actor: User, name: str, role: Role | str, expires_at: datetime | None
) -> IssuedToken:
    require_tenant_is_current(tenant)
    body = secrets.token_urlsafe(32)
    secret = f"{TOKEN_PREFIX}{body}"
    token = ApiToken(
        tenant=tenant,
        name=name,
        role=Role(role),
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        token_hash=hash_api_token(secret),
        created_by=actor,
        expires_at=expires_at,
    )
    token.full_clean()
    token.save()
    record(
        tenant=tenant,
        action="api_token.created",
        actor=actor_for_user(actor),
        target=Target.of(token),
        details={"role": token.role, "prefix": token.prefix, "expires": bool(expires_at)},
    )
    return IssuedToken(token=token, secret=secret)


@transaction.atomic
def api_token_revoke(*, tenant: Organisation, actor: User, token: ApiToken) -> ApiToken:
    require_tenant_is_current(tenant)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record(tenant=tenant, action="api_token.revoked", actor=actor_for_user(actor), target=Target.of(token))
    return token
