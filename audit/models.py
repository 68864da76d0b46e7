"""The audit log: append-only, hash-chained, one chain per tenant (and one global chain, id 0,
for events that belong to no tenant, such as a failed sign-in for an unknown address).

Each event's ``hash`` is SHA-256 over the previous event's hash and a canonical encoding of the
event (``audit.chain.canonical_bytes``). The database refuses UPDATE, DELETE and TRUNCATE on the
events table (triggers), and the application role holds only SELECT and INSERT on it. Signed
checkpoints, with a key kept outside the database, pin the head of each chain so truncation of
the tail is detected too.
"""

from __future__ import annotations

from django.db import models

GLOBAL_CHAIN = 0


class ActorType(models.TextChoices):
    USER = "user", "User"
    API_TOKEN = "api_token", "API token"
    SYSTEM = "system", "System"
    RECIPIENT = "recipient", "Recipient"
    ANONYMOUS = "anonymous", "Anonymous"


class AuditEvent(models.Model):
    # Tenant-owned with row-level security (audit/db.py), but not a TenantModel: the global
    # chain's events belong to no tenant.
    row_level_security = True

    id = models.BigAutoField(primary_key=True)
    chain_id = models.BigIntegerField()  # the tenant's id, or 0 for the global chain
    # The organisation's id, not a foreign key: the log outlives whatever it records (nothing can
    # cascade into it), and a per-row reference check would cost a fifth of the append rate.
    # Row-level security reads this column. No index of its own: chain_id leads every index.
    tenant_id = models.BigIntegerField(null=True, blank=True)
    seq = models.BigIntegerField()
    occurred_at = models.DateTimeField()
    action = models.CharField(max_length=80)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=254, blank=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    # Canonical JSON text exactly as hashed: ids and field names, never PHI values.
    details = models.TextField(default="{}")
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chain_id", "seq"], name="audit_event_unique_seq_per_chain")]
        # Few indexes: every one costs the append rate. Filters by action or actor walk the
        # chain newest first through (chain_id, seq); date ranges use (chain_id, occurred_at).
        indexes = [models.Index(fields=["chain_id", "occurred_at"], name="audit_event_chain_time_idx")]
        ordering = ["chain_id", "seq"]

    def __str__(self) -> str:
        return f"{self.chain_id}#{self.seq} {self.action}"


class AuditChainHead(models.Model):
    """The last sequence number and hash of one chain. Writers lock this row, which serialises
    appends per tenant while different tenants append in parallel."""

    row_level_security = True

    chain_id = models.BigIntegerField(primary_key=True)
    tenant = models.ForeignKey(
        "tenants.Organisation", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"chain {self.chain_id} at {self.last_seq}"


class AuditCheckpoint(models.Model):
    """A signed statement "chain C had N events ending in hash H at time T" (Ed25519). The private
    key lives outside the database, so whoever can rewrite the table cannot forge a checkpoint,
    and auditors verify with the public key alone."""

    row_level_security = True

    id = models.BigAutoField(primary_key=True)
    chain_id = models.BigIntegerField()
    # No index of its own: chain_id (the same value, 0 for NULL) leads every index.
    tenant = models.ForeignKey(
        "tenants.Organisation", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    seq = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    key_id = models.CharField(max_length=32)
    signature = models.CharField(max_length=128)

    class Meta:
        indexes = [models.Index(fields=["chain_id", "-seq"], name="audit_checkpoint_chain_idx")]

    def __str__(self) -> str:
        return f"checkpoint {self.chain_id}@{self.seq}"
