"""Production mode passes Django's deployment checks with warnings treated as failures, and
the embedded default refuses nothing it should not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args: str, env_overrides: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SEALPOST_", "DJANGO_"))}
    env.update({"SEALPOST_VAR_DIR": str(tmp_path)})
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


PRODUCTION = {
    "SEALPOST_PRODUCTION": "true",
    "SECRET_KEY": "a-long-random-value-for-the-deploy-check-only-0123456789abcdefghijklmnop",
    "ALLOWED_HOSTS": "sealpost.example.com",
}


def test_check_deploy_passes_in_production_mode(tmp_path):
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env_overrides=PRODUCTION, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_cookies_are_host_prefixed_and_secure(tmp_path):
    code = (
        "from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_NAME, s.CSRF_COOKIE_NAME, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS >= 31536000, bool(s.SECURE_CSP), s.DEBUG)"
    )
    result = _manage("shell", "-c", code, env_overrides=PRODUCTION, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == [
        "__Host-sealpost_session",
        "__Host-sealpost_csrf",
        "True",
        "True",
        "True",
        "True",
        "True",
        "False",
    ]


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = _manage(
        "check", env_overrides={"SEALPOST_PRODUCTION": "true", "ALLOWED_HOSTS": "x.example.com"}, tmp_path=tmp_path
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_a_mistyped_boolean_is_an_error_not_false(tmp_path):
    result = _manage("check", env_overrides={"SEALPOST_PRODUCTION": "ture"}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "is not a boolean" in result.stderr
