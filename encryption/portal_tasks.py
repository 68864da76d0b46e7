"""Celery entry points of the recipient portal (ids only, never an address or a code): mailing a
one-time code through the delivery pipeline's single-message path, and telling the organisation
that a secure reply came. Imported by ``encryption.tasks`` so workers register them."""

from __future__ import annotations

from celery import shared_task

from tenants.context import tenant_context
from tenants.tasks import organisation_for_task

# 4xx replies and connection problems: tried again with the pipeline's backoff, this many times
# (a code lives 10 minutes, so later attempts would mail a code that no longer works).
CODE_SEND_MAX_ATTEMPTS = 4


@shared_task(name="encryption.portal_send_code", bind=True, acks_late=True, max_retries=CODE_SEND_MAX_ATTEMPTS - 1)
def send_portal_code_task(self, tenant_id: int, escrow_id: str, code_id: str) -> str:  # type: ignore[no-untyped-def]
    """Make the code for one slot and mail it; the message is built inside the tenant, the
    SMTP session runs outside it (``send_single`` enters the tenant itself to decide)."""
    from delivery.single_send import RETRY, SENT, send_single
    from encryption.portal import code_issue, code_message, code_sent

    tenant = organisation_for_task(tenant_id)
    with tenant_context(tenant):
        issued = code_issue(tenant=tenant, escrow_id=escrow_id, code_id=code_id)
        if issued is None:
            return "gone"
        escrow, code = issued
        message = code_message(tenant=tenant, escrow=escrow, code=code, code_id=code_id)
    attempt = self.request.retries + 1
    outcome = send_single(tenant=tenant, message=message, attempt=attempt)
    if outcome.status == SENT:
        with tenant_context(tenant):
            code_sent(tenant=tenant, escrow_id=escrow_id, code_id=code_id)
    elif outcome.status == RETRY and attempt < CODE_SEND_MAX_ATTEMPTS:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="encryption.portal_reply_notice", acks_late=True)
def reply_notice_task(tenant_id: int, reply_id: str) -> int:
    """Email the organisation's admins and compliance officers that a reply is waiting."""
    from encryption.portal import reply_notice

    tenant = organisation_for_task(tenant_id)
    with tenant_context(tenant):
        messages = reply_notice(tenant=tenant, reply_id=reply_id)
    for message in messages:
        message.send()
    return len(messages)
