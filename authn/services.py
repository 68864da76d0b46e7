from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import Target, actor_for_user, record
from authn.models import ApiApplication, ApiToken, User, hash_api_token
from authn.scopes import clean_scopes
from tenants.context import require_tenant_is_current
from tenants.models import Organisation
from tenants.resolution import TOKEN_PREFIX

# Tokens always expire; rotating one is cheap, a leaked one that never expires is not.
MAX_TOKEN_LIFETIME = timedelta(days=366)


@dataclass(frozen=True)
class IssuedToken:
    application: ApiApplication
    token: ApiToken
    secret: str  # shown once, never stored


def _approved(scopes: Iterable[str]) -> list[str]:
    approved = clean_scopes(scopes)
    if not approved:
        raise ValidationError("Approve at least one scope.", code="no_scope")
    return approved


def _issue_token(*, tenant: Organisation, actor: User, application: ApiApplication, lifetime: timedelta) -> IssuedToken:
    if not timedelta(0) < lifetime <= MAX_TOKEN_LIFETIME:
        raise ValidationError("A token lives between a moment and a year.", code="lifetime")
    secret = f"{TOKEN_PREFIX}{secrets.token_urlsafe(32)}"
    token = ApiToken(
        tenant=tenant,
        application=application,
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        token_hash=hash_api_token(secret),
        created_by=actor,
        expires_at=timezone.now() + lifetime,
    )
    token.save()
    return IssuedToken(application=application, token=token, secret=secret)


def _locked(tenant: Organisation, application: ApiApplication) -> ApiApplication:
    """The application's row, locked until the transaction ends: rotations, scope changes and
    revocation of one application happen one after the other."""
    return ApiApplication.objects.for_tenant(tenant).select_for_update().get(pk=application.pk)


def _revoke_live_tokens(tenant: Organisation, application: ApiApplication) -> list[str]:
    live = ApiToken.objects.for_tenant(tenant).filter(application=application, revoked_at__isnull=True)
    ids = [str(pk) for pk in live.values_list("pk", flat=True)]
    live.update(revoked_at=timezone.now())
    return ids


@transaction.atomic
def api_application_create(
    *,
    tenant: Organisation,
    actor: User,
    name: str,
    description: str = "",
    scopes: Iterable[str],
    lifetime: timedelta,
) -> IssuedToken:
    """Register an application with the scopes an admin approved and issue its first token."""
    require_tenant_is_current(tenant)
    application = ApiApplication(
        tenant=tenant, name=name, description=description, scopes=_approved(scopes), created_by=actor
    )
    application.full_clean()
    application.save()
    issued = _issue_token(tenant=tenant, actor=actor, application=application, lifetime=lifetime)
    actor_ref = actor_for_user(actor)
    record(
        tenant=tenant,
        action="api_application.created",
        actor=actor_ref,
        target=Target.of(application),
        details={"scopes": application.scopes},
    )
    record(
        tenant=tenant,
        action="api_token.created",
        actor=actor_ref,
        target=Target.of(issued.token),
        details=_token_details(issued.token),
    )
    return issued


@transaction.atomic
def api_application_update_scopes(
    *, tenant: Organisation, actor: User, application: ApiApplication, scopes: Iterable[str]
) -> ApiApplication:
    """Replace the approved scopes. Only an admin's form reaches this: no API call can change
    an application's scopes, so a token can never widen its own access."""
    require_tenant_is_current(tenant)
    locked = _locked(tenant, application)
    if locked.revoked_at is not None:
        raise ValidationError("This application was revoked; register a new one.", code="revoked")
    approved = _approved(scopes)
    before = list(locked.scopes)
    if approved == before:
        return locked
    locked.scopes = approved
    locked.save(update_fields=["scopes"])
    record(
        tenant=tenant,
        action="api_application.scopes_changed",
        actor=actor_for_user(actor),
        target=Target.of(locked),
        details={
            "added": [code for code in approved if code not in before],
            "removed": [code for code in before if code not in approved],
            "scopes": approved,
        },
    )
    return locked


@transaction.atomic
def api_application_revoke(*, tenant: Organisation, actor: User, application: ApiApplication) -> ApiApplication:
    """Revoke the application and every token it has: calls with them fail at once."""
    require_tenant_is_current(tenant)
    locked = _locked(tenant, application)
    if locked.revoked_at is not None:
        return locked
    revoked_token_ids = _revoke_live_tokens(tenant, locked)
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    record(
        tenant=tenant,
        action="api_application.revoked",
        actor=actor_for_user(actor),
        target=Target.of(locked),
        details={"revoked_token_ids": revoked_token_ids},
    )
    return locked


@transaction.atomic
def api_token_rotate(
    *, tenant: Organisation, actor: User, application: ApiApplication, lifetime: timedelta
) -> IssuedToken:
    """Issue a new token for the application and revoke the old one at once (not after a grace
    period: a rotation is often done because the old secret leaked)."""
    require_tenant_is_current(tenant)
    locked = _locked(tenant, application)
    if locked.revoked_at is not None:
        raise ValidationError("This application was revoked; register a new one.", code="revoked")
    revoked_token_ids = _revoke_live_tokens(tenant, locked)
    issued = _issue_token(tenant=tenant, actor=actor, application=locked, lifetime=lifetime)
    record(
        tenant=tenant,
        action="api_token.rotated",
        actor=actor_for_user(actor),
        target=Target.of(issued.token),
        details={**_token_details(issued.token), "revoked_token_ids": revoked_token_ids},
    )
    return issued


def _token_details(token: ApiToken) -> dict[str, object]:
    return {
        "application_id": str(token.application_id),
        "prefix": token.prefix,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
    }
