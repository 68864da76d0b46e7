"""Key rotation and crypto-shredding; changes to the protection policy.

Rotation: a new data-key version encrypts from now on; a Celery task re-encrypts existing rows
in batches (row locks, so concurrent writers lose nothing) with its progress recorded; when no
row uses an old version any more, its key material is erased. Shredding: every key of a tenant
is destroyed, which makes all of its encrypted data unreadable, while other tenants are untouched.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from audit.services import Actor, Target, actor_for_user, record, system_actor
from authn.models import User
from consent.purposes import purpose_keys
from encryption import keyring, protection
from encryption.fields import EncryptedTextField, StoredCiphertext, stored_key_version
from encryption.models import KeyPurpose, KeyRotation, KeyStatus, ProtectionPolicy, RotationStatus, TenantKey
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

ROTATION_BATCH_SIZE = 500


class RotationInProgress(ValidationError):
    pass


def encrypted_models() -> dict[type[models.Model], list[str]]:
    """Every installed model with encrypted fields, and those fields."""
    fields: dict[type[models.Model], list[str]] = defaultdict(list)
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedTextField):
                fields[model].append(field.name)
    return dict(fields)


def _label(model: type[models.Model]) -> str:
    return str(model._meta.label_lower)


def _tenant_rows(model: type[models.Model], tenant: Organisation) -> models.QuerySet[Any]:
    return model.objects.for_tenant(tenant)  # type: ignore[attr-defined, no-any-return]


@transaction.atomic
def data_key_rotate(*, tenant: Organisation, actor: User) -> KeyRotation:
    """Start a new data-key version and schedule re-encryption of existing rows."""
    require_tenant_is_current(tenant)
    if KeyRotation.objects.for_tenant(tenant).filter(status=RotationStatus.RUNNING).exists():
        raise RotationInProgress("A key rotation is already running for this organisation.")
    old, new = keyring.start_new_data_version(tenant)
    rotation = KeyRotation(
        tenant=tenant,
        from_version=old,
        to_version=new,
        rows_total=sum(_tenant_rows(model, tenant).count() for model in encrypted_models()),
        started_by=actor,
    )
    rotation.save()
    record(
        tenant=tenant,
        action="encryption.key_rotation_started",
        actor=actor_for_user(actor),
        target=Target.of(rotation),
        details={"from_version": old, "to_version": new, "rows": rotation.rows_total},
    )
    from encryption.tasks import rotate_task

    transaction.on_commit(lambda: rotate_task.delay(tenant.pk, str(rotation.pk)))
    return rotation


def _reencrypt_batch(
    tenant: Organisation, model: type[models.Model], field_names: list[str], after: str | None, active: int
) -> tuple[int, int, str | None]:
    """Re-encrypt up to a batch of rows after ``after``; returns (rows seen, rows rewritten,
    last primary key)."""
    rows = _tenant_rows(model, tenant).order_by("pk").select_for_update()
    if after is not None:
        rows = rows.filter(pk__gt=after)
    batch = list(rows[:ROTATION_BATCH_SIZE])
    rewritten = 0
    for row in batch:
        stale = [
            name
            for name in field_names
            if isinstance(row.__dict__.get(name), StoredCiphertext) and stored_key_version(row.__dict__[name]) != active
        ]
        if stale:
            for name in stale:
                getattr(row, name)  # decrypt; saving encrypts under the active version
            row.save(update_fields=stale)
            rewritten += 1
    return len(batch), rewritten, (str(batch[-1].pk) if batch else None)


def rotation_step(*, tenant: Organisation, rotation: KeyRotation) -> bool:
    """One batch of a rotation. Returns True when the rotation has finished."""
    require_tenant_is_current(tenant)
    with transaction.atomic():
        rotation = KeyRotation.objects.for_tenant(tenant).select_for_update().get(pk=rotation.pk)
        if rotation.status != RotationStatus.RUNNING:
            return True
        keyring.forget_reservation(tenant.pk)  # re-encrypt under the version active now
        active = keyring.active_data_version(tenant)
        for model, field_names in encrypted_models().items():
            label = _label(model)
            if rotation.cursor.get(label) == "done":
                continue
            seen, rewritten, last = _reencrypt_batch(tenant, model, field_names, rotation.cursor.get(label), active)
            rotation.rows_done += seen
            rotation.rows_reencrypted += rewritten
            rotation.cursor[label] = last if seen == ROTATION_BATCH_SIZE else "done"
            rotation.save(update_fields=["rows_done", "rows_reencrypted", "cursor"])
            return False
        rotation.status = RotationStatus.DONE
        rotation.finished_at = timezone.now()
        rotation.rows_done = max(rotation.rows_done, rotation.rows_total)
        rotation.save(update_fields=["status", "finished_at", "rows_done"])
        superseded = erase_unused_versions(tenant=tenant)
        if retired_versions(tenant):
            # Versions retired too recently to erase safely (or still used): look again later.
            from encryption.tasks import erase_unused_keys_task

            transaction.on_commit(
                lambda: erase_unused_keys_task.apply_async((tenant.pk,), countdown=keyring.RESERVATION_SECONDS + 5)
            )
        record(
            tenant=tenant,
            action="encryption.key_rotation_finished",
            actor=system_actor("encryption.rotate"),
            target=Target.of(rotation),
            details={"rows_reencrypted": rotation.rows_reencrypted, "versions_erased": superseded},
        )
    return True


def _versions_in_use(tenant: Organisation) -> set[int]:
    versions: set[int] = set()
    for model, field_names in encrypted_models().items():
        for values in _tenant_rows(model, tenant).values_list(*field_names).iterator(chunk_size=2000):
            versions.update(version for value in values if (version := stored_key_version(value)) is not None)
    return versions


def retired_versions(tenant: Organisation) -> list[int]:
    return list(
        TenantKey.objects.for_tenant(tenant)
        .filter(purpose=KeyPurpose.DATA, status=KeyStatus.RETIRED)
        .values_list("version", flat=True)
    )


def erase_unused_versions(*, tenant: Organisation) -> list[int]:
    """Retired data-key versions that no row uses lose their key material, once every process's
    reservation of them has expired (so none can still be encrypting under them)."""
    require_tenant_is_current(tenant)
    settled = timezone.now() - timedelta(seconds=keyring.RESERVATION_SECONDS + 1)
    in_use = _versions_in_use(tenant) | {keyring.active_data_version(tenant)}
    unused = list(
        TenantKey.objects.for_tenant(tenant)
        .filter(purpose=KeyPurpose.DATA, status=KeyStatus.RETIRED, retired_at__lte=settled)
        .exclude(version__in=in_use)
        .values_list("version", flat=True)
    )
    TenantKey.objects.for_tenant(tenant).filter(purpose=KeyPurpose.DATA, version__in=unused).update(
        status=KeyStatus.SUPERSEDED, wrapped_key=b""
    )
    return sorted(unused)


@transaction.atomic
def tenant_keys_destroy(*, tenant: Organisation, actor: User, confirmation: str) -> int:
    """Crypto-shred: destroy every key of ``tenant``. Its encrypted data becomes unreadable for
    good; other tenants are untouched. ``confirmation`` must be the organisation's slug."""
    require_tenant_is_current(tenant)
    if confirmation.strip() != tenant.slug:
        raise ValidationError("Type the organisation's identifier exactly to confirm.")
    destroyed = (
        TenantKey.objects.for_tenant(tenant)
        .exclude(status=KeyStatus.DESTROYED)
        .update(status=KeyStatus.DESTROYED, wrapped_key=b"", retired_at=timezone.now())
    )
    KeyRotation.objects.for_tenant(tenant).filter(status=RotationStatus.RUNNING).update(
        status=RotationStatus.DONE, finished_at=timezone.now()
    )
    record(
        tenant=tenant,
        action="encryption.keys_destroyed",
        actor=actor_for_user(actor),
        details={"keys_destroyed": destroyed},
    )
    transaction.on_commit(lambda: keyring.forget_cached_keys(tenant.pk))
    keyring.forget_cached_keys(tenant.pk)
    return destroyed


# --- Protection policy ------------------------------------------------------------------------

PROTECTION_SETTINGS = (
    "honour_unencrypted_preference",
    "escrow_all_phi",
    "require_tls13",
    "pii_requires_verified_tls",
    "dense_threshold",
    "phi_in_marketing",
    "phi_outside_phi_purposes",
    "rules",
)
_BOOLEAN_SETTINGS = frozenset(
    {"honour_unencrypted_preference", "escrow_all_phi", "require_tls13", "pii_requires_verified_tls"}
)


def _protection_values(tenant: Organisation, policy: ProtectionPolicy, fields: dict[str, Any]) -> dict[str, Any]:
    """The policy's settings with ``fields`` applied, validated; a ``ValidationError`` holds
    every refusal by field."""
    unknown = set(fields) - set(PROTECTION_SETTINGS)
    if unknown:
        raise ValidationError({"__all__": [f"Unknown settings: {', '.join(sorted(unknown))}."]})
    values = {name: fields.get(name, getattr(policy, name)) for name in PROTECTION_SETTINGS}
    errors: dict[str, list[str]] = {}
    for name in _BOOLEAN_SETTINGS:
        if not isinstance(values[name], bool):
            errors[name] = ["Yes or no."]
    threshold = values["dense_threshold"]
    if not isinstance(threshold, int) or isinstance(threshold, bool):
        errors["dense_threshold"] = ["A whole number."]
    elif not protection.MIN_DENSE_THRESHOLD <= threshold <= protection.MAX_DENSE_THRESHOLD:
        errors["dense_threshold"] = [
            f"Between {protection.MIN_DENSE_THRESHOLD} and {protection.MAX_DENSE_THRESHOLD} kinds of identifier."
        ]
    for name in ("phi_in_marketing", "phi_outside_phi_purposes"):
        if values[name] not in protection.HOLD_CHOICES:
            errors[name] = [f"One of {', '.join(protection.HOLD_CHOICES)}."]
    try:
        rules = protection.rules_from_json(values["rules"])
    except protection.InvalidRule as error:
        errors["rules"] = [str(error)]
    else:
        known = purpose_keys(tenant=tenant, include_archived=True)
        strangers = sorted({rule.value for rule in rules if rule.kind == protection.RULE_PURPOSE} - known)
        if strangers:
            errors["rules"] = [f"No purpose has the key “{key}”." for key in strangers]
        values["rules"] = [rule.as_json() for rule in rules]
    if errors:
        raise ValidationError(errors)
    return values


def _audit_value(name: str, value: Any) -> Any:
    if name == "rules":
        return [protection.ProtectionRule(**rule).label for rule in value]
    return value


@transaction.atomic
def protection_policy_update(*, tenant: Organisation, actor: User, **fields: Any) -> ProtectionPolicy:
    """Change the organisation's protection policy. Raises ``ValidationError`` (by field) for bad
    values. Audited as ``protection.policy_changed`` with the changed settings' names and new
    values (rules as ``kind:value:action``); nothing is written when nothing changed."""
    require_tenant_is_current(tenant)
    policy = ProtectionPolicy.objects.for_tenant(tenant).select_for_update().first()
    if policy is None:
        policy = ProtectionPolicy(tenant=tenant)
    values = _protection_values(tenant, policy, fields)
    changed = [name for name in PROTECTION_SETTINGS if getattr(policy, name) != values[name]]
    if not changed:
        return policy
    for name in changed:
        setattr(policy, name, values[name])
    policy.updated_by = actor
    try:
        with transaction.atomic():
            policy.save()
    except IntegrityError:
        # Another admin saved the first policy at the same moment: apply the change to theirs.
        policy = ProtectionPolicy.objects.for_tenant(tenant).select_for_update().get()
        for name in changed:
            setattr(policy, name, values[name])
        policy.updated_by = actor
        policy.save()
    record(
        tenant=tenant,
        action="protection.policy_changed",
        actor=actor_for_user(actor),
        target=Target.of(policy),
        details={"changed": changed, **{name: _audit_value(name, values[name]) for name in changed}},
    )
    return policy


def protection_simulation_record(*, tenant: Organisation, actor: Actor, level: str, action: str, findings: int) -> None:
    """Audit a simulator run: who, the level and decision and how many findings. The pasted text
    is neither stored nor logged."""
    require_tenant_is_current(tenant)
    record(
        tenant=tenant,
        action="protection.simulated",
        actor=actor,
        details={"level": level, "decision": action, "findings": findings},
    )
