"""Python CPU per request: the app's own cost, robust on a busy machine.

    .venv/bin/python benchmarks/cpu.py [--requests 400]

Throughput on a shared 2-core machine moves with whatever else runs; the CPU time a
gunicorn worker spends per request does not (much). This starts the same stack as
`make bench` with ONE sync worker, sends each operation N times in sequence, and
reports the worker's user+system CPU per request (psutil) and the median wall time.
Used for the before/after figures of each optimisation in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from benchmarks import run  # noqa: E402
from faults.stack import EmbeddedDatabase, migrate, remove_tree, start_server  # noqa: E402


def _requests(
    fixtures: dict[str, Any], n: int
) -> dict[str, list[tuple[str, str, str, dict[str, str]]]]:
    tenant = {"X-Tenant-Id": run.LOAD_TENANT}
    json_body = {"Content-Type": "application/json"}
    lines = {
        op: Path(fixtures["files"][op]).read_text().split() for op in ("get", "confirm", "close")
    }
    ids = {op: values[0::2] for op, values in lines.items()}
    replay_key = uuid.uuid4().hex
    return {
        "create": [
            ("POST", "/orders", "{}", {**tenant, **json_body, "Idempotency-Key": uuid.uuid4().hex})
            for _ in range(n)
        ],
        "replay": [
            ("POST", "/orders", "{}", {**tenant, **json_body, "Idempotency-Key": replay_key})
            for _ in range(n + 1)
        ],
        "get": [("GET", f"/orders/{ids['get'][i]}", "", tenant) for i in range(n)],
        "get_not_modified": [
            ("GET", f"/orders/{ids['get'][i]}", "", {**tenant, "If-None-Match": "*"})
            for i in range(n)
        ],
        "confirm": [
            (
                "PATCH",
                f"/orders/{ids['confirm'][i]}/confirm",
                '{"totalCents": 4200}',
                {**tenant, **json_body, "If-Match": "1", "Idempotency-Key": uuid.uuid4().hex},
            )
            for i in range(n)
        ],
        "close": [
            (
                "POST",
                f"/orders/{ids['close'][i]}/close",
                "",
                {**tenant, "If-Match": "2", "Idempotency-Key": uuid.uuid4().hex},
            )
            for i in range(n)
        ],
        "list_first": [("GET", "/orders?limit=20", "", tenant) for _ in range(n)],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--label", default="cpu")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-cpu-"))
    db = None
    results: dict[str, Any] = {}
    try:
        db = EmbeddedDatabase(workdir, dbname="orders_bench", server_options=run.SERVER_OPTIONS)
        migrate(db.url)
        mode = run.QUICK
        run.seed(db.url, mode)
        run.setup_django(db.url)
        fixtures = run.prepare_fixtures(workdir, mode)
        server = start_server(db.url, workdir, workers=1, GUNICORN_THREADS="1", LOG_LEVEL="INFO")
        try:
            worker = server.workers()[0]
            for op, requests in _requests(fixtures, args.requests).items():
                walls = []
                before = worker.cpu_times()
                for method, path, body, headers in requests:
                    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                    started = time.perf_counter()
                    conn.request(method, path, body or None, headers)
                    response = conn.getresponse()
                    response.read()
                    walls.append(time.perf_counter() - started)
                    conn.close()
                    if response.status >= 400:
                        raise SystemExit(f"{op}: HTTP {response.status} for {path}")
                after = worker.cpu_times()
                cpu = (after.user + after.system) - (before.user + before.system)
                results[op] = {
                    "cpu_us_per_request": round(cpu / len(requests) * 1e6),
                    "wall_p50_ms": round(statistics.median(walls) * 1000, 2),
                }
                print(
                    f"{op:18} {results[op]['cpu_us_per_request']:6} µs CPU/request, "
                    f"p50 {results[op]['wall_p50_ms']} ms"
                )
        finally:
            server.stop()
    finally:
        if db is not None:
            db.close()
        remove_tree(workdir)
    out = run.RESULTS_DIR / f"{args.label}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
