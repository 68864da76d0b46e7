"""Due work: the database-backed scheduler that journeys and delayed sends run on.

A ``DueWork`` row says "run the handler named ``kind`` for ``subject_id`` at ``due_at``". The
beat task ``campaigns.due_work_tick`` finds due rows through a partial index (pending rows only,
by due time, so future work is never scanned), claims them exactly once with one
``UPDATE … FOR UPDATE SKIP LOCKED … RETURNING`` and hands their ids to a worker, which runs each
handler and marks its row done in the handler's own transaction (``campaigns.scheduling``).

- ``subject_id`` names what the work is about (a journey enrollment's id, a message id): an id,
  never PHI; the handler loads the subject itself.
- At most one *pending* row per (tenant, kind, subject): scheduling again moves that row's due
  time instead of adding a second wake-up, so callers may schedule idempotently. Claimed, done,
  cancelled and failed rows do not count, so a handler may schedule its subject's next step.
- A claim is a lease: ``claim_token`` and ``claimed_at``. A claim older than
  ``scheduling.LEASE`` whose row is still ``claimed`` belonged to a worker that died before
  committing (nothing of its run survived) and is claimable again.

The row holds no PHI (ids, codes, times). A bigint key: the table is hot and large (a million
pending steps is the design point), and a sequence is the cheapest key to generate and index.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from tenants.managers import TenantModel


class DueWorkStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    CLAIMED = "claimed", "Claimed by a worker"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"
    # The handler kept failing (or its worker kept dying): given up after MAX_ATTEMPTS claims.
    FAILED = "failed", "Failed"


class DueWork(TenantModel):
    id = models.BigAutoField(primary_key=True)  # type: ignore[assignment]
    # The indexes below all start with the tenant; no index of its own.
    tenant = models.ForeignKey("tenants.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False)
    kind = models.CharField(max_length=64)  # the handler's registered name
    subject_id = models.CharField(max_length=64)  # an id (uuid, bigint as text), never PHI
    due_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=DueWorkStatus.choices, default=DueWorkStatus.PENDING)
    # The lease: one token per claim (shared by the rows claimed together), and when.
    claim_token = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)  # claims so far
    done_at = models.DateTimeField(null=True, blank=True)  # done, cancelled or failed
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "kind", "subject_id"],
                condition=models.Q(status="pending"),
                name="campaigns_duework_one_pending",
            ),
        ]
        indexes = [
            # The tick's scan: a tenant's pending rows by due time (future rows are past the
            # range's end; done rows are not in the index at all).
            models.Index(
                fields=["tenant", "due_at"], condition=models.Q(status="pending"), name="campaigns_duework_due"
            ),
            # Expired leases: claimed rows by claim time (few at any moment).
            models.Index(
                fields=["tenant", "claimed_at"], condition=models.Q(status="claimed"), name="campaigns_duework_lease"
            ),
        ]

    def __str__(self) -> str:
        return f"Due work {self.pk} ({self.kind}, {self.status})"
