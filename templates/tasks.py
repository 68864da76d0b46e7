"""Celery entry points of templates: test sends. Tasks take ids, never model instances or
addresses; the message is built inside the tenant context and sent after it closes, so no
database transaction waits on the mail server."""

from __future__ import annotations

import smtplib

from celery import shared_task

from tenants.context import tenant_context
from tenants.tasks import organisation_for_task

MAIL_ERRORS = (OSError, smtplib.SMTPException)
MAIL_RETRY_BACKOFF = 30
MAIL_RETRY_BACKOFF_MAX = 600
MAIL_MAX_RETRIES = 5


@shared_task(
    name="templates.send_test_message",
    acks_late=True,
    autoretry_for=MAIL_ERRORS,
    retry_backoff=MAIL_RETRY_BACKOFF,
    retry_backoff_max=MAIL_RETRY_BACKOFF_MAX,
    max_retries=MAIL_MAX_RETRIES,
)
def send_test_message_task(tenant_id: int, version_id: str, user_id: int, language: str, address_id: str = "") -> bool:
    """Send one test message through Django's email backend (until the delivery pipeline of
    issue 10 exists; then through it, marked as a test)."""
    from templates.test_sends import build_test_message

    tenant = organisation_for_task(tenant_id)
    with tenant_context(tenant):
        message = build_test_message(
            tenant=tenant, version_id=version_id, user_id=user_id, language=language, address_id=address_id
        )
    if message is None:
        return False
    message.send()
    return True
