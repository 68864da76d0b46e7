"""Celery entry points of consent: the double opt-in confirmation email. Tasks take ids only;
the message is built inside the tenant context and sent after it closes, so no database
transaction waits on the mail server."""

from __future__ import annotations

import smtplib

from celery import shared_task

from tenants.context import tenant_context
from tenants.tasks import organisation_for_task

# A mail server that is down or refuses for a while: try again later (the link lasts 48 hours).
MAIL_ERRORS = (OSError, smtplib.SMTPException)
MAIL_RETRY_BACKOFF = 30
MAIL_RETRY_BACKOFF_MAX = 1800
MAIL_MAX_RETRIES = 8


@shared_task(
    name="consent.optin_confirmation_email",
    acks_late=True,
    autoretry_for=MAIL_ERRORS,
    retry_backoff=MAIL_RETRY_BACKOFF,
    retry_backoff_max=MAIL_RETRY_BACKOFF_MAX,
    max_retries=MAIL_MAX_RETRIES,
)
def optin_confirmation_email_task(tenant_id: int, request_id: str) -> bool:
    """Email the confirmation link of one opt-in request; False if it no longer needs one."""
    from consent.optin import optin_confirmation_email

    tenant = organisation_for_task(tenant_id)
    with tenant_context(tenant):
        message = optin_confirmation_email(tenant=tenant, request_id=request_id)
    if message is None:
        return False
    message.send()
    return True


@shared_task(name="consent.authorisation_expiry_reminders")
def authorisation_expiry_reminders_task() -> int:
    """Daily: queue reminders of authorisations expiring in 30 and 7 days (counts only)."""
    from consent.notifications import authorisation_expiry_reminders_queue

    return authorisation_expiry_reminders_queue()


@shared_task(
    name="consent.authorisation_expiry_email",
    acks_late=True,
    autoretry_for=MAIL_ERRORS,
    retry_backoff=MAIL_RETRY_BACKOFF,
    retry_backoff_max=MAIL_RETRY_BACKOFF_MAX,
    max_retries=MAIL_MAX_RETRIES,
)
def authorisation_expiry_email_task(tenant_id: int, recipient_id: int, day: str) -> bool:
    """Email one compliance officer the counts of authorisations expiring soon."""
    from datetime import date

    from consent.notifications import authorisation_expiry_email

    tenant = organisation_for_task(tenant_id)
    with tenant_context(tenant):
        message = authorisation_expiry_email(tenant=tenant, recipient_id=recipient_id, today=date.fromisoformat(day))
    if message is None:
        return False
    message.send()
    return True
