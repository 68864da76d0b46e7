"""``python manage.py dlp_scan < in.jsonl > out.jsonl``: classify messages, one JSON object a line.

Input lines: ``{"id": ..., "text": "..."}``. Output lines, one per input line and in the same
order, written as soon as each is classified (streaming):
``{"id": ..., "level": "phi"|"pii"|"none", "findings": [{"type", "start", "end", "confidence"}]}``.
``start``/``end`` are offsets in characters (Unicode code points) into ``text``.

A line that is not a JSON object with a string ``text`` gets an error line in its place,
``{"id": <its id, or null>, "error": "..."}``, a message on stderr naming the line number, and
the command goes on; it exits with status 1 at the end if any line was in error. Blank lines are
skipped and produce no output.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand

from encryption.dlp import classify


class Command(BaseCommand):
    help = "Classify JSONL messages from stdin ({id, text}) and write {id, level, findings} lines to stdout."
    stealth_options = ("stdin",)
    requires_system_checks: list[str] = []  # pure text processing: no database, no checks

    def handle(self, *args: Any, **options: Any) -> None:
        source = options.get("stdin") or sys.stdin
        out = self.stdout
        errors = 0
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            record_id: Any = None
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError("a line must be a JSON object")
                record_id = record.get("id")
                text = record.get("text")
                if not isinstance(text, str):
                    raise ValueError('"text" must be a string')
            except ValueError as exc:  # json.JSONDecodeError is a ValueError
                errors += 1
                message = str(exc)
                self.stderr.write(f"dlp_scan: line {number}: {message}")
                out.write(json.dumps({"id": record_id, "error": message}, ensure_ascii=False))
                out.flush()
                continue
            result = classify(text)
            payload = {"id": record_id, "level": result.level, "findings": [f.as_json() for f in result.findings]}
            out.write(json.dumps(payload, ensure_ascii=False))
            out.flush()
        if errors:
            self.stderr.write(f"dlp_scan: {errors} line(s) in error")
            sys.exit(1)
