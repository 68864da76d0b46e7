from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from audit.models import AuditCheckpoint, AuditEvent
from tenants.context import require_tenant_is_current
from tenants.models import Organisation


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""
    action: str = ""
    target_type: str = ""
    target_id: str = ""
    date_from: date | None = None
    date_to: date | None = None

    def used(self) -> list[str]:
        """The names of the filters in use (never their values: an auditor may type anything)."""
        return [name for name, value in vars(self).items() if value]


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def audit_event_list(*, tenant: Organisation, filters: AuditFilters | None = None) -> QuerySet[AuditEvent]:
    """The tenant's chain, newest first."""
    require_tenant_is_current(tenant)
    events = AuditEvent.objects.filter(chain_id=tenant.pk, tenant_id=tenant.pk)
    filters = filters or AuditFilters()
    if filters.actor:
        events = events.filter(Q(actor_id=filters.actor) | Q(actor_label__icontains=filters.actor))
    if filters.action:
        events = events.filter(Q(action=filters.action) | Q(action__startswith=f"{filters.action}."))
    if filters.target_type:
        events = events.filter(target_type=filters.target_type)
    if filters.target_id:
        events = events.filter(target_id=filters.target_id)
    if filters.date_from:
        events = events.filter(occurred_at__gte=_day_start(filters.date_from))
    if filters.date_to:
        events = events.filter(occurred_at__lt=_day_start(filters.date_to + timedelta(days=1)))
    return events.order_by("-seq")


def audit_event_get(*, tenant: Organisation, event_id: int) -> AuditEvent:
    """404 both when the event does not exist and when it is in another tenant's chain."""
    event = audit_event_list(tenant=tenant).filter(pk=event_id).first()
    if event is None:
        raise Http404("No such audit event.")
    return event


def audit_latest_checkpoint(*, tenant: Organisation) -> AuditCheckpoint | None:
    require_tenant_is_current(tenant)
    return AuditCheckpoint.objects.filter(chain_id=tenant.pk, tenant=tenant).order_by("-seq").first()


def audit_checkpoints(*, tenant: Organisation) -> QuerySet[AuditCheckpoint]:
    require_tenant_is_current(tenant)
    return AuditCheckpoint.objects.filter(chain_id=tenant.pk, tenant=tenant).order_by("seq")


SIGN_IN_ACTIONS = (
    "auth.login_succeeded",
    "auth.login_failed",
    "auth.logout",
    "auth.session_expired",
    "auth.locked_out",
)


def sign_in_history(*, tenant: Organisation, user_id: int, limit: int = 100) -> QuerySet[AuditEvent]:
    """A user's own sign-ins, failures, sign-outs and expiries, newest first, as recorded in the
    tenant's chain."""
    require_tenant_is_current(tenant)
    return (
        AuditEvent.objects.filter(chain_id=tenant.pk, tenant_id=tenant.pk, actor_id=str(user_id))
        .filter(action__in=SIGN_IN_ACTIONS)
        .order_by("-seq")[:limit]
    )
