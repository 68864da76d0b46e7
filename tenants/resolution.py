"""Finding the tenant a request acts for: the session's chosen organisation among the user's
active memberships, or the organisation an API token is bound to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.http import HttpRequest
from django.utils import timezone

from authn.models import ApiApplication, ApiToken, hash_api_token
from tenants.context import tenant_context
from tenants.models import Membership

SESSION_TENANT_KEY = "sealpost_tenant_id"
TOKEN_PREFIX = "sp_"  # noqa: S105 - the public prefix of every token
# Recording last use on every call would write on every API request; once a minute is enough.
TOKEN_LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class BearerToken:
    secret: str

    @property
    def token_hash(self) -> str:
        return hash_api_token(self.secret)


def bearer_token_from(request: HttpRequest) -> BearerToken | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    value = value.strip()
    if not value.startswith(TOKEN_PREFIX) or not value.isascii() or len(value) > 128:
        # Still an attempt to authenticate: an empty secret matches no token.
        return BearerToken(secret="")
    return BearerToken(secret=value)


def user_memberships(user_id: int) -> list[Membership]:
    """The user's active memberships in active organisations. Row-level security admits these
    rows through ``principal_context(user_id=...)``; the filter on user makes it exact."""
    return list(
        Membership.unscoped.filter(user_id=user_id, is_active=True, tenant__is_active=True)
        .select_related("tenant")
        .order_by("tenant__name")
    )


def resolve_session_membership(request: HttpRequest, user_id: int) -> Membership | None:
    from authn.break_glass import break_glass_apply

    request.break_glass = None  # type: ignore[attr-defined]
    memberships = user_memberships(user_id)
    request.user_memberships = memberships  # type: ignore[attr-defined]
    if not memberships:
        return None
    chosen_id = request.session.get(SESSION_TENANT_KEY)
    chosen = next((membership for membership in memberships if membership.tenant_id == chosen_id), None)
    if chosen is None:
        chosen = memberships[0]
        request.session[SESSION_TENANT_KEY] = chosen.tenant_id
    # An active emergency-access grant gives the member its role for this request (in memory).
    break_glass_apply(request, chosen)
    return chosen


def resolve_api_token(bearer: BearerToken) -> ApiToken | None:
    if not bearer.secret:
        return None
    token = (
        ApiToken.unscoped.filter(token_hash=bearer.token_hash, tenant__is_active=True)
        .select_related("tenant", "created_by")
        .first()
    )
    if token is None or not token.is_usable():
        return None
    # The application (and its approved scopes) is read as the token's tenant: its table has no
    # principal-read policy, so row-level security never shows it before the token is known.
    with tenant_context(token.tenant):
        application = (
            ApiApplication.objects.for_tenant(token.tenant)
            .filter(pk=token.application_id, revoked_at__isnull=True)
            .first()
        )
        if application is None:
            return None
        token.application = application
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > TOKEN_LAST_USED_RESOLUTION:
            ApiToken.objects.for_tenant(token.tenant).filter(pk=token.pk).update(last_used_at=now)
    return token
