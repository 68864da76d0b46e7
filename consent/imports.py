"""Consent columns of a contact import (``consent.<purpose>`` targets): cell values, and writing
one batch's changes with their history in bulk.

An import may grant or revoke. It never re-grants a consent the recipient revoked themselves
(through an email link or a form): a spreadsheet exported from another system before the
recipient unsubscribed must not undo it. Those rows are counted as ``kept_revoked``.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from audit.services import Actor
from consent.models import ConsentEvent, ConsentSource, ConsentStatus, ContactConsent, EventKind
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

TARGET_PREFIX = "consent."
_GRANTED_WORDS = frozenset({"granted", "grant", "yes", "y", "true", "1", "opted_in", "opt_in"})
_REVOKED_WORDS = frozenset({"revoked", "revoke", "no", "n", "false", "0", "opted_out", "opt_out"})
CELL_HELP = "Use granted or revoked (or yes / no), or leave the cell empty to keep the current consent."
# Revocations an import may not overturn: the recipient's own.
_RECIPIENT_SOURCES = frozenset({ConsentSource.RECIPIENT, ConsentSource.FORM})


def consent_cell(raw: str) -> str | None:
    """The status a cell asks for; None for an empty cell; ``ValueError`` otherwise."""
    word = raw.strip().casefold().replace("-", "_").replace(" ", "_")
    if not word:
        return None
    if word in _GRANTED_WORDS:
        return ConsentStatus.GRANTED
    if word in _REVOKED_WORDS:
        return ConsentStatus.REVOKED
    raise ValueError(CELL_HELP)


def consent_import_batch(
    *,
    tenant: Organisation,
    recorded_by: Actor,
    import_id: uuid.UUID | str,
    rows: Sequence[tuple[uuid.UUID, dict[str, str]]],
    at: datetime,
    source: str = ConsentSource.IMPORT,
) -> Counter[str]:
    """Apply the consent cells of one batch of imported contacts (ids with ``{purpose:
    status}``) in bulk, with a history row for each change. The contacts may still be on their
    way to the database (the import's writer sends them; the foreign keys are checked at
    commit). Returns counts: ``granted``, ``revoked``, ``kept_revoked``. The demo data uses
    it with other sources (``source``) to seed many contacts at once."""
    require_tenant_is_current(tenant)
    counts: Counter[str] = Counter()
    wanted = [(contact_id, statuses) for contact_id, statuses in rows if statuses]
    if not wanted:
        return counts
    purposes = {purpose for _contact_id, statuses in wanted for purpose in statuses}
    existing = {
        (row.contact_id, row.purpose): row
        for row in ContactConsent.objects.for_tenant(tenant).filter(
            contact_id__in=[contact_id for contact_id, _statuses in wanted], purpose__in=purposes
        )
    }
    creates: list[ContactConsent] = []
    updates: list[ContactConsent] = []
    events: list[ConsentEvent] = []
    form_version = f"import:{import_id}"[:64]
    for contact_id, statuses in wanted:
        for purpose, status in sorted(statuses.items()):
            row = existing.get((contact_id, purpose))
            before = row.status if row else ConsentStatus.NEVER_ASKED
            if before == status:
                continue
            if (
                row is not None
                and status == ConsentStatus.GRANTED
                and row.status == ConsentStatus.REVOKED
                and row.source in _RECIPIENT_SOURCES
            ):
                counts["kept_revoked"] += 1
                continue
            if row is None:
                creates.append(
                    ContactConsent(
                        tenant=tenant,
                        contact_id=contact_id,
                        purpose=purpose,
                        status=status,
                        source=source,
                        changed_at=at,
                    )
                )
            else:
                row.status, row.source, row.changed_at = status, source, at
                updates.append(row)
            events.append(
                ConsentEvent(
                    tenant=tenant,
                    contact_id=contact_id,
                    kind=EventKind.CONSENT,
                    purpose=purpose,
                    from_status=before,
                    to_status=status,
                    source=source,
                    occurred_at=at,
                    form_version=form_version,
                    recorded_by_type=str(recorded_by.type),
                    recorded_by_id=recorded_by.id,
                    recorded_by_label=recorded_by.label[:200],
                )
            )
            counts[status] += 1
    ContactConsent.objects.bulk_create(creates, batch_size=1000)
    if updates:
        ContactConsent.objects.bulk_update(updates, ["status", "source", "changed_at"], batch_size=1000)
    ConsentEvent.objects.bulk_create(events, batch_size=1000)
    return counts
