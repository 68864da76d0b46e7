from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.utils import timezone

from encryption.fields import BlindIndexField, EncryptedTextField
from segments.fields import TermsField
from tenants.managers import TenantModel


class AttributeType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    BOOLEAN = "boolean", "Yes / no"
    CHOICE = "choice", "Choice"


class AttributeDefinition(TenantModel):
    """One entry of an organisation's data dictionary: an attribute contacts may carry, its type
    and whether it is PHI. PHI attribute values are stored encrypted (``Contact.phi_attributes``),
    other values as JSON (``Contact.attributes``). Segment rules test both through the contact's
    search terms, keyed hashes of the values (``ContactIndex``)."""

    key = models.SlugField(max_length=64, help_text="Used in imports, segment rules and the API, e.g. next_visit.")
    label = models.CharField(max_length=100)
    type = models.CharField(max_length=16, choices=AttributeType.choices)
    choices = models.JSONField(default=list, blank=True)  # for CHOICE: the allowed values
    is_phi = models.BooleanField(default=False)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)  # also each batch of a deletion: its heartbeat
    # Deleting (segments.dictionary): from ``deleting_at`` on the attribute is hidden from every
    # reader of the dictionary while a Celery task removes its values batch by batch; the row
    # itself goes last. The progress is on the row: the last contact checked (keyset), how many
    # were checked of how many there were to check, how many lost a value.
    deleting_at = models.DateTimeField(null=True, blank=True)
    delete_cursor = models.UUIDField(null=True, blank=True)
    delete_total = models.PositiveIntegerField(null=True, blank=True)  # counted by the first batch
    delete_done = models.PositiveIntegerField(default=0)
    delete_removed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="segments_attribute_key_per_tenant")]

    def __str__(self) -> str:
        return self.key

    @property
    def is_deleting(self) -> bool:
        return self.deleting_at is not None

    @property
    def delete_percent(self) -> int:
        """How far the deletion is, 0-99 (the row is gone at 100); contacts added meanwhile can
        make ``delete_done`` pass ``delete_total``."""
        if not self.delete_total:
            return 0
        return min(99, self.delete_done * 100 // self.delete_total)


class Contact(TenantModel):
    """A recipient (usually a patient). Who is a patient of an organisation is itself PHI, so the
    identifying fields are encrypted in the application; email and external id also have blind
    indexes for exact-match lookups and de-duplication. Attributes, the data dictionary and
    imports come with the audience work."""

    # No index of its own: the unique (tenant, email_index) index serves tenant-only lookups, and
    # each index an import keeps up costs time on every row.
    tenant = models.ForeignKey("tenants.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False)
    email = EncryptedTextField()
    email_index = BlindIndexField(source="email")
    first_name = EncryptedTextField(blank=True, default="")
    last_name = EncryptedTextField(blank=True, default="")
    external_id = EncryptedTextField(blank=True, default="")
    external_id_index = BlindIndexField(source="external_id", blank=True)
    language = models.CharField(max_length=16, default="en")
    time_zone = models.CharField(max_length=64, default="UTC")
    # The contact asked not to be tracked: no open pixel, no tracked links.
    tracking_opt_out = models.BooleanField(default=False, db_default=False)
    # Tags as a JSON object {tag: true}; segment rules test them through ContactIndex.terms.
    tags = models.JSONField(default=dict, blank=True)
    # Non-PHI attribute values by key (numbers as numbers, dates as ISO strings, booleans).
    attributes = models.JSONField(default=dict, blank=True)
    # PHI attribute values by key, as encrypted JSON; null when the contact has none.
    phi_attributes = EncryptedTextField(null=True, blank=True, default=None)
    # The last time the contact was created, imported, updated or engaged: data retention
    # removes contacts inactive for longer than the organisation's policy allows.
    last_activity_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "email_index"], name="contact_unique_email_per_tenant")
        ]
        indexes = [models.Index(fields=["tenant", "external_id_index"], name="contact_tenant_external_id_idx")]

    def __str__(self) -> str:
        return f"Contact {self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Saves, then brings the contact's search index row in step (same transaction)."""
        from segments.search_index import contact_index_refresh

        with transaction.atomic():
            super().save(*args, **kwargs)
            contact_index_refresh([self])

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def masked_name(self) -> str:
        """Initials only, for lists shown without a step-up ("J. S.")."""
        initials = [part[0].upper() + "." for part in (self.first_name, self.last_name) if part]
        return " ".join(initials)

    @property
    def masked_email(self) -> str:
        """The first character and the domain ("j•••@example.com")."""
        local, _, domain = self.email.partition("@")
        return f"{local[:1]}•••@{domain}" if domain else "•••"

    @property
    def masked_external_id(self) -> str:
        """The last three characters: an EHR's patient id is PHI too."""
        return f"•••{self.external_id[-3:]}" if self.external_id else ""

    @property
    def readable(self) -> bool:
        """False when the key that encrypted this contact was destroyed (crypto-shredding)."""
        from encryption.providers import KeyUnavailable

        try:
            _ = self.email
        except KeyUnavailable:
            return False
        return True


class ContactIndex(TenantModel):
    """A contact's row of the segment search index: narrow, so that counting a segment of a
    million contacts reads little. ``terms`` holds 64-bit keyed hashes (under the tenant's index
    key) of every value segment rules test for equality: tags, language, time zone, and each
    attribute's presence, value and (for dates) month and month-day, PHI or not; ``attributes``
    copies the non-PHI attributes for ranges. Kept in step with the contact by
    ``segments.search_index`` in the same transaction, and deleted with it."""

    id = None  # type: ignore[assignment]
    contact = models.OneToOneField(Contact, primary_key=True, on_delete=models.CASCADE, related_name="search_index")
    terms = TermsField()
    attributes = models.JSONField(default=dict)

    class Meta:
        db_table = "segments_contact_index"

    def __str__(self) -> str:
        return f"Search index of {self.contact_id}"


class ContactSearch(TenantModel):
    """What segment rules are compiled against: ``segments_contact_index`` through the read-only
    view ``segments_contact_search`` (migration 0004), with the contact's id as ``id``.

    Why a view: under row-level security PostgreSQL evaluates a query's own conditions only
    after the policy's unless their operators are leakproof, and the array operators (``@>``,
    ``&&``) are not; through the table itself no segment condition could use the GIN index. The
    view runs with its owner's rights, for whom a SELECT-only policy admits every row, and
    carries the tenant wall itself: ``WHERE tenant_id = sealpost_current_tenant()``, the function
    the policies use. It is not a security barrier, so the planner may use the index; a leaky
    function could then see other tenants' rows, but only built-in operators run there and the
    application role can create no function (tests/test_rls.py; docs/segments.md).
    """

    terms = TermsField()
    attributes = models.JSONField()

    class Meta:
        managed = False
        db_table = "segments_contact_search"

    def __str__(self) -> str:
        return f"Contact {self.pk}"

    def save(self, *args: object, **kwargs: object) -> None:
        raise TypeError("ContactSearch is a read-only view; write Contact.")


class Segment(TenantModel):
    """A saved rule tree (see segments.rules) selecting contacts."""

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    rules = models.JSONField()
    created_by = models.ForeignKey("authn.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded"
    VALIDATING = "validating", "Checking rows"
    INVALID = "invalid", "Has errors: nothing imported"
    IMPORTING = "importing", "Importing"
    DONE = "done", "Imported"
    FAILED = "failed", "Failed: nothing imported"
    CANCELLED = "cancelled", "Cancelled: nothing imported"


class ContactImport(TenantModel):
    """One CSV import: validated in full, then applied all or nothing. The uploaded file holds
    PHI, so it is kept encrypted and deleted when the import ends."""

    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.UPLOADED)
    created_by = models.ForeignKey("authn.User", on_delete=models.PROTECT, related_name="+")
    mapping = models.JSONField(default=dict, blank=True)  # CSV column -> contact field or attribute key
    match_on = models.CharField(max_length=16, default="external_id")  # "external_id" or "email"
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    # [{"row": n, "column": "...", "message": "..."}], capped; messages never quote the values.
    errors = models.JSONField(default=list, blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Import {self.pk} ({self.status})"


class RetentionPolicy(TenantModel):
    """Contacts inactive for longer than ``inactive_days`` are removed (null: keep them)."""

    inactive_days = models.PositiveIntegerField(null=True, blank=True)
    updated_by = models.ForeignKey("authn.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="segments_retention_one_per_tenant")]

    def __str__(self) -> str:
        return f"Retention policy of {self.tenant_id}"
