"""Celery entry points of the delivery app."""

from __future__ import annotations

from celery import shared_task

from delivery.posture import REFRESH_BATCH_SIZE, domain_posture, refresh_due_postures


@shared_task(name="delivery.refresh_domain_postures")
def refresh_domain_postures_task() -> int:
    """Hourly (settings.CELERY_BEAT_SCHEDULE): re-probe cached recipient-domain postures that
    expire within the hour, a batch at a time; a full batch queues the next. Postures are global
    (public facts), so no tenant context is needed."""
    refreshed = refresh_due_postures(limit=REFRESH_BATCH_SIZE)
    if refreshed >= REFRESH_BATCH_SIZE:
        refresh_domain_postures_task.delay()
    return refreshed


@shared_task(name="delivery.probe_domain_posture")
def probe_domain_posture_task(domain: str) -> str:
    """Probe one domain now and store it (queued by ``posture_or_schedule`` for a domain the
    pipeline has no fresh posture for). Returns the ``tls`` state."""
    return domain_posture(domain, refresh=True).tls
