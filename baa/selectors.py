"""Reading agreements, BAA versions and sub-processors. Every tenant-owned read takes the tenant
and answers 404 for another organisation's object exactly as for a missing one."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from baa.models import Agreement, AgreementStatus, BaaDocumentVersion, SubProcessor
from tenants.context import require_tenant_is_current
from tenants.models import Organisation


def utc_date(at: datetime | None = None) -> date:
    """The calendar date (UTC) agreements' dates are compared with."""
    return (at or timezone.now()).astimezone(UTC).date()


def document_current() -> BaaDocumentVersion | None:
    """The latest published version: the one new agreements are made on."""
    return BaaDocumentVersion.objects.order_by("-version").first()


def agreement_list(*, tenant: Organisation) -> QuerySet[Agreement]:
    """Every agreement of the organisation, newest first, with its document version."""
    require_tenant_is_current(tenant)
    return (
        Agreement.objects.for_tenant(tenant)
        .select_related("document")
        .defer("document__text")
        .order_by("-created_at", "-pk")
    )


def agreement_get(*, tenant: Organisation, agreement_id: uuid.UUID | str) -> Agreement:
    require_tenant_is_current(tenant)
    agreement = Agreement.objects.for_tenant(tenant).select_related("document").filter(pk=agreement_id).first()
    if agreement is None:
        raise Http404("No such agreement.")
    return agreement


def agreement_in_force(*, tenant: Organisation, at: datetime | None = None) -> Agreement | None:
    """The active agreement covering ``at`` (now by default), judged by its dates: an agreement
    past its expiry date no longer counts even while its row still says active."""
    require_tenant_is_current(tenant)
    today = utc_date(at)
    return (
        Agreement.objects.for_tenant(tenant)
        .select_related("document")
        .defer("document__text")
        .filter(status=AgreementStatus.ACTIVE, effective_date__lte=today, expiry_date__gt=today)
        .first()
    )


def agreement_active_row(*, tenant: Organisation) -> Agreement | None:
    """The row whose status is active (at most one: a database constraint), whatever its dates."""
    require_tenant_is_current(tenant)
    return Agreement.objects.for_tenant(tenant).filter(status=AgreementStatus.ACTIVE).first()


def agreement_pending(*, tenant: Organisation) -> Agreement | None:
    """The draft (or signed, not yet countersigned) agreement, if any: at most one."""
    require_tenant_is_current(tenant)
    return (
        Agreement.objects.for_tenant(tenant)
        .select_related("document")
        .filter(status__in=[AgreementStatus.DRAFT, AgreementStatus.SIGNED])
        .first()
    )


def agreement_latest_ended(*, tenant: Organisation) -> Agreement | None:
    """The most recently ended (expired or terminated) agreement: what the gate explains."""
    require_tenant_is_current(tenant)
    return (
        Agreement.objects.for_tenant(tenant)
        .filter(status__in=[AgreementStatus.EXPIRED, AgreementStatus.TERMINATED])
        .order_by("-updated_at", "-pk")
        .first()
    )


def subprocessor_list(*, tenant: Organisation) -> QuerySet[SubProcessor]:
    require_tenant_is_current(tenant)
    return SubProcessor.objects.for_tenant(tenant).order_by("name", "pk")


def subprocessor_get(*, tenant: Organisation, subprocessor_id: uuid.UUID | str) -> SubProcessor:
    require_tenant_is_current(tenant)
    subprocessor = SubProcessor.objects.for_tenant(tenant).filter(pk=subprocessor_id).first()
    if subprocessor is None:
        raise Http404("No such sub-processor.")
    return subprocessor
