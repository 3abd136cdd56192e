"""`manage.py check --deploy` is the deploy gate: clean with production settings. Without a
real secret key production does not even start; only DEBUG runs on the development key."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

MANAGE = Path(__file__).resolve().parents[2] / "manage.py"


def deploy_check(**env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_"))}
    return subprocess.run(  # noqa: S603 (our own manage.py)
        [sys.executable, str(MANAGE), "check", "--deploy", "--fail-level", "WARNING"],
        env={**base, "DJANGO_SETTINGS_MODULE": "orders_project.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_settings_pass_the_deploy_check() -> None:
    result = deploy_check(DJANGO_DEBUG="false", DJANGO_SECRET_KEY=secrets.token_urlsafe(50))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key() -> None:
    result = deploy_check(DJANGO_DEBUG="false")
    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize(
    "key",
    [
        "a",
        "django-insecure-" + secrets.token_urlsafe(50),
        "x" * 60,
        "abcd" * 20,
        secrets.token_urlsafe(30),
    ],
    ids=["one-char", "django-insecure", "one-letter", "four-letters", "short"],
)
def test_production_refuses_to_start_with_a_weak_secret_key(key: str) -> None:
    result = deploy_check(DJANGO_DEBUG="false", DJANGO_SECRET_KEY=key)
    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is not a real key" in result.stderr


def test_debug_runs_on_the_development_key_which_the_deploy_check_refuses() -> None:
    result = deploy_check(DJANGO_DEBUG="true")
    assert result.returncode != 0
    assert "security.W009" in result.stderr
    assert "ImproperlyConfigured" not in result.stderr


@pytest.mark.parametrize(
    ("setting", "value", "check"),
    [
        ("DJANGO_SECURE_HSTS_SECONDS", "0", "security.W004"),
        ("DJANGO_SECURE_COOKIES", "false", "security.W012"),
    ],
)
def test_turning_a_protection_off_is_reported(setting: str, value: str, check: str) -> None:
    result = deploy_check(
        DJANGO_DEBUG="false", DJANGO_SECRET_KEY=secrets.token_urlsafe(50), **{setting: value}
    )
    assert result.returncode != 0
    assert check in result.stderr
