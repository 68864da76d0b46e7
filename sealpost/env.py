"""Strict environment-variable parsing for settings.

Every reader accepts ``NAME`` or ``NAME_FILE`` (a path whose contents are the value, for
Docker/Kubernetes secrets), never both. A value that does not parse is an error at start-up,
not a silent default: a mistyped ``SEALPOST_PRODUCTION=ture`` must not quietly mean False.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class EnvError(ValueError):
    """A configuration variable is set to something we cannot accept."""


def _raw(name: str, environ: Mapping[str, str]) -> str | None:
    file_name = f"{name}_FILE"
    direct = environ.get(name)
    path = environ.get(file_name)
    if direct is not None and path is not None:
        raise EnvError(f"Set either {name} or {file_name}, not both.")
    if path is not None:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise EnvError(f"{file_name}: cannot read {path!r} ({exc.strerror}).") from None
    return direct


def env_str(name: str, default: str | None = None, *, environ: Mapping[str, str] | None = None) -> str | None:
    value = _raw(name, os.environ if environ is None else environ)
    if value is None or value == "":
        return default
    return value


def env_required(name: str, *, environ: Mapping[str, str] | None = None) -> str:
    value = env_str(name, environ=environ)
    if value is None:
        raise EnvError(f"{name} (or {name}_FILE) must be set.")
    return value


def env_bool(name: str, default: bool, *, environ: Mapping[str, str] | None = None) -> bool:
    value = env_str(name, environ=environ)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise EnvError(f"{name}={value!r} is not a boolean (use true/false, 1/0, yes/no, on/off).")


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    value = env_str(name, environ=environ)
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise EnvError(f"{name}={value!r} is not a whole number.") from None
    if minimum is not None and number < minimum:
        raise EnvError(f"{name}={number} must be at least {minimum}.")
    return number


def env_list(name: str, default: list[str], *, environ: Mapping[str, str] | None = None) -> list[str]:
    value = env_str(name, environ=environ)
    if value is None:
        return list(default)
    items = [item.strip() for item in value.split(",")]
    if any(not item for item in items):
        raise EnvError(f"{name} has an empty item; use a comma-separated list without blanks.")
    return items
