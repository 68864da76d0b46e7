"""Email templates: a template (name, purpose) has numbered versions; a version has one content
per language and moves draft → in review → approved or changes requested. A version is
immutable once submitted; editing an approved or reviewed version starts a new draft. The
fields a version uses, and which of them are PHI, are stored with it when it is saved."""

from __future__ import annotations

from typing import Any

from django.db import models

from tenants.managers import TenantModel


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"


class EmailTemplate(TenantModel):
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    purpose = models.CharField(max_length=64, help_text="The consent purpose messages from this template are sent for.")
    created_by = models.ForeignKey("authn.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    is_archived = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="templates_name_per_tenant")]

    def __str__(self) -> str:
        return self.name


class TemplateVersion(TenantModel):
    template = models.ForeignKey(EmailTemplate, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=24, choices=VersionStatus.choices, default=VersionStatus.DRAFT)
    default_language = models.CharField(max_length=16, default="en")
    # What static analysis found when the version was last saved (sorted field names).
    fields_used = models.JSONField(default=list)
    phi_fields = models.JSONField(default=list)
    created_by = models.ForeignKey("authn.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    submitted_by = models.ForeignKey("authn.User", on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey("authn.User", on_delete=models.PROTECT, related_name="+", null=True, blank=True)

    class Meta:
        ordering = ["template", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="templates_version_number"),
            # At most one draft per template: editing always continues it.
            models.UniqueConstraint(
                fields=["template"], condition=models.Q(status="draft"), name="templates_one_draft"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template_id} v{self.number}"

    @property
    def is_editable(self) -> bool:
        return self.status == VersionStatus.DRAFT


class TemplateContent(TenantModel):
    """One language of a version."""

    version = models.ForeignKey(TemplateVersion, on_delete=models.CASCADE, related_name="contents")
    language = models.CharField(max_length=16)
    subject = models.CharField(max_length=300)
    preheader = models.CharField(max_length=300, blank=True)
    html_body = models.TextField()
    text_body = models.TextField(blank=True)
    # True when ``text_body`` was generated from the HTML (the author wrote none).
    text_generated = models.BooleanField(default=True)

    class Meta:
        ordering = ["language"]
        constraints = [models.UniqueConstraint(fields=["version", "language"], name="templates_language_per_version")]

    def __str__(self) -> str:
        return f"{self.version_id} [{self.language}]"

    def parts(self) -> list[tuple[str, str]]:
        return [
            ("subject", self.subject),
            ("preheader", self.preheader),
            ("html_body", self.html_body),
            ("text_body", self.text_body),
        ]


class ReviewKind(models.TextChoices):
    SUBMITTED = "submitted", "Submitted for review"
    COMMENT = "comment", "Comment"
    APPROVED = "approved", "Approved"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"


class TemplateReview(TenantModel):
    """A step of the review conversation on a version."""

    version = models.ForeignKey(TemplateVersion, on_delete=models.CASCADE, related_name="reviews")
    kind = models.CharField(max_length=24, choices=ReviewKind.choices)
    author = models.ForeignKey("authn.User", on_delete=models.PROTECT, related_name="+")
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} on {self.version_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk and not self._state.adding:
            raise TypeError("Review steps are never changed.")
        super().save(*args, **kwargs)


class AllowedTestAddress(TenantModel):
    """An address besides members' own that test messages may go to (a shared QA inbox, a
    seed address in another mail client). Admins keep the list; tests carry sample data only."""

    email = models.EmailField(max_length=254)
    label = models.CharField(max_length=100, blank=True)
    added_by = models.ForeignKey("authn.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["email"]
        constraints = [models.UniqueConstraint(fields=["tenant", "email"], name="templates_test_address_per_tenant")]

    def __str__(self) -> str:
        return self.email


class TestSendStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RETRYING = "retrying", "Retrying"
    SENT = "sent", "Delivered"
    HELD = "held", "Not delivered: held by policy"
    FAILED = "failed", "Not delivered"


class TestSendRecipient(models.TextChoices):
    SELF = "self", "Your own address"
    TEST_LIST = "test_list", "An address on the test list"


class TestSend(TenantModel):
    """One test message of a version and what became of it in the delivery pipeline
    (``templates.test_sends``). It carries synthetic sample data only; ``codes`` are the
    pipeline's reason codes and ``detail`` its PHI-free reply summary, never server text."""

    __test__ = False  # pytest must not collect the model as a test class

    version = models.ForeignKey(TemplateVersion, on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey("authn.User", on_delete=models.SET_NULL, null=True, related_name="+")
    recipient = models.CharField(max_length=10, choices=TestSendRecipient.choices)
    address = models.ForeignKey(AllowedTestAddress, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    language = models.CharField(max_length=16)
    from_name = models.CharField(max_length=100)
    from_address = models.EmailField(max_length=254)
    status = models.CharField(max_length=10, choices=TestSendStatus.choices, default=TestSendStatus.QUEUED)
    codes = models.JSONField(default=list, blank=True)
    protection = models.CharField(max_length=16, blank=True)  # the protection action decided
    tls_version = models.CharField(max_length=16, blank=True)
    smtp_code = models.PositiveSmallIntegerField(null=True, blank=True)
    detail = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "version", "-created_at"], name="templates_testsend_recent")]

    def __str__(self) -> str:
        return f"test send {self.pk} ({self.status})"
