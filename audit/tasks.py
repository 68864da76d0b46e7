"""Periodic audit work: signed checkpoints, and verification that alerts admins."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

from audit.services import record, system_actor
from audit.verify import ChainReport, verify_all, write_checkpoint
from tenants.context import tenant_context
from tenants.models import Membership, Organisation
from tenants.roles import Role

logger = logging.getLogger(__name__)


def write_all_checkpoints() -> int:
    written = 1 if write_checkpoint(None) else 0
    for organisation in Organisation.objects.order_by("pk"):
        with tenant_context(organisation):
            if write_checkpoint(organisation):
                written += 1
    return written


@shared_task(name="audit.write_checkpoints")
def write_checkpoints_task() -> int:
    return write_all_checkpoints()


def _alert_admins(report: ChainReport) -> None:
    """Tell the organisation's admins (by email, without PHI) and record the failure."""
    organisation = Organisation.objects.filter(pk=report.chain_id).first()
    if organisation is None:
        logger.error("Global audit chain failed verification", extra={"first_broken_seq": report.first_broken_seq})
        return
    with tenant_context(organisation):
        record(
            tenant=organisation,
            action="audit.verification_failed",
            actor=system_actor("audit.verify"),
            details={"first_broken_seq": report.first_broken_seq},
        )
        admins = list(
            Membership.objects.for_tenant(organisation)
            .filter(role=Role.ADMIN, is_active=True, user__is_active=True)
            .values_list("user__email", flat=True)
        )
    if admins:
        send_mail(
            subject=f"Sealpost: audit log verification failed for {organisation.name}",
            message=(
                f"Verification of the audit log of {organisation.name} found it broken at event "
                f"#{report.first_broken_seq}: {report.problem}.\n\nSee the Audit log page in Sealpost, "
                "and treat this as a security incident until explained."
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=admins,
        )


@shared_task(name="audit.verify_chains")
def verify_chains_task() -> int:
    """Returns the number of broken chains; each one is alerted."""
    broken = [report for report in verify_all(checkpoint_log=settings.AUDIT_CHECKPOINT_LOG) if not report.ok]
    for report in broken:
        logger.error(
            "Audit chain failed verification",
            extra={"chain_id": report.chain_id, "first_broken_seq": report.first_broken_seq},
        )
        _alert_admins(report)
    return len(broken)
