from __future__ import annotations

import pytest

from sealpost.env import EnvError, env_bool, env_int, env_list, env_str


def test_booleans_are_strict():
    assert env_bool("X", False, environ={"X": "Yes"}) is True
    assert env_bool("X", True, environ={"X": "0"}) is False
    assert env_bool("X", True, environ={}) is True
    with pytest.raises(EnvError, match="not a boolean"):
        env_bool("X", False, environ={"X": "maybe"})


def test_secrets_can_come_from_a_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    assert env_str("SECRET_KEY", environ={"SECRET_KEY_FILE": str(secret)}) == "from-file"


def test_value_and_file_together_is_an_error(tmp_path):
    with pytest.raises(EnvError, match="not both"):
        env_str("SECRET_KEY", environ={"SECRET_KEY": "a", "SECRET_KEY_FILE": str(tmp_path / "x")})


def test_unreadable_secret_file_is_an_error(tmp_path):
    with pytest.raises(EnvError, match="cannot read"):
        env_str("SECRET_KEY", environ={"SECRET_KEY_FILE": str(tmp_path / "missing")})


def test_integers_and_lists_are_strict():
    assert env_int("N", 5, environ={"N": " 7 "}) == 7
    with pytest.raises(EnvError, match="whole number"):
        env_int("N", 5, environ={"N": "7s"})
    with pytest.raises(EnvError, match="at least"):
        env_int("N", 5, minimum=1, environ={"N": "0"})
    assert env_list("L", [], environ={"L": "a.example.com, b.example.com"}) == ["a.example.com", "b.example.com"]
    with pytest.raises(EnvError, match="empty item"):
        env_list("L", [], environ={"L": "a,,b"})
