"""Celery entry points of authn: the emergency-access expiry sweep and the security emails.
Tasks take ids and codes, never model instances; messages are built inside the tenant context
and sent after it closes, so no database transaction waits on the mail server."""

from __future__ import annotations

import smtplib

from celery import shared_task

from tenants.context import tenant_context
from tenants.tasks import organisation_for_task

# A mail server that is down or refuses for a while: try again later rather than lose the alert.
MAIL_ERRORS = (OSError, smtplib.SMTPException)
MAIL_RETRY_BACKOFF = 30
MAIL_RETRY_BACKOFF_MAX = 1800
MAIL_MAX_RETRIES = 8


@shared_task(name="authn.break_glass_expire")
def break_glass_expire_task() -> int:
    """Scheduled every minute (settings.CELERY_BEAT_SCHEDULE)."""
    from authn.break_glass import break_glass_expire_due

    return break_glass_expire_due()


@shared_task(
    name="authn.break_glass_granted_email",
    acks_late=True,
    autoretry_for=MAIL_ERRORS,
    retry_backoff=MAIL_RETRY_BACKOFF,
    retry_backoff_max=MAIL_RETRY_BACKOFF_MAX,
    max_retries=MAIL_MAX_RETRIES,
)
def break_glass_granted_email_task(tenant_id: int, grant_id: str, recipient_id: int) -> bool:
    from authn.notifications import break_glass_granted_email

    tenant = organisation_for_task(tenant_id)
    with tenant_context(tenant):
        message = break_glass_granted_email(tenant=tenant, grant_id=grant_id, recipient_id=recipient_id)
    if message is None:
        return False
    message.send()
    return True


@shared_task(
    name="authn.suspicious_sign_in_email",
    acks_late=True,
    autoretry_for=MAIL_ERRORS,
    retry_backoff=MAIL_RETRY_BACKOFF,
    retry_backoff_max=MAIL_RETRY_BACKOFF_MAX,
    max_retries=MAIL_MAX_RETRIES,
)
def suspicious_sign_in_email_task(tenant_id: int, user_id: int, recipient_id: int, reasons: list[str], at: int) -> bool:
    from authn.notifications import suspicious_sign_in_email

    tenant = organisation_for_task(tenant_id)
    with tenant_context(tenant):
        message = suspicious_sign_in_email(
            tenant=tenant, user_id=user_id, recipient_id=recipient_id, reasons=reasons, at=at
        )
    if message is None:
        return False
    message.send()
    return True
