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


@shared_task(name="delivery.recipient_domain_check", acks_late=True)
def recipient_domain_check_task(tenant_id: int, row_id: str) -> str:
    """A member's "check now" on the Recipient domains page: probe, audit, clear the request."""
    from delivery.posture import recipient_domain_check_run
    from tenants.tasks import organisation_for_task

    posture = recipient_domain_check_run(tenant=organisation_for_task(tenant_id), row_id=row_id)
    return posture.tls if posture is not None else "nothing to do"


# --- The send pipeline (delivery.pipeline) ------------------------------------------------------
#
# Thin tasks: ids only (never PHI), late acks and reject-on-worker-lost, so a batch whose worker
# died is delivered to another worker; the claim's lease and the recorded hand-off make that
# retry skip whatever was already handed to an MX (docs/delivery-pipeline.md).


def _fanout() -> int:
    from django.conf import settings

    return int(getattr(settings, "DELIVERY_DISPATCH_FANOUT", 4))


@shared_task(name="delivery.campaign_dispatch", acks_late=True, reject_on_worker_lost=True)
def campaign_dispatch_task(tenant_id: int, campaign_id: str) -> int:
    """Sent by campaigns on launch, resume and a scheduled start (and by ``dispatch_due``):
    start ``DELIVERY_DISPATCH_FANOUT`` batch chains (about two per worker process). Idempotent:
    an extra chain finds nothing to claim and stops. Returns how many were started."""
    from campaigns.models import CampaignStatus
    from delivery.pipeline import _load

    loaded = _load(tenant_id, campaign_id)
    if loaded is None or loaded[1].status != CampaignStatus.SENDING:
        return 0
    chains = _fanout()
    for _ in range(chains):
        send_batch_task.delay(tenant_id, str(campaign_id))
    return chains


@shared_task(name="delivery.send_batch", bind=True, acks_late=True, reject_on_worker_lost=True)
def send_batch_task(self, tenant_id: int, campaign_id: str) -> int:  # type: ignore[no-untyped-def]
    """One batch (``delivery.pipeline.send_batch``); a full batch queues the next one of its
    chain, an empty claim completes the campaign when nothing is left. Returns the batch size."""
    from delivery.pipeline import send_batch, worker_owner

    result = send_batch(tenant_id=tenant_id, campaign_id=campaign_id, owner=worker_owner(self.request.id))
    if not result.found:
        return 0
    if result.full:
        send_batch_task.delay(tenant_id, str(campaign_id))
    elif result.claimed == 0:
        _complete_if_finished(tenant_id, campaign_id)
    return result.claimed


def _complete_if_finished(tenant_id: int, campaign_id: str) -> bool:
    from audit.services import system_actor
    from campaigns.services import campaign_complete_if_finished
    from delivery.pipeline import _load
    from tenants.context import tenant_context

    loaded = _load(tenant_id, campaign_id)
    if loaded is None:
        return False
    tenant, campaign = loaded
    with tenant_context(tenant):
        return campaign_complete_if_finished(tenant=tenant, campaign=campaign, actor=system_actor("delivery.pipeline"))


@shared_task(name="delivery.dispatch_due")
def dispatch_due_task() -> int:
    """Every minute (settings.CELERY_BEAT_SCHEDULE): campaigns that are sending and have due
    work nobody is working on (deferred messages whose retry time came, local-time recipients
    whose hour came, batches of a worker that died) get a chain again; campaigns with nothing
    left are completed. Returns how many were dispatched."""
    from campaigns.models import Campaign, CampaignStatus
    from delivery.pipeline import campaign_being_worked, campaign_has_due_work
    from tenants.context import tenant_context
    from tenants.models import Organisation

    dispatched = 0
    for organisation in Organisation.objects.filter(is_active=True).order_by("pk"):
        with tenant_context(organisation):
            campaigns = list(
                Campaign.objects.for_tenant(organisation).filter(status=CampaignStatus.SENDING).order_by("pk")
            )
            due = [
                c
                for c in campaigns
                if campaign_has_due_work(tenant=organisation, campaign=c)
                and not campaign_being_worked(tenant=organisation, campaign=c)
            ]
        for campaign in campaigns:
            if campaign in due:
                send_batch_task.delay(organisation.pk, str(campaign.pk))
                dispatched += 1
            else:
                _complete_if_finished(organisation.pk, str(campaign.pk))
    return dispatched


# Inbound reports (DSN, ARF): their task lives beside their services; imported here so the
# worker, which autodiscovers ``delivery.tasks``, registers it.
from delivery.inbound_tasks import inbound_report_process_task  # noqa: E402, F401
