from __future__ import annotations

import os
import stat

import pytest

from encryption.keyfile import KEY_BYTES, KeyFileError, ensure_key_file


def test_the_key_file_is_created_once_with_owner_only_permissions(tmp_path):
    path = tmp_path / "keys" / "master.key"
    assert ensure_key_file(path) is True
    key = path.read_bytes()
    assert len(key) == KEY_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_key_file(path) is False
    assert path.read_bytes() == key


def test_a_world_readable_key_file_is_refused(tmp_path):
    path = tmp_path / "master.key"
    ensure_key_file(path)
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="readable by other users"):
        ensure_key_file(path)


def test_a_truncated_key_file_is_refused(tmp_path):
    path = tmp_path / "master.key"
    path.write_bytes(b"short")
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError, match="32-byte key"):
        ensure_key_file(path)
