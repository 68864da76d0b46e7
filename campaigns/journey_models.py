"""Journeys: a trigger event type plus steps (wait, send, condition) that each contact who
triggers it walks through (``campaigns.journeys``).

- ``Journey``: what starts it (a trigger type), what stops a contact's walk (cancelling event
  types, matched to the starting event by its correlation value: a cancelled appointment stops
  that appointment's reminders), the consent purpose its messages go under, the sender and the
  department (for the calendar).
- ``JourneyVersion``: the steps, versioned and approved like templates. A draft is edited; a
  submitted version is approved by a compliance officer (never its own author), which pins each
  send step's approved template version; the journey runs its *active* version. A new version
  takes new contacts; contacts already on their way finish on the version they started on.
- ``JourneyEnrollment``: one contact's walk, started by one event: where it is (``step``), when
  its next step is due, how it ended. Its next step is due work (``campaigns.scheduling``, kind
  ``journey.step``, subject the enrollment's id).
- ``JourneySendStep``: each send step of an approved version owns a ``Campaign`` of kind
  journey, so its messages go through the send pipeline and its figures come from the same
  rollups as any campaign's.

Nothing here holds PHI: the payload stays on the trigger event (encrypted).
"""

from __future__ import annotations

from django.db import models

from tenants.managers import TenantModel


class JourneyStatus(models.TextChoices):
    DRAFT = "draft", "Draft (never activated)"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"


class JourneyVersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"


class EnrollmentStatus(models.TextChoices):
    ACTIVE = "active", "On its way"
    COMPLETED = "completed", "Completed"
    EXITED = "exited", "Exited"


class Journey(TenantModel):
    tenant = models.ForeignKey("tenants.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False)
    name = models.CharField(max_length=200)
    trigger_type = models.CharField(max_length=64)
    # Trigger types whose event, for the same contact and correlation value, ends the walk.
    exit_types = models.JSONField(default=list, blank=True)
    purpose = models.CharField(max_length=64)
    department = models.CharField(max_length=100, blank=True)
    from_name = models.CharField(max_length=100)
    from_address = models.EmailField(max_length=254)
    status = models.CharField(max_length=16, choices=JourneyStatus.choices, default=JourneyStatus.DRAFT)
    active_version = models.ForeignKey(
        "campaigns.JourneyVersion", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    created_by = models.ForeignKey("authn.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "trigger_type", "status"], name="journey_trigger_idx")]

    def __str__(self) -> str:
        return self.name


class JourneyVersion(TenantModel):
    tenant = models.ForeignKey("tenants.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False)
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    # The steps (``campaigns.journeys.clean_steps`` describes and checks them); approval adds each
    # send step's pinned template version.
    steps = models.JSONField(default=list)
    status = models.CharField(max_length=20, choices=JourneyVersionStatus.choices, default=JourneyVersionStatus.DRAFT)
    created_by = models.ForeignKey("authn.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_by = models.ForeignKey("authn.User", on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey("authn.User", on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["journey", "number"], name="journey_version_unique_number")]

    def __str__(self) -> str:
        return f"{self.journey_id} v{self.number}"


class JourneySendStep(TenantModel):
    tenant = models.ForeignKey("tenants.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False)
    version = models.ForeignKey(JourneyVersion, on_delete=models.CASCADE, related_name="send_steps")
    step = models.PositiveSmallIntegerField()
    campaign = models.OneToOneField("campaigns.Campaign", on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "step"], name="journey_send_step_unique")]


class JourneyEnrollment(TenantModel):
    tenant = models.ForeignKey("tenants.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False)
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="+", db_index=False)
    version = models.ForeignKey(JourneyVersion, on_delete=models.PROTECT, related_name="+")
    contact = models.ForeignKey("segments.Contact", on_delete=models.CASCADE, related_name="+", db_index=False)
    trigger_event = models.ForeignKey("campaigns.TriggerEvent", on_delete=models.CASCADE, related_name="+")
    # The starting event's correlation index: a cancelling event with the same one ends the walk.
    correlation_index = models.CharField(max_length=64, blank=True, default="")
    # The index of the next step to run (len(steps) once finished).
    step = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=16, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ACTIVE)
    # A code: completed, cancelled_by_event, condition_not_met, contact_removed...
    ended_reason = models.CharField(max_length=32, blank=True, default="")
    next_due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One walk per journey per starting event: a replayed event enrolls nobody twice.
            models.UniqueConstraint(fields=["journey", "trigger_event"], name="journey_enrollment_once_per_event")
        ]
        indexes = [
            models.Index(fields=["tenant", "journey", "status", "step"], name="journey_enrollment_step_idx"),
            models.Index(
                fields=["tenant", "contact", "correlation_index"],
                condition=models.Q(status="active"),
                name="journey_enrollment_exit_idx",
            ),
        ]
