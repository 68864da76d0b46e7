"""Listing and ending signed-in sessions (``UserSession``). Ending one marks the row ended (the
binding middleware refuses it at its next request) and deletes Django's session data."""

from __future__ import annotations

import uuid
from importlib import import_module
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import Http404
from django.utils import timezone

from audit.services import actor_for_user, record
from audit.signals import record_for_each_organisation
from authn.models import User, UserSession
from tenants.models import Membership, Organisation

RECENT_SESSIONS = 20


def sessions_of(user: User) -> list[UserSession]:
    """The user's open sessions and their most recent ended ones."""
    return list(UserSession.objects.filter(user=user).order_by("-created_at")[:RECENT_SESSIONS])


def user_session_get(*, user: User, session_id: uuid.UUID) -> UserSession:
    session = UserSession.objects.filter(user=user, pk=session_id).first()
    if session is None:
        raise Http404("No such session.")
    return session


def _member_ids(tenant: Organisation) -> QuerySet[Membership, dict[str, Any]]:
    return Membership.objects.for_tenant(tenant).values("user_id")


def open_sessions_of_members(*, tenant: Organisation) -> list[UserSession]:
    return list(
        UserSession.objects.filter(user_id__in=_member_ids(tenant), ended_at=None)
        .select_related("user")
        .order_by("user__email", "-created_at")
    )


def user_session_get_for_member(*, tenant: Organisation, session_id: uuid.UUID) -> UserSession:
    """A session of a member of ``tenant``: 404 for anyone else's, as for one that does not exist."""
    session = UserSession.objects.filter(pk=session_id, user_id__in=_member_ids(tenant)).select_related("user").first()
    if session is None:
        raise Http404("No such session.")
    return session


def _delete_django_sessions(session_keys: list[str]) -> None:
    store = import_module(settings.SESSION_ENGINE).SessionStore
    for key in session_keys:
        if key:
            store(session_key=key).delete()


@transaction.atomic
def session_end(*, session: UserSession, actor: User, reason: str, tenant: Organisation | None = None) -> bool:
    """End one session. Audited in ``tenant`` when an admin ends a member's session, otherwise in
    each of the owner's organisations."""
    ended = UserSession.objects.filter(pk=session.pk, ended_at=None).update(ended_at=timezone.now(), end_reason=reason)
    if not ended:
        return False
    transaction.on_commit(lambda: _delete_django_sessions([session.session_key]))
    details = {"session_id": str(session.pk), "user_id": session.user_id, "reason": reason}
    if actor.pk != session.user_id and tenant is not None:
        record(tenant=tenant, action="auth.session_ended", actor=actor_for_user(actor), details=details)
    else:
        record_for_each_organisation(session.user, "auth.session_ended", actor_for_user(actor), details)
    return True


def _end_all(user: User, *, reason: str, keep_session_id: str | None = None) -> list[str]:
    sessions = UserSession.objects.filter(user=user, ended_at=None)
    if keep_session_id:
        sessions = sessions.exclude(pk=keep_session_id)
    rows = list(sessions.values_list("pk", "session_key"))
    if rows:
        UserSession.objects.filter(pk__in=[pk for pk, _ in rows], ended_at=None).update(
            ended_at=timezone.now(), end_reason=reason
        )
        keys = [key for _, key in rows]
        transaction.on_commit(lambda: _delete_django_sessions(keys))
    return [str(pk) for pk, _ in rows]


@transaction.atomic
def sessions_end_others(*, user: User, keep_session_id: str | None) -> int:
    ended = _end_all(user, reason="ended_by_user", keep_session_id=keep_session_id)
    if ended:
        record_for_each_organisation(
            user, "auth.session_ended", actor_for_user(user), {"reason": "ended_by_user", "count": len(ended)}
        )
    return len(ended)


@receiver(post_save, sender=User)
def _disabled_user_loses_sessions(sender: type[User], instance: User, **_: object) -> None:
    """Disabling an account ends its sessions at once."""
    if instance.is_active:
        return
    ended = _end_all(instance, reason="user_disabled")
    if ended:
        from audit.services import SYSTEM

        record_for_each_organisation(
            instance, "auth.session_ended", SYSTEM, {"reason": "user_disabled", "count": len(ended)}
        )
