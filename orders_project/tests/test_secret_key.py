"""`make run` (through scripts/with-db) brings its own secret key: made on first use,
kept, private, and one the production settings accept."""

import os
import shutil
import stat
import subprocess
from pathlib import Path

from orders_project.secret_key import check_secret_key

WITH_DB = Path(__file__).resolve().parents[2] / "scripts" / "with-db"


def secret_key_in(root: Path, **env: str) -> str:
    """DJANGO_SECRET_KEY as scripts/with-db, copied into `root`, hands it to a command."""
    base = {k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}
    result = subprocess.run(  # noqa: S603 (our own script)
        [str(root / "scripts" / "with-db"), "printenv", "DJANGO_SECRET_KEY"],
        env={**base, "DATABASE_URL": "postgres://unused", **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.strip()


def test_with_db_generates_a_real_key_once_and_keeps_it(tmp_path: Path) -> None:
    # given: a checkout with no key yet
    (tmp_path / "scripts").mkdir()
    shutil.copy(WITH_DB, tmp_path / "scripts" / "with-db")

    # when
    first = secret_key_in(tmp_path)
    second = secret_key_in(tmp_path)

    # then
    check_secret_key(first)  # production settings accept it
    assert second == first
    key_file = tmp_path / ".secrets" / "django-secret-key"
    assert key_file.read_text() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_a_key_from_the_environment_wins(tmp_path: Path) -> None:
    # given
    (tmp_path / "scripts").mkdir()
    shutil.copy(WITH_DB, tmp_path / "scripts" / "with-db")

    # when
    given = secret_key_in(
        tmp_path, DJANGO_SECRET_KEY="k" * 10 + "ey-from-the-environment-0123456789"
    )

    # then
    assert given.startswith("kkkkkkkkkkey-from")
    assert not (tmp_path / ".secrets").exists()
