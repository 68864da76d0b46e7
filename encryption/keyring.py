"""Per-tenant keys, unwrapped on demand and cached briefly in this process.

Unwrapped keys live only in memory: in a bounded cache with a short lifetime, inside an object
that refuses to be printed or pickled (so it can never end up in a log line or a Celery message).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import IntegrityError, transaction
from django.db.models import F, Max

from audit.services import SYSTEM, Target, record
from encryption.models import KeyPurpose, KeyStatus, TenantKey
from encryption.providers import KeyUnavailable, get_key_provider
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

CACHE_SIZE = 1024
CACHE_SECONDS = 300
# Encryptions reserved per database round trip, and the most one key version may perform before
# a new version takes over: far below AES-GCM's 2^32 limit for random 96-bit nonces.
USE_BLOCK = 100_000
MAX_USES_PER_VERSION = 2**30
# A process's reservation is trusted this long; after that it asks the database again, so it
# stops encrypting under a version that another process has retired. Retired versions are erased
# only once this much time has passed since they were retired.
RESERVATION_SECONDS = 30


class SecretKey:
    """Key bytes that do not print and do not pickle."""

    __slots__ = ("_aead", "_material")

    def __init__(self, material: bytes) -> None:
        self._material = material
        self._aead = AESGCM(material)

    @property
    def material(self) -> bytes:
        return self._material

    @property
    def aead(self) -> AESGCM:
        """AES-256-GCM under this key, built once."""
        return self._aead

    def __repr__(self) -> str:
        return "SecretKey(<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("Keys are never pickled (and so never sent to Celery).")


@dataclass(frozen=True)
class ActiveKey:
    version: int
    key: SecretKey


class _Cache:
    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[int, str, int], tuple[float, SecretKey]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[int, str, int]) -> SecretKey | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, secret = entry
            if expires < time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return secret

    def put(self, key: tuple[int, str, int], secret: SecretKey) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic() + CACHE_SECONDS, secret)
            self._entries.move_to_end(key)
            while len(self._entries) > CACHE_SIZE:
                self._entries.popitem(last=False)

    def forget_tenant(self, tenant_id: int) -> None:
        with self._lock:
            for key in [key for key in self._entries if key[0] == tenant_id]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_cache = _Cache()
# tenant id -> (active version, its key, encryptions this process still has reserved, expiry)
_reservations: dict[int, tuple[int, SecretKey, int, float]] = {}
_reservations_lock = threading.Lock()


def forget_cached_keys(tenant_id: int | None = None) -> None:
    with _reservations_lock:
        if tenant_id is None:
            _reservations.clear()
        else:
            _reservations.pop(tenant_id, None)
    if tenant_id is None:
        _cache.clear()
    else:
        _cache.forget_tenant(tenant_id)


def _create_version(tenant: Organisation, purpose: KeyPurpose, version: int) -> TenantKey:
    generated = get_key_provider().generate_data_key(tenant.pk)
    key = TenantKey(
        tenant=tenant, purpose=purpose, version=version, wrapped_key=generated.wrapped, provider=get_key_provider().name
    )
    key.save()
    record(
        tenant=tenant,
        action="encryption.key_created",
        actor=SYSTEM,
        target=Target.of(key),
        details={"purpose": purpose.value, "version": version},
    )
    _cache.put((tenant.pk, purpose.value, version), SecretKey(generated.plaintext))
    return key


def _next_version(tenant: Organisation, purpose: KeyPurpose) -> int:
    latest = TenantKey.objects.for_tenant(tenant).filter(purpose=purpose).aggregate(latest=Max("version"))["latest"]
    return int(latest or 0) + 1


def _active_row(tenant: Organisation, purpose: KeyPurpose) -> TenantKey:
    row = TenantKey.objects.for_tenant(tenant).filter(purpose=purpose, status=KeyStatus.ACTIVE).first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            return _create_version(tenant, purpose, _next_version(tenant, purpose))
    except IntegrityError:
        # Another process created it first.
        return TenantKey.objects.for_tenant(tenant).get(purpose=purpose, status=KeyStatus.ACTIVE)


def active_data_version(tenant: Organisation) -> int:
    require_tenant_is_current(tenant)
    return _active_row(tenant, KeyPurpose.DATA).version


def start_new_data_version(tenant: Organisation) -> tuple[int, int]:
    """Retire the active data key and make a new version active; returns (old, new)."""
    require_tenant_is_current(tenant)
    current = _active_row(tenant, KeyPurpose.DATA)
    new = _start_next_version(tenant, KeyPurpose.DATA, current)
    forget_reservation(tenant.pk)
    return current.version, new.version


def _unwrapped(tenant: Organisation, row: TenantKey) -> SecretKey:
    cache_key = (tenant.pk, row.purpose, row.version)
    secret = _cache.get(cache_key)
    if secret is None:
        if row.status == KeyStatus.DESTROYED:
            raise KeyUnavailable("This key was destroyed; the data it protected is unreadable.")
        if row.status == KeyStatus.SUPERSEDED:
            raise KeyUnavailable(f"Key version {row.version} was retired and erased after a rotation.")
        secret = SecretKey(get_key_provider().unwrap(tenant.pk, bytes(row.wrapped_key)))
        _cache.put(cache_key, secret)
    return secret


def key_version(tenant: Organisation, purpose: KeyPurpose, version: int) -> SecretKey:
    """A specific version, for decrypting what it encrypted."""
    require_tenant_is_current(tenant)
    cached = _cache.get((tenant.pk, purpose.value, version))
    if cached is not None:
        return cached
    row = TenantKey.objects.for_tenant(tenant).filter(purpose=purpose, version=version).first()
    if row is None:
        raise KeyUnavailable(f"The tenant has no {purpose.value} key version {version}.")
    return _unwrapped(tenant, row)


# Cache slot of a tenant's index key. Index keys are never rotated (only destroyed, by
# crypto-shredding, which forgets the cache), so the active one is cached like unwrapped data
# keys: every blind index and PHI token would otherwise cost a query.
_ACTIVE_INDEX_SLOT = 0


def index_key(tenant: Organisation) -> SecretKey:
    require_tenant_is_current(tenant)
    slot = (tenant.pk, KeyPurpose.INDEX.value, _ACTIVE_INDEX_SLOT)
    cached = _cache.get(slot)
    if cached is not None:
        return cached
    secret = _unwrapped(tenant, _active_row(tenant, KeyPurpose.INDEX))
    _cache.put(slot, secret)
    return secret


def _reserve_uses(tenant: Organisation, row: TenantKey) -> bool:
    """Reserve a block of encryptions under ``row``; False once the version has done enough."""
    with transaction.atomic():
        updated = (
            TenantKey.objects.for_tenant(tenant)
            .filter(pk=row.pk, status=KeyStatus.ACTIVE, uses_reserved__lte=MAX_USES_PER_VERSION - USE_BLOCK)
            .update(uses_reserved=F("uses_reserved") + USE_BLOCK)
        )
    return updated == 1


def _start_next_version(tenant: Organisation, purpose: KeyPurpose, current: TenantKey) -> TenantKey:
    from django.utils import timezone

    with transaction.atomic():
        retired = (
            TenantKey.objects.for_tenant(tenant)
            .filter(pk=current.pk, status=KeyStatus.ACTIVE)
            .update(status=KeyStatus.RETIRED, retired_at=timezone.now())
        )
        if retired:
            return _create_version(tenant, purpose, current.version + 1)
    return _active_row(tenant, purpose)


def data_key_for_encryption(tenant: Organisation, uses: int = 1) -> ActiveKey:
    """The active data key, counting ``uses`` encryptions under it (at most ``USE_BLOCK``: a
    batch asks once for all its values). Uses are reserved in blocks of ``USE_BLOCK``, so the
    common case touches neither the database nor the provider."""
    require_tenant_is_current(tenant)
    if not 1 <= uses <= USE_BLOCK:
        raise ValueError(f"Reserve between 1 and {USE_BLOCK} uses at a time.")
    with _reservations_lock:
        reservation = _reservations.get(tenant.pk)
        if reservation is not None and reservation[2] >= uses and reservation[3] > time.monotonic():
            version, secret, remaining, expires = reservation
            _reservations[tenant.pk] = (version, secret, remaining - uses, expires)
            return ActiveKey(version, secret)
    row = _active_row(tenant, KeyPurpose.DATA)
    if not _reserve_uses(tenant, row):
        row = _start_next_version(tenant, KeyPurpose.DATA, row)
        if not _reserve_uses(tenant, row):
            raise KeyUnavailable("Could not reserve uses of a new data key version.")
    secret = _unwrapped(tenant, row)
    with _reservations_lock:
        _reservations[tenant.pk] = (row.version, secret, USE_BLOCK - uses, time.monotonic() + RESERVATION_SECONDS)
    return ActiveKey(row.version, secret)


def forget_reservation(tenant_id: int) -> None:
    """Make this process ask the database for the active version at its next encryption."""
    with _reservations_lock:
        _reservations.pop(tenant_id, None)
