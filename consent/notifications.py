"""Reminders to compliance officers that HIPAA marketing authorisations are about to expire, so
patients can be asked to renew before marketing to them has to stop.

A daily task looks, in each organisation, for authorisations whose expiry date is exactly
``REMINDER_DAYS`` ahead (so each authorisation is mentioned at most once per threshold) and
queues one email per compliance officer with the counts and a link to the consent report: no
names, no addresses, nothing about any patient.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import partial

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from authn.models import User
from authn.notifications import _active_members, _is_active_member
from consent.models import MarketingAuthorisation
from tenants.context import tenant_context
from tenants.models import Organisation
from tenants.roles import Role

REMINDER_DAYS = (30, 7)


def expiring_counts(*, tenant: Organisation, today: date) -> dict[int, int]:
    """How many valid authorisations expire exactly N days from ``today``, for each N in
    ``REMINDER_DAYS`` (only the non-zero ones)."""
    days_by_date = {today + timedelta(days=days): days for days in REMINDER_DAYS}
    rows = (
        MarketingAuthorisation.objects.for_tenant(tenant)
        .filter(revoked_at__isnull=True, expires_on__in=list(days_by_date))
        .values("expires_on")
        .annotate(count=Count("id"))
    )
    return {days_by_date[row["expires_on"]]: row["count"] for row in rows}


def authorisation_expiry_reminders_queue(*, today: date | None = None) -> int:
    """Queue today's reminders in every active organisation; returns how many emails."""
    from consent.tasks import authorisation_expiry_email_task

    today = today or timezone.localdate()
    queued = 0
    for organisation in Organisation.objects.filter(is_active=True).order_by("pk"):
        with transaction.atomic(), tenant_context(organisation):
            if not expiring_counts(tenant=organisation, today=today):
                continue
            for officer_id in _active_members(organisation, Role.COMPLIANCE_OFFICER):
                transaction.on_commit(
                    partial(authorisation_expiry_email_task.delay, organisation.pk, officer_id, today.isoformat())
                )
                queued += 1
    return queued


def authorisation_expiry_email(*, tenant: Organisation, recipient_id: int, today: date) -> EmailMessage | None:
    """The reminder for one compliance officer, or None if there is nothing to say or they are
    no longer one. Runs inside ``tenant_context(tenant)``."""
    counts = expiring_counts(tenant=tenant, today=today)
    recipient = User.objects.filter(pk=recipient_id, is_active=True).first()
    if not counts or recipient is None or not _is_active_member(tenant, recipient_id, Role.COMPLIANCE_OFFICER):
        return None
    lines = [
        f"  {counts[days]} expire in {days} days ({(today + timedelta(days=days)).isoformat()})"
        for days in sorted(counts, reverse=True)
    ]
    link = f"{(settings.SITE_URL or '').rstrip('/')}{reverse('consent:report')}"
    body = (
        f"HIPAA marketing authorisations in {tenant.name} are about to expire:\n\n"
        + "\n".join(lines)
        + "\n\nOnce an authorisation expires, marketing to that patient stops until they sign a new one.\n"
        "The consent report lists the authorisations that expire soon:\n"
        f"{link}\n\n"
        "You receive this because you are a compliance officer of this organisation.\n"
    )
    return EmailMessage(
        subject=f"Sealpost: marketing authorisations expiring in {tenant.name}",
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient.email],
    )
