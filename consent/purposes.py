"""The purposes consent is asked for: four built in, plus each organisation's own.

Built-in purposes live in code so every organisation has them from the start; an organisation's
own purposes are ``Purpose`` rows whose keys may not reuse a built-in key. Consent, topics, forms
and authorisations refer to a purpose by its key.
"""

from __future__ import annotations

from dataclasses import dataclass

from consent.models import Purpose
from tenants.models import Organisation


@dataclass(frozen=True)
class PurposeInfo:
    key: str
    name: str
    description: str
    is_marketing: bool
    is_builtin: bool
    is_archived: bool = False
    # Whether messages for the purpose may carry PHI (templates refuse PHI fields otherwise).
    allows_phi: bool = False


BUILTIN_PURPOSES: tuple[PurposeInfo, ...] = (
    PurposeInfo(
        "appointment_reminders",
        "Appointment reminders",
        "Reminders of upcoming appointments and changes to them.",
        is_marketing=False,
        is_builtin=True,
        allows_phi=True,
    ),
    PurposeInfo(
        "billing",
        "Billing and payment",
        "Statements, payment reminders and receipts.",
        is_marketing=False,
        is_builtin=True,
        allows_phi=True,
    ),
    PurposeInfo(
        "care",
        "Care and treatment notifications",
        "Prescriptions ready, test results available, care instructions.",
        is_marketing=False,
        is_builtin=True,
        allows_phi=True,
    ),
    PurposeInfo(
        "marketing",
        "Marketing",
        "News, offers and services. Needs a signed HIPAA marketing authorisation as well.",
        is_marketing=True,
        is_builtin=True,
    ),
)
BUILTIN_KEYS = frozenset(p.key for p in BUILTIN_PURPOSES)


class UnknownPurpose(LookupError):
    """A purpose key that is neither built in nor one of the organisation's."""


def _info(row: Purpose) -> PurposeInfo:
    return PurposeInfo(
        row.key,
        row.name,
        row.description,
        row.is_marketing,
        is_builtin=False,
        is_archived=row.is_archived,
        allows_phi=row.allows_phi,
    )


def purposes_for(*, tenant: Organisation, include_archived: bool = False) -> list[PurposeInfo]:
    """The built-in purposes, then the organisation's own by name."""
    rows = Purpose.objects.for_tenant(tenant).order_by("name")
    if not include_archived:
        rows = rows.filter(is_archived=False)
    return [*BUILTIN_PURPOSES, *(_info(row) for row in rows)]


def purpose_get(*, tenant: Organisation, key: str, allow_archived: bool = False) -> PurposeInfo:
    for builtin in BUILTIN_PURPOSES:
        if builtin.key == key:
            return builtin
    row = Purpose.objects.for_tenant(tenant).filter(key=key).first()
    if row is None or (row.is_archived and not allow_archived):
        raise UnknownPurpose(key)
    return _info(row)


def purpose_keys(*, tenant: Organisation, include_archived: bool = False) -> frozenset[str]:
    return frozenset(purpose.key for purpose in purposes_for(tenant=tenant, include_archived=include_archived))
