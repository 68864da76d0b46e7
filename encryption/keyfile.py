"""Key files: 32 random bytes in a file only its owner can read. The embedded default keeps the
master key (``SEALPOST_MASTER_KEY_FILE``) and the audit checkpoint key
(``AUDIT_CHECKPOINT_KEY_FILE``) this way; production mounts them as secrets."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

KEY_BYTES = 32


class KeyFileError(RuntimeError):
    pass


def read_key_file(path: Path) -> bytes:
    try:
        check_key_file(path)
    except FileNotFoundError:
        raise KeyFileError(f"{path} does not exist.") from None
    return path.read_bytes()


def ensure_key_file(path: Path) -> bool:
    """Create the key file if it does not exist. Returns True if it was created.

    Created with ``O_EXCL`` and mode 0600 in one step, so there is no moment at which another
    user could read it and no race with a second process creating it at the same time.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        check_key_file(path)
        return False
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(secrets.token_bytes(KEY_BYTES))
    return True


def check_key_file(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(f"{path} is readable by other users (mode {mode:o}); run chmod 600 on it.")
    if path.stat().st_size != KEY_BYTES:
        raise KeyFileError(f"{path} is not a {KEY_BYTES}-byte key.")
