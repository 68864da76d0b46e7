from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from audit.services import Target, actor_for_user, record, system_actor
from authn.models import User
from tenants.context import require_tenant_is_current
from tenants.models import Membership, Organisation
from tenants.roles import Role


@transaction.atomic
def membership_create(*, tenant: Organisation, actor: User | None, user: User, role: Role | str) -> Membership:
    require_tenant_is_current(tenant)
    membership = Membership(tenant=tenant, user=user, role=Role(role))
    membership.full_clean()
    membership.save()
    record(
        tenant=tenant,
        action="membership.created",
        actor=actor_for_user(actor) if actor else system_actor("setup"),
        target=Target.of(membership),
        details={"user_id": user.pk, "role": membership.role},
    )
    return membership


def _active_admins_other_than(membership: Membership) -> int:
    return (
        Membership.objects.for_tenant(membership.tenant)
        .filter(role=Role.ADMIN, is_active=True)
        .exclude(pk=membership.pk)
        .count()
    )


@transaction.atomic
def membership_change_role(
    *, tenant: Organisation, actor: User, membership: Membership, role: Role | str
) -> Membership:
    """Change a member's role. An organisation always keeps at least one active admin."""
    require_tenant_is_current(tenant)
    new_role = Role(role)
    locked = Membership.objects.for_tenant(tenant).select_for_update().get(pk=membership.pk)
    if locked.role == Role.ADMIN and new_role != Role.ADMIN and _active_admins_other_than(locked) == 0:
        raise ValidationError("The organisation must keep at least one admin.")
    if locked.role != new_role:
        previous = locked.role
        locked.role = new_role
        locked.save(update_fields=["role", "updated_at"])
        record(
            tenant=tenant,
            action="membership.role_changed",
            actor=actor_for_user(actor),
            target=Target.of(locked),
            details={"user_id": locked.user_id, "from": previous, "to": new_role.value},
        )
    return locked


@transaction.atomic
def membership_set_active(*, tenant: Organisation, actor: User, membership: Membership, is_active: bool) -> Membership:
    require_tenant_is_current(tenant)
    locked = Membership.objects.for_tenant(tenant).select_for_update().get(pk=membership.pk)
    if locked.user_id == actor.pk and not is_active:
        raise ValidationError("You cannot deactivate your own membership.")
    if not is_active and locked.role == Role.ADMIN and _active_admins_other_than(locked) == 0:
        raise ValidationError("The organisation must keep at least one admin.")
    if locked.is_active != is_active:
        locked.is_active = is_active
        locked.save(update_fields=["is_active", "updated_at"])
        record(
            tenant=tenant,
            action="membership.reactivated" if is_active else "membership.deactivated",
            actor=actor_for_user(actor),
            target=Target.of(locked),
            details={"user_id": locked.user_id},
        )
    return locked
