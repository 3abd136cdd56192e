"""Instructions per request, before and after: a measure the machine's noise cannot move.

    .venv/bin/python benchmarks/instructions.py --before c7c04a2 [--requests 50]

Throughput on two shared cores swings by ±15-30 % between runs of the same code, and CPU
time in process by ±10 %, so neither can confirm a change worth 5 %. Instruction counts
can: this script runs each version of the app in process under valgrind's callgrind
(`--before` checked out into a temporary git worktree, this checkout as the other), sends
every operation `--requests` times through the WSGI application with the whole
middleware stack and the JSON access log (to /dev/null), and reads the instructions each
operation executed from callgrind's dumps, one dump per operation. Both versions run at
once on one embedded PostgreSQL migrated with this checkout (each on a tenant of its
own). The same code on both sides reads 1.00 on every operation at 50 requests
(benchmarks/results/instructions-818fce7-818fce7+changes.json); at 20 it strayed by 3 %.

Instructions are not time: they miss cache misses, the kernel and the database server.
They are the Python (and C) work of the request in this process, the part the app's own
code decides. Writes benchmarks/results/instructions-<before>-<after>.json.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent

OPERATIONS = ("healthz", "create", "replay", "get", "get_not_modified", "confirm", "close", "list")


# --- The driver: runs inside callgrind, in the version's own checkout ---------------------


def drive(root: Path, requests: int) -> None:
    """Send each operation `requests` times, asking callgrind for a dump after each."""
    sys.path.insert(0, str(root))
    import logging

    import django

    django.setup()  # the version's own app, from `root`
    from orders.services import order_confirm, order_create
    from orders_project.wsgi import application

    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 (lives as long as we do)

    def call(environ: dict[str, Any]) -> str:
        status = ""

        def start_response(line: str, headers: list[Any], exc_info: Any = None) -> None:
            nonlocal status
            status = line

        body: Any = application(environ, start_response)  # type: ignore[arg-type]
        b"".join(body)
        body.close()
        return status

    tenant = f"instr-{uuid.uuid4().hex[:8]}"
    orders = [order_create(tenant_id=tenant) for _ in range(2 * requests + 30)]
    drafts = [order.pk for order in orders[: requests + 10]]
    confirmed = [order.pk for order in orders[requests + 10 :]]
    for order_id in confirmed:
        order_confirm(tenant_id=tenant, order_id=order_id, total_cents=1, expected_version=1)
    replay_key = uuid.uuid4().hex
    tenant_header = {"X-Tenant-ID": tenant}
    call(_environ("/orders", "POST", {**tenant_header, "Idempotency-Key": replay_key}, b"{}"))
    shown = orders[0].pk

    def keyed(extra: dict[str, str]) -> dict[str, str]:
        return {**tenant_header, "Idempotency-Key": uuid.uuid4().hex, **extra}

    sends: dict[str, Callable[[int], dict[str, Any]]] = {
        "healthz": lambda i: _environ("/healthz"),
        "create": lambda i: _environ("/orders", "POST", keyed({}), b"{}"),
        "replay": lambda i: _environ(
            "/orders", "POST", {**tenant_header, "Idempotency-Key": replay_key}, b"{}"
        ),
        "get": lambda i: _environ(f"/orders/{shown}", headers=tenant_header),
        "get_not_modified": lambda i: _environ(
            f"/orders/{shown}", headers={**tenant_header, "If-None-Match": '"1"'}
        ),
        "confirm": lambda i: _environ(
            f"/orders/{drafts[i]}/confirm", "PATCH", keyed({"If-Match": "1"}), b'{"totalCents": 5}'
        ),
        "close": lambda i: _environ(
            f"/orders/{confirmed[i]}/close", "POST", keyed({"If-Match": "2"})
        ),
        "list": lambda i: _environ("/orders?limit=20", headers=tenant_header),
    }
    # Warm every path (imports, compiled queries, caches) on orders the runs do not use.
    for name, send in sends.items():
        _expect(name, call(send(requests + 5)))
    _dump("setup")
    for name in OPERATIONS:
        send = sends[name]
        for i in range(requests):
            status = call(send(i))
        _expect(name, status)
        _dump(name)


def _environ(
    path: str, method: str = "GET", headers: dict[str, str] | None = None, body: bytes = b""
) -> dict[str, Any]:
    path, _, query = path.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
    }
    if body:
        environ["CONTENT_TYPE"] = "application/json"
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def _expect(name: str, status: str) -> None:
    if status[:3] not in ("200", "201", "304"):
        raise SystemExit(f"instructions: {name} answered {status}")


def _dump(label: str) -> None:
    """Ask callgrind to write what it counted since the last dump, labelled."""
    subprocess.run(
        ["callgrind_control", f"--dump={label}", str(os.getpid())],
        stdout=subprocess.DEVNULL,
        check=True,
    )


# --- The orchestrator -------------------------------------------------------------------


def _start_callgrind(
    root: Path, out_dir: Path, requests: int, database_url: str
) -> subprocess.Popen[bytes]:
    out_dir.mkdir(parents=True)
    from faults.stack import django_env

    # The app's environment (no stray DJANGO_*/DB_* of the caller's), the access log on.
    env = django_env(database_url, PYTHONHASHSEED="0", LOG_LEVEL="INFO", ACCESS_LOG_LEVEL="INFO")
    with (out_dir / "log").open("wb") as log:
        return subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out_dir}/callgrind.out",
                sys.executable,
                str(Path(__file__).resolve()),
                "--drive",
                str(root),
                "--requests",
                str(requests),
            ],
            cwd=out_dir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _counts(out_dir: Path, requests: int) -> dict[str, float]:
    """Instructions per request of each operation, from callgrind's labelled dumps."""
    counts: dict[str, float] = {}
    for path in out_dir.glob("callgrind.out.*"):
        label = total = None
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("desc: Trigger: dump "):
                label = line.removeprefix("desc: Trigger: dump ").strip()
            elif line.startswith("summary:"):
                total = int(line.split()[1])
                break
        if label in OPERATIONS and total is not None:
            counts[label] = total / requests
    missing = set(OPERATIONS) - counts.keys()
    if missing:
        log = (out_dir / "log").read_text(errors="replace")[-3000:]
        raise SystemExit(f"instructions: no dump for {sorted(missing)}:\n{log}")
    return counts


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--before", help="git revision to compare against")
    parser.add_argument("--requests", type=int, default=50, help="requests per operation")
    parser.add_argument("--drive", metavar="ROOT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.drive:
        drive(Path(args.drive), args.requests)
        return 0
    if not args.before:
        parser.error("name the revision to compare with --before")
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            raise SystemExit(
                f"instructions: {tool} not found; install it: apt-get install valgrind"
            )

    sys.path.insert(0, str(BASE_DIR))
    from benchmarks.run import log
    from benchmarks.versions import compared, write_comparison

    with compared(args.before, name="instr") as (versions, db, workdir):
        roots = {"before": versions.tree, "after": BASE_DIR}
        log(f"callgrind: {args.requests} requests of each operation, both versions at once")
        started = time.monotonic()
        runs = {
            label: _start_callgrind(root, workdir / f"cg-{label}", args.requests, db.url)
            for label, root in roots.items()
        }
        for label, process in runs.items():
            if process.wait() != 0:
                log_text = (workdir / f"cg-{label}" / "log").read_text(errors="replace")
                raise SystemExit(f"instructions: the {label} run failed:\n{log_text[-3000:]}")
        log(f"callgrind runs took {time.monotonic() - started:.0f} s")
        counts = {label: _counts(workdir / f"cg-{label}", args.requests) for label in roots}
    write_comparison(
        "instructions",
        versions,
        "instructions/request",
        [(name, counts["before"][name], counts["after"][name]) for name in OPERATIONS],
        lambda count: f"{count / 1e6:.2f} M",
        {"requests": args.requests, "instructions_per_request": counts},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
