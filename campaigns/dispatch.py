"""The hand-over from campaigns to the send pipeline.

``campaign_dispatch`` enqueues the pipeline's kick-off task *by name*
(``delivery.campaign_dispatch``, args ``[tenant_id, campaign_id]``: ids only, never PHI), so
campaigns do not import the pipeline. Services call it with ``transaction.on_commit`` after a
launch, a resume and a scheduled start; the task must be idempotent (a campaign may be kicked
again while a previous kick is still working through it).
"""

from __future__ import annotations

from celery import current_app

DISPATCH_TASK = "delivery.campaign_dispatch"


def campaign_dispatch(*, tenant_id: int, campaign_id: str) -> None:
    current_app.send_task(DISPATCH_TASK, args=[tenant_id, str(campaign_id)])
