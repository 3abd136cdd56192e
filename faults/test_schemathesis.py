"""Schemathesis against /openapi.json on the live server: every standard check, all phases.

The schema must describe reality: a failure here is fixed in the views or
orders_project/openapi.py, never by switching a check off. faults/schemathesis.toml
holds the only two allowances (statuses that depend on server state, which no schema
can express), and faults/schemathesis_hooks.py keeps generated keys unique and the
tenant stable across linked calls.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from faults.client import Stats
from faults.stack import REPO_ROOT, Server

MAX_EXAMPLES = int(os.environ.get("FAULTS_ST_MAX_EXAMPLES", "100"))
TIMEOUT_S = 420


def test_schemathesis_finds_no_failure(
    server: Server, tenant_name: Callable[[str], str], stats: Stats, tmp_path: Path
) -> None:
    # given
    executable = Path(sys.executable).parent / "schemathesis"
    command = [
        str(executable),
        "--config-file", str(REPO_ROOT / "faults" / "schemathesis.toml"),
        "--no-color",
        "run", f"{server.base_url}/openapi.json",
        "--checks", "all",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", str(MAX_EXAMPLES),
        "--workers", "2",
        "--request-timeout", "30",
    ]  # fmt: skip
    if os.environ.get("FAULTS_ST_SEED"):
        command += ["--seed", os.environ["FAULTS_ST_SEED"]]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "faults.schemathesis_hooks",
        "FAULTS_ST_TENANT": tenant_name("st"),
        "PYTHONPATH": str(REPO_ROOT),
    }

    # when
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
        check=False,
    )  # fmt: skip

    # then
    output = result.stdout + result.stderr
    generated = re.search(r"(\d+) generated", output)
    stats.add("schemathesis_cases", int(generated.group(1)) if generated else 0)
    assert result.returncode == 0, output[-20000:]
    assert generated, output[-5000:]
    assert int(generated.group(1)) > 0
