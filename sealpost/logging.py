"""Structured (JSON) logs that never carry PHI or secrets.

Code should log ids, never values; ``ScrubFilter`` is the net under that rule. It masks what
looks like an email address, SSN, phone or fax number, date, long digit run (MRNs, member and
account numbers, card numbers), IP address, and ``key=value`` secrets (password, token, secret,
authorization, cookie, api key) in the message, its arguments and any extra fields, including
exception text.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from sealpost.request_id import get_request_id

REDACTED = "[redacted]"

_SECRET_KEYS = r"(?:password|passwd|pwd|secret|token|api[_-]?key|authorization|cookie|session(?:id)?|otp|code)"  # noqa: S105 - names of secrets, not a secret
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # key=value / key: value / "key": "value" secrets first, keeping the key readable.
    (
        re.compile(rf"(?i)(\"?\b{_SECRET_KEYS}\b\"?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|Bearer\s+\S+|\S+)"),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"(?i)\bBearer\s+[A-Za-z0-9._~+/=-]+"), f"Bearer {REDACTED}"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[email]"),
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), "[ssn]"),
    (re.compile(r"(?<!\w)(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b"), "[phone]"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b"), "[date]"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"), "[ip]"),
    (re.compile(r"\b[A-Za-z]{0,4}\d{6,}\b"), "[number]"),
]

# Attributes every LogRecord has; anything else was passed as ``extra=``.
_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def scrub(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {key: _scrub_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_value(item) for item in value]
    return scrub(str(value))


class ScrubFilter(logging.Filter):
    """Rewrites the record in place: message rendered and scrubbed, extras scrubbed, exception
    text rendered and scrubbed (so no handler can print the raw traceback values)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = scrub(message)
        record.args = None
        for key in list(vars(record)):
            if key not in _STANDARD_ATTRS and key not in ("request_id", "request"):
                setattr(record, key, _scrub_value(getattr(record, key)))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        record.exc_info = None
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


class RequestIdFilter(logging.Filter):
    """Adds the request id; Django logs some responses after our middleware has returned, so the
    id is also taken from the request object such records carry."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            request = getattr(record, "request", None)
            record.request_id = getattr(request, "request_id", None) or get_request_id()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in vars(record).items():
            if key in _STANDARD_ATTRS or key in payload:
                continue
            if key == "request":
                # Django passes the request object; log only where it went, never its contents.
                payload["method"] = getattr(value, "method", None)
                payload["path"] = scrub(str(getattr(value, "path", "")))
                continue
            payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            payload["exception"] = record.exc_text
        return json.dumps(payload, default=str)
