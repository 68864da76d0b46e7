"""Exports of the audit log: CSV for people (safe to open in a spreadsheet) and JSON with every
chain field, the checkpoints and the public key, so an auditor can verify it offline
(docs/audit.md)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.utils import timezone

from audit.chain import HASHED_COLUMNS, to_microseconds
from audit.models import AuditCheckpoint, AuditEvent
from audit.verify import checkpoint_as_dict, checkpoint_private_key, public_key_hex

EXPORT_COLUMNS = ("id", *HASHED_COLUMNS, "prev_hash", "hash")
# Spreadsheets treat cells starting with these as formulas (CSV injection).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


def spreadsheet_safe(value: Any) -> str:
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_PREFIXES):
        return "'" + text
    return text


def event_as_dict(event: AuditEvent) -> dict[str, Any]:
    row = {column: getattr(event, column) for column in EXPORT_COLUMNS}
    row["occurred_at"] = event.occurred_at.isoformat()
    row["occurred_at_us"] = to_microseconds(event.occurred_at)
    return row


def csv_rows(events: Iterable[AuditEvent]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow([*EXPORT_COLUMNS, "occurred_at_us"])
    yield flush()
    for event in events:
        row = event_as_dict(event)
        writer.writerow([spreadsheet_safe(row[column]) for column in (*EXPORT_COLUMNS, "occurred_at_us")])
        yield flush()


def json_document(
    *, tenant_slug: str, chain_id: int, events: Iterable[AuditEvent], checkpoints: Iterable[AuditCheckpoint]
) -> str:
    document = {
        "format": "sealpost-audit-export/1",
        "organisation": tenant_slug,
        "chain_id": chain_id,
        "exported_at": timezone.now().isoformat(),
        "hash_encoding": "docs/audit.md#the-hash-chain",
        "checkpoint_public_key": public_key_hex(checkpoint_private_key()),
        "events": [event_as_dict(event) for event in events],
        "checkpoints": [checkpoint_as_dict(checkpoint) for checkpoint in checkpoints],
    }
    return json.dumps(document, indent=1, ensure_ascii=False)
