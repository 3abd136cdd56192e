"""CPU per request of one operation, in process, and where it goes.

    make profile OP=get                          # µs of CPU per request, best of 5 rounds
    make profile OP=list BENCH_ARGS=--profile    # and where it goes, by package

Calls the app's WSGI handler directly with the production settings (DEBUG off, the
trusted-header mode, multiprocess metrics, the JSON access line formatted and written to
/dev/null): no gunicorn, no sockets, no other process on the cores. The figures are the
app's own cost in a warm loop; under gunicorn each request also pays the server's
accept/parse/write/close and runs with colder caches (docs/BENCHMARKS.md, "Where the
time goes"). It migrates the database it is given, works in a tenant of its own and
deletes that tenant's rows at the end.
"""

import argparse
import cProfile
import io
import json
import logging
import os
import pstats
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.update(
    DJANGO_SETTINGS_MODULE="orders_project.settings",
    DJANGO_DEBUG="false",
    TENANT_AUTH_MODE="trusted-header",
    PROMETHEUS_MULTIPROC_DIR=tempfile.mkdtemp(prefix="orders-profile-"),
)

from django.core.management import call_command  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()  # sets Django up, its logging included

from idempotency.models import IdempotencyKey  # noqa: E402
from orders.models import Order  # noqa: E402
from outbox.models import OutboxEvent  # noqa: E402

OPERATIONS = ("healthz", "get", "get304", "list", "create", "replay", "confirm", "close")
BODY = b'{"totalCents": 1234}'
Reply = tuple[str, dict[str, str], bytes]


def call(method: str, path: str, tenant: str, body: bytes = b"", **headers: str) -> Reply:
    """One request through the WSGI handler, as gunicorn would pass it."""
    path_info, _, query = path.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_X_TENANT_ID": tenant,
        "wsgi.input": io.BytesIO(body),
    }
    setup_testing_defaults(environ)  # the rest of a WSGI environ (host 127.0.0.1)
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["CONTENT_TYPE"] = "application/json"
    for name, value in headers.items():
        environ["HTTP_" + name.upper()] = value
    answer: dict[str, object] = {}

    def start_response(
        status: str, response_headers: list[tuple[str, str]], exc_info: Any = None, /
    ) -> Callable[[bytes], object]:
        answer["status"], answer["headers"] = status, dict(response_headers)
        return lambda data: None  # WSGI's write(): the handler never calls it

    chunks = application(environ, start_response)
    content = b"".join(chunks)
    chunks.close()
    return str(answer["status"]), answer["headers"], content  # type: ignore[return-value]


def expect(reply: Reply, status: str) -> Reply:
    if not reply[0].startswith(status):
        raise SystemExit(f"profile: expected {status}, got {reply[0]}: {reply[2][:300]!r}")
    return reply


def operation(name: str, tenant: str, count: int) -> Callable[[int], Reply]:
    """`request(i)` sends the i-th request of `name` (each write on an order of its own)."""

    def create(key: str | None = None) -> str:
        key = key or uuid.uuid4().hex
        reply = expect(call("POST", "/orders", tenant, BODY, IDEMPOTENCY_KEY=key), "201")
        return str(json.loads(reply[2])["id"])

    def confirm(order_id: str) -> Reply:
        return call(
            "PATCH",
            f"/orders/{order_id}/confirm",
            tenant,
            b'{"totalCents": 5}',
            IDEMPOTENCY_KEY=uuid.uuid4().hex,
            IF_MATCH='"1"',
        )

    order_id = create()
    for _ in range(30):
        create()
    if name == "healthz":
        return lambda i: call("GET", "/healthz", tenant)
    if name == "get":
        return lambda i: call("GET", f"/orders/{order_id}", tenant)
    if name == "get304":
        etag = call("GET", f"/orders/{order_id}", tenant)[1]["ETag"]
        return lambda i: call("GET", f"/orders/{order_id}", tenant, IF_NONE_MATCH=etag)
    if name == "list":
        return lambda i: call("GET", "/orders?limit=20", tenant)
    if name == "create":
        return lambda i: call("POST", "/orders", tenant, BODY, IDEMPOTENCY_KEY=uuid.uuid4().hex)
    if name == "replay":
        key = uuid.uuid4().hex
        create(key)
        return lambda i: call("POST", "/orders", tenant, BODY, IDEMPOTENCY_KEY=key)
    orders = [create() for _ in range(count)]
    if name == "confirm":
        return lambda i: confirm(orders[i])
    for each in orders:
        expect(confirm(each), "200")
    return lambda i: call(
        "POST", f"/orders/{orders[i]}/close", tenant, b"{}", IDEMPOTENCY_KEY=uuid.uuid4().hex
    )


def timed_round(request: Callable[[int], Reply], first: int, count: int) -> float:
    """CPU µs per request of requests first … first + count - 1."""
    started = time.process_time()
    for i in range(first, first + count):
        request(i)
    return (time.process_time() - started) / count * 1e6


def by_package(stats: pstats.Stats, requests: int) -> list[tuple[str, float]]:
    """CPU µs per request spent in each package's own code (cProfile's tottime)."""
    totals: Counter[str] = Counter()
    # Stats.stats, the table pstats itself prints from: get_stats_profile() keys it by the
    # bare function name, which would fold every `__init__` and `__call__` into one.
    for (filename, _, _), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        if "site-packages/" in filename:
            name = "/".join(filename.split("site-packages/")[1].split("/")[:2])
        elif filename.startswith(str(BASE_DIR)):
            name = "(this project) " + os.path.relpath(filename, BASE_DIR)
        elif filename == "~":
            name = "(built-ins)"
        else:
            name = "(standard library)"
        totals[name] += own
    return [(name, seconds / requests * 1e6) for name, seconds in totals.most_common()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--op", choices=OPERATIONS, default="get")
    parser.add_argument("--requests", type=int, default=2000, help="per round (5 rounds)")
    parser.add_argument("--profile", action="store_true", help="and where the CPU goes")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    for handler in logging.getLogger().handlers:  # the access line: formatted, not shown
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 (open while we run)
    tenant = "profile-" + uuid.uuid4().hex[:8]
    rounds, warm_up, n = 5, 200, args.requests
    # Requests 0 … warm_up - 1 warm the connection, prepared statements and caches; then
    # `rounds` timed rounds of n, then n under the profiler.
    try:
        request = operation(args.op, tenant, warm_up + (rounds + 1) * n)
        expect(request(0), "2" if args.op != "get304" else "304")
        for i in range(1, warm_up):
            request(i)
        best = min(timed_round(request, warm_up + r * n, n) for r in range(rounds))
        print(f"{args.op}: {best:.0f} µs of CPU per request (best of {rounds} rounds of {n})")
        if args.profile:
            first = warm_up + rounds * n
            profiler = cProfile.Profile(time.process_time)
            profiler.runcall(lambda: [request(i) for i in range(first, first + n)])
            print("CPU per request by package, under cProfile (which slows every call):")
            for name, micros in by_package(pstats.Stats(profiler), n)[:25]:
                print(f"{micros:9.1f} µs  {name}")
    finally:
        OutboxEvent.objects.filter(tenant_id=tenant).delete()
        IdempotencyKey.objects.filter(tenant_id=tenant).delete()
        Order.objects.filter(tenant_id=tenant).delete()


if __name__ == "__main__":
    main()
