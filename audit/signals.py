"""Sign-in events, from Django's authentication signals."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.core.signals import request_finished, request_started
from django.dispatch import receiver
from django.http import HttpRequest

from audit.models import ActorType
from audit.services import ANONYMOUS, Actor, actor_for_user, mark_break_glass, record
from authn.models import User
from tenants.context import principal_context, tenant_context
from tenants.resolution import user_memberships


def record_for_each_organisation(user: User, action: str, actor: Actor, details: dict[str, Any] | None = None) -> None:
    """A session opens every organisation the user belongs to, so each one's log shows it."""
    with principal_context(user_id=user.pk):
        memberships = user_memberships(user.pk)
    for membership in memberships:
        with tenant_context(membership.tenant, switch_from_active=True):
            record(
                tenant=membership.tenant,
                action=action,
                actor=actor,
                details={"user_id": user.pk, **(details or {})},
            )


@receiver(request_started)
@receiver(request_finished)
def _clear_break_glass_mark(sender: Any, **_: Any) -> None:
    """A request's break-glass marking (set by tenant resolution) never outlives it."""
    mark_break_glass(None, None)


@receiver(user_logged_in)
def _logged_in(sender: Any, request: HttpRequest | None, user: User, **_: Any) -> None:
    factor = getattr(request, "sealpost_sign_in_factor", None)
    details = {"factor": str(factor)} if factor else None
    record_for_each_organisation(user, "auth.login_succeeded", actor_for_user(user), details)


@receiver(user_logged_out)
def _logged_out(sender: Any, request: HttpRequest | None, user: User | None, **_: Any) -> None:
    if user is not None:
        record_for_each_organisation(user, "auth.logout", actor_for_user(user))


@receiver(user_login_failed)
def _login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **_: Any) -> None:
    # The address typed is never stored: it may be mistyped, or someone else's.
    email = str(credentials.get("username") or credentials.get("email") or "").strip().lower()
    user = User.objects.filter(email=email, is_active=True).first() if email else None
    if user is None:
        record(tenant=None, action="auth.login_failed", actor=ANONYMOUS, details={"reason": "unknown_account"})
        return
    actor = Actor(ActorType.USER, str(user.pk), user.email)
    record_for_each_organisation(user, "auth.login_failed", actor)


def record_lockout(email: str) -> None:
    """A lock on a submitted address: in the account's organisations if it exists, else in the
    global chain (the address itself is never stored)."""
    user = User.objects.filter(email=email.strip().lower(), is_active=True).first()
    if user is None:
        record(tenant=None, action="auth.locked_out", actor=ANONYMOUS, details={"reason": "unknown_account"})
        return
    record_for_each_organisation(user, "auth.locked_out", Actor(ActorType.USER, str(user.pk), user.email))
    from authn.notifications import suspicious_sign_in_alert_everywhere

    suspicious_sign_in_alert_everywhere(user=user, reasons=["many_failures"])
