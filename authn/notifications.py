"""Security notifications by email: emergency access granted (to the compliance officers) and
suspicious sign-ins (to the user and the organisation's admins).

Services here record what happened and queue one Celery task per recipient with
``transaction.on_commit`` (ids and codes only); the tasks build and send the message. Messages
are plain text and carry no PHI, no IP address and no emergency-access reason: only who, which
role, when, and where in Sealpost to look.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audit.services import Target, actor_for_user, record
from authn.models import BreakGlassGrant, User
from tenants.context import principal_context, tenant_context
from tenants.models import Membership, Organisation
from tenants.roles import Role

# The reasons a sign-in is reported as suspicious, and how the email explains each one.
SUSPICIOUS_REASONS: dict[str, str] = {
    "new_country": "It came from a country this account has not signed in from before.",
    "impossible_travel": (
        "It came from a place too far from the previous sign-in to have travelled there in the time between them."
    ),
    "many_failures": "Several wrong passwords or codes were entered, so sign-in to the account was locked for a while.",
}
TIME_FORMAT = "%Y-%m-%d %H:%M UTC"


def _link(path: str) -> str:
    return f"{(settings.SITE_URL or '').rstrip('/')}{path}"


def _active_members(tenant: Organisation, role: Role) -> list[int]:
    return list(
        Membership.objects.for_tenant(tenant)
        .filter(role=role, is_active=True, user__is_active=True)
        .order_by("user_id")
        .values_list("user_id", flat=True)
    )


def _is_active_member(tenant: Organisation, user_id: int, role: Role | None = None) -> bool:
    members = Membership.objects.for_tenant(tenant).filter(user_id=user_id, is_active=True, user__is_active=True)
    return (members.filter(role=role) if role is not None else members).exists()


# --- Emergency access granted -----------------------------------------------------------------


def break_glass_granted_notify(*, tenant: Organisation, grant: BreakGlassGrant) -> None:
    """Queue one email to each active compliance officer, sent once the grant commits."""
    from authn.tasks import break_glass_granted_email_task

    for officer_id in _active_members(tenant, Role.COMPLIANCE_OFFICER):
        transaction.on_commit(partial(break_glass_granted_email_task.delay, tenant.pk, str(grant.pk), officer_id))


def break_glass_granted_email(*, tenant: Organisation, grant_id: str, recipient_id: int) -> EmailMessage | None:
    """The message for one compliance officer, or None if they no longer are one (or the grant
    is gone). Runs inside ``tenant_context(tenant)``."""
    grant = BreakGlassGrant.objects.for_tenant(tenant).select_related("user", "granted_by").filter(pk=grant_id).first()
    recipient = User.objects.filter(pk=recipient_id, is_active=True).first()
    if grant is None or recipient is None or not _is_active_member(tenant, recipient_id, Role.COMPLIANCE_OFFICER):
        return None
    audit_link = _link(f"{reverse('audit:event_list')}?action=break_glass")
    body = (
        f"Emergency (break-glass) access was granted in {tenant.name}.\n\n"
        f"Member:      {grant.user.display_name} <{grant.user.email}>\n"
        f"Acting as:   {grant.get_role_display()}\n"
        f"From:        {grant.created_at.astimezone(UTC):{TIME_FORMAT}}\n"
        f"Until:       {grant.expires_at.astimezone(UTC):{TIME_FORMAT}}\n"
        f"Granted by:  {grant.granted_by.display_name} <{grant.granted_by.email}>\n\n"
        "The reason given is on the Emergency access page in Sealpost. Everything done under this\n"
        "access is marked in the audit log:\n"
        f"{audit_link}\n\n"
        "You receive this because you are a compliance officer of this organisation.\n"
    )
    return EmailMessage(
        subject=f"Sealpost: emergency access granted in {tenant.name}",
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient.email],
    )


# --- Suspicious sign-ins ----------------------------------------------------------------------


def _clean_reasons(reasons: Sequence[str]) -> list[str]:
    unknown = [reason for reason in reasons if reason not in SUSPICIOUS_REASONS]
    if unknown or not reasons:
        raise ValueError(f"Suspicious sign-in reasons must be among {sorted(SUSPICIOUS_REASONS)}.")
    return list(dict.fromkeys(reasons))


def suspicious_sign_in_alert(*, tenant: Organisation, user: User, reasons: list[str], decision_rule: str = "") -> None:
    """Record ``auth.suspicious_sign_in`` in ``tenant`` and queue a "was this you?" email to
    the user and one to each active admin of the organisation. ``reasons`` are codes from
    ``SUSPICIOUS_REASONS``; ``decision_rule`` is the conditional-access rule that fired, if any.
    Runs inside the caller's transaction (the emails go once it commits)."""
    from authn.tasks import suspicious_sign_in_email_task

    codes = _clean_reasons(reasons)
    at = int(timezone.now().timestamp())
    with tenant_context(tenant):
        details: dict[str, object] = {"user_id": user.pk, "reasons": codes}
        if decision_rule:
            details["rule"] = decision_rule
        record(
            tenant=tenant,
            action="auth.suspicious_sign_in",
            actor=actor_for_user(user),
            target=Target("user", str(user.pk)),
            details=details,
        )
        recipients = [user.pk] + [admin for admin in _active_members(tenant, Role.ADMIN) if admin != user.pk]
    for recipient_id in recipients:
        transaction.on_commit(partial(suspicious_sign_in_email_task.delay, tenant.pk, user.pk, recipient_id, codes, at))


def suspicious_sign_in_alert_everywhere(*, user: User, reasons: list[str]) -> None:
    """The alert in each organisation the user belongs to (an account locked by failures is
    locked for all of them)."""
    from tenants.resolution import user_memberships

    with principal_context(user_id=user.pk):
        memberships = user_memberships(user.pk)
    for membership in memberships:
        with tenant_context(membership.tenant, switch_from_active=True):
            suspicious_sign_in_alert(tenant=membership.tenant, user=user, reasons=reasons)


def suspicious_sign_in_email(
    *, tenant: Organisation, user_id: int, recipient_id: int, reasons: Sequence[str], at: int
) -> EmailMessage | None:
    """The message for the user themself or for one admin; None if the recipient is no longer
    an active member (or admin). Runs inside ``tenant_context(tenant)``."""
    user = User.objects.filter(pk=user_id).first()
    recipient = User.objects.filter(pk=recipient_id, is_active=True).first()
    if user is None or recipient is None:
        return None
    to_user = recipient_id == user_id
    if not _is_active_member(tenant, recipient_id, None if to_user else Role.ADMIN):
        return None
    when = f"{datetime.fromtimestamp(at, tz=UTC):{TIME_FORMAT}}"
    explained = "\n".join(f"  - {SUSPICIOUS_REASONS[code]}" for code in _clean_reasons(reasons))
    if to_user:
        subject = "Sealpost: was this you? Unusual sign-in to your account"
        body = (
            f"We noticed an unusual sign-in to your Sealpost account in {tenant.name} at {when}:\n\n"
            f"{explained}\n\n"
            "Was this you? If it was, there is nothing to do.\n\n"
            "If it was not you, end your sessions now at\n"
            f"{_link(reverse('authn:session_list'))}\n"
            "and tell your admin, who can review the sign-ins and end sessions for you. Consider\n"
            "changing your password.\n"
        )
    else:
        subject = f"Sealpost: unusual sign-in for a member of {tenant.name}"
        body = (
            f"An unusual sign-in to the account of {user.display_name} <{user.email}> in {tenant.name}\n"
            f"was noticed at {when}:\n\n"
            f"{explained}\n\n"
            "They have been asked whether it was them. If it was not, you can end their sessions at\n"
            f"{_link(reverse('authn:member_session_list'))}\n"
            "The details are in the audit log:\n"
            f"{_link(reverse('audit:event_list'))}?action=auth.suspicious_sign_in\n\n"
            "You receive this because you are an admin of this organisation.\n"
        )
    return EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[recipient.email])
