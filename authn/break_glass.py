"""Break-glass (emergency) access: an admin grants a member a role for a short, written-down
window. While the grant is active the member acts with that role (applied in memory by tenant
resolution, never saved), every audit event of their requests carries the grant id, and the
compliance officers are told. It ends on its own at ``expires_at``; a periodic sweep writes the
expiry to the audit log.

The reason is stored on the grant (it may mention a patient, so it is shown on the page to those
who manage emergency access and never copied into audit details, emails or logs).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone

from audit.services import Target, actor_for_user, mark_break_glass, record, system_actor
from authn.models import BreakGlassGrant, User
from tenants.context import require_tenant_is_current, tenant_context
from tenants.models import Membership, Organisation
from tenants.permissions import role_has_permission
from tenants.roles import Role

MIN_MINUTES = 15
MAX_MINUTES = 480
MIN_REASON_LENGTH = 20
MAX_REASON_LENGTH = 2000
# Grants whose expiry the sweep records per tenant per query.
EXPIRY_BATCH_SIZE = 200
# Grants whose use was already recorded in this session (``break_glass.used`` once per grant).
SESSION_USED_KEY = "sealpost_break_glass_used"
SWEEP_ACTOR = "authn.break_glass"


def _active(queryset: QuerySet[BreakGlassGrant], now: datetime) -> QuerySet[BreakGlassGrant]:
    return queryset.filter(revoked_at__isnull=True, created_at__lte=now, expires_at__gt=now)


# --- Selectors --------------------------------------------------------------------------------


def break_glass_list(*, tenant: Organisation) -> QuerySet[BreakGlassGrant]:
    return (
        BreakGlassGrant.objects.for_tenant(tenant)
        .select_related("user", "granted_by", "revoked_by")
        .order_by("-created_at")
    )


def break_glass_get(*, tenant: Organisation, grant_id: uuid.UUID) -> BreakGlassGrant:
    """404 both when the grant does not exist and when it belongs to another organisation."""
    grant = break_glass_list(tenant=tenant).filter(pk=grant_id).first()
    if grant is None:
        raise Http404("No such emergency access grant.")
    return grant


def active_break_glass_for(*, tenant: Organisation, user_id: int) -> BreakGlassGrant | None:
    return _active(BreakGlassGrant.objects.for_tenant(tenant).filter(user_id=user_id), timezone.now()).first()


def break_glass_members(*, tenant: Organisation) -> QuerySet[Membership]:
    """The members who may be granted emergency access: active members with active accounts."""
    return (
        Membership.objects.for_tenant(tenant)
        .filter(is_active=True, user__is_active=True)
        .select_related("user")
        .order_by("user__email")
    )


# --- Services ---------------------------------------------------------------------------------


def _stored_membership(tenant: Organisation, user: User) -> Membership | None:
    return Membership.objects.for_tenant(tenant).filter(user=user, is_active=True, user__is_active=True).first()


@transaction.atomic
def break_glass_grant(
    *, tenant: Organisation, actor: User, user: User, role: Role | str, reason: str, minutes: int
) -> BreakGlassGrant:
    """Grant ``user`` the ``role`` for ``minutes``. Refused (``ValidationError``, keyed by field)
    for a non-member, the actor themself, a second active grant, a short reason or a window
    outside 15 minutes to 8 hours. Only an admin by their stored role may grant: emergency
    access cannot be used to hand out more of it."""
    require_tenant_is_current(tenant)
    acting = _stored_membership(tenant, actor)
    if acting is None or not role_has_permission(acting.role, "break_glass.manage"):
        raise ValidationError("Only an admin of this organisation, not one under emergency access, may grant it.")
    if role not in Role.values:
        raise ValidationError({"role": "Choose a role."})
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise ValidationError({"reason": f"Write the reason in at least {MIN_REASON_LENGTH} characters."})
    if len(reason) > MAX_REASON_LENGTH:
        raise ValidationError({"reason": f"Keep the reason under {MAX_REASON_LENGTH} characters."})
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise ValidationError({"minutes": f"Choose between {MIN_MINUTES} and {MAX_MINUTES} minutes."})
    if user.pk == actor.pk:
        raise ValidationError({"member": "Emergency access is granted by another admin, not to yourself."})
    # Locking the member's row serialises concurrent grants for them: at most one is active.
    member = (
        Membership.objects.for_tenant(tenant)
        .select_for_update(of=("self",))
        .filter(user_id=user.pk, is_active=True, user__is_active=True)
        .first()
    )
    if member is None:
        raise ValidationError({"member": "Emergency access can only be granted to an active member."})
    now = timezone.now()
    if _active(BreakGlassGrant.objects.for_tenant(tenant).filter(user_id=user.pk), now).exists():
        raise ValidationError({"member": "This member already has emergency access. End it first."})
    grant = BreakGlassGrant(
        tenant=tenant,
        user=user,
        role=Role(role),
        reason=reason,
        granted_by=actor,
        created_at=now,
        expires_at=now + timedelta(minutes=minutes),
    )
    grant.save()
    record(
        tenant=tenant,
        action="break_glass.granted",
        actor=actor_for_user(actor),
        target=Target.of(grant),
        details={
            "grant_id": str(grant.pk),
            "user_id": user.pk,
            "role": grant.role,
            "minutes": minutes,
            "expires_at": grant.expires_at.isoformat(),
        },
    )
    from authn.notifications import break_glass_granted_notify

    break_glass_granted_notify(tenant=tenant, grant=grant)
    return grant


@transaction.atomic
def break_glass_revoke(*, tenant: Organisation, actor: User, grant: BreakGlassGrant) -> bool:
    """End the grant now. Returns False (and records nothing) if it had already ended."""
    require_tenant_is_current(tenant)
    if grant.tenant_id != tenant.pk:
        raise Http404("No such emergency access grant.")
    now = timezone.now()
    ended = (
        BreakGlassGrant.objects.for_tenant(tenant)
        .filter(pk=grant.pk, revoked_at__isnull=True, expires_at__gt=now)
        .update(revoked_at=now, revoked_by=actor)
    )
    if not ended:
        return False
    grant.revoked_at, grant.revoked_by = now, actor
    record(
        tenant=tenant,
        action="break_glass.revoked",
        actor=actor_for_user(actor),
        target=Target.of(grant),
        details={"grant_id": str(grant.pk), "user_id": grant.user_id, "role": grant.role},
    )
    return True


def _expire_due_in(tenant: Organisation, now: datetime) -> int:
    recorded = 0
    while True:
        due = list(
            BreakGlassGrant.objects.for_tenant(tenant)
            .filter(expires_at__lte=now, expiry_recorded_at__isnull=True, revoked_at__isnull=True)
            .order_by("expires_at")[:EXPIRY_BATCH_SIZE]
        )
        for grant in due:
            # Compare-and-set: of two sweeps running at once, only one records the expiry.
            claimed = (
                BreakGlassGrant.objects.for_tenant(tenant)
                .filter(pk=grant.pk, expiry_recorded_at__isnull=True)
                .update(expiry_recorded_at=now)
            )
            if claimed:
                record(
                    tenant=tenant,
                    action="break_glass.expired",
                    actor=system_actor(SWEEP_ACTOR),
                    target=Target.of(grant),
                    details={"grant_id": str(grant.pk), "user_id": grant.user_id, "role": grant.role},
                )
                recorded += 1
        if len(due) < EXPIRY_BATCH_SIZE:
            return recorded


def break_glass_expire_due(*, now: datetime | None = None) -> int:
    """Record ``break_glass.expired`` for every grant that reached its end without being revoked
    and whose expiry is not yet recorded, one organisation at a time. Returns how many."""
    now = now or timezone.now()
    recorded = 0
    for organisation in Organisation.objects.order_by("pk"):
        with tenant_context(organisation):
            recorded += _expire_due_in(organisation, now)
    return recorded


# --- Applying a grant to a request ------------------------------------------------------------


def break_glass_apply(request: HttpRequest, membership: Membership) -> BreakGlassGrant | None:
    """Called by tenant resolution (before the tenant context opens, inside the principal
    context that lets a user read their own grants). With an active grant for this member the
    membership takes the grant's role in memory, the request's audit events carry the grant id,
    and the first use in this session is recorded."""
    now = timezone.now()
    # Row-level security admits the principal's own grants here; the filters make it exact.
    grant = (
        _active(BreakGlassGrant.unscoped.filter(tenant_id=membership.tenant_id, user_id=membership.user_id), now)
        .select_related("tenant")
        .first()
    )
    request.break_glass = grant  # type: ignore[attr-defined]
    if grant is None:
        mark_break_glass(None, None)
        return None
    membership.role = grant.role  # never saved
    mark_break_glass(membership.tenant_id, str(grant.pk))
    used = list(request.session.get(SESSION_USED_KEY, []))
    if str(grant.pk) not in used:
        with tenant_context(membership.tenant):
            record(
                tenant=membership.tenant,
                action="break_glass.used",
                actor=actor_for_user(request.user),  # type: ignore[arg-type]
                target=Target.of(grant),
                details={"grant_id": str(grant.pk), "role": grant.role},
            )
        request.session[SESSION_USED_KEY] = [*used[-19:], str(grant.pk)]
    return grant
