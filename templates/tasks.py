"""Celery entry points of templates: test sends. Tasks take ids, never model instances or
addresses. The message is built inside the tenant context, then handed to the delivery
pipeline's single-message path (``delivery.single_send``), which enters the tenant only to
decide, so no database transaction waits on a mail server; the outcome is recorded after."""

from __future__ import annotations

import uuid

from celery import shared_task
from django.utils import timezone

from tenants.context import tenant_context
from tenants.tasks import organisation_for_task

# 4xx replies and connection problems: tried again with the pipeline's backoff, this many times.
TEST_SEND_MAX_ATTEMPTS = 6


@shared_task(name="templates.send_test_message", bind=True, acks_late=True, max_retries=TEST_SEND_MAX_ATTEMPTS - 1)
def send_test_message_task(self, tenant_id: int, test_send_id: str) -> str:  # type: ignore[no-untyped-def]
    """Send one test message through the delivery pipeline and record what became of it."""
    from delivery.single_send import RETRY, send_single
    from templates.test_sends import build_test_message, queued_test_send, record_test_outcome

    tenant = organisation_for_task(tenant_id)
    with tenant_context(tenant):
        sent = queued_test_send(tenant=tenant, test_send_id=uuid.UUID(test_send_id))
        if sent is None:
            return "gone"
        message = build_test_message(tenant=tenant, sent=sent)
    attempt = self.request.retries + 1
    outcome = None if message is None else send_single(tenant=tenant, message=message, attempt=attempt)
    last = attempt >= TEST_SEND_MAX_ATTEMPTS
    with tenant_context(tenant):
        status = record_test_outcome(
            tenant=tenant,
            test_send_id=sent.pk,
            outcome=outcome,
            attempt=attempt,
            last_attempt=last,
            now=timezone.now(),
        )
    if outcome is not None and outcome.status == RETRY and not last:
        raise self.retry(countdown=outcome.retry_in)
    return status
