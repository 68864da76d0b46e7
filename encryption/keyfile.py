"""The local master key of the embedded default: 32 random bytes in a file only its owner can
read. Production points ``SEALPOST_MASTER_KEY_FILE`` at a mounted secret (or, once the
encryption-at-rest work lands, uses a KMS key instead)."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

MASTER_KEY_BYTES = 32


class MasterKeyError(RuntimeError):
    pass


def ensure_master_key_file(path: Path) -> bool:
    """Create the key file if it does not exist. Returns True if it was created.

    Created with ``O_EXCL`` and mode 0600 in one step, so there is no moment at which another
    user could read it and no race with a second process creating it at the same time.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        check_master_key_file(path)
        return False
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(secrets.token_bytes(MASTER_KEY_BYTES))
    return True


def check_master_key_file(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise MasterKeyError(f"{path} is readable by other users (mode {mode:o}); run chmod 600 on it.")
    if path.stat().st_size != MASTER_KEY_BYTES:
        raise MasterKeyError(f"{path} is not a {MASTER_KEY_BYTES}-byte key.")
