"""Outbox relay benchmark: throughput with publisher confirms, commit-to-publish latency.

    make bench-relay                                  # this checkout
    make bench-relay BEFORE=<rev>                     # <rev> and this checkout, in turns
    make bench-relay BENCH_ARGS='--quick --rounds 2'  # a smaller run, same shape

Prints its report and keeps it in benchmarks/results/relay-run.md (ignored by git).

Runs on a throwaway database (test_<DATABASE_URL's name>, created and dropped here)
against the real RabbitMQ at BENCH_BROKER_URL / TEST_BROKER_URL (default
amqp://guest:guest@127.0.0.1:5672/%2F), on an exchange of its own. Every relay is a
`manage.py outbox_relay` process, as in production; with BEFORE, that revision is
checked out in a temporary git worktree and its relay runs on the same database (the
schema must not have changed) right after or before this checkout's, round by round.

1. Throughput: N committed events of N orders; one relay process (`--once`) drains
   them, then three processes drain another N. Events/s counts broker-confirmed,
   marked-published events from the first batch's mark to the last one: the
   processes' start-up (Python, Django, connecting) is not the relay's speed.
2. Latency: a writer commits events one transaction each at a steady rate while one
   relay process runs woken by LISTEN/NOTIFY; latency is commit (measured after COMMIT
   returns) to `published_at` (marked after the broker confirmed), and to arrival at a
   consumer.
"""

import argparse
import contextlib
import os
import platform
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orders_project.settings")

import django  # noqa: E402

django.setup()

import pika  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from benchmarks.ab import checked_out  # noqa: E402
from benchmarks.run import git  # noqa: E402
from outbox.repository import OutboxRepository  # noqa: E402

RESULTS = BASE_DIR / "benchmarks" / "results" / "relay-run.md"


@dataclass(frozen=True)
class Tree:
    """A checkout whose relay is measured."""

    label: str
    path: Path


class Arrivals:
    """A consumer thread recording when each message_id first arrived."""

    def __init__(self, url: str, exchange: str) -> None:
        self.url, self.exchange = url, exchange
        self.first_seen: dict[str, float] = {}
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.ready.wait(10):
            raise SystemExit("consumer could not connect to RabbitMQ")

    def _run(self) -> None:
        conn = pika.BlockingConnection(pika.URLParameters(self.url))
        channel = conn.channel()
        channel.exchange_declare(exchange=self.exchange, exchange_type="topic", durable=True)
        queue = channel.queue_declare(queue="", exclusive=True).method.queue
        channel.queue_bind(queue=queue, exchange=self.exchange, routing_key="#")
        channel.basic_qos(prefetch_count=1000)
        self.ready.set()
        for method, properties, _ in channel.consume(queue, inactivity_timeout=0.1):
            if self.stop.is_set():
                break
            if method is None:
                continue
            self.first_seen.setdefault(properties.message_id, time.time())
            channel.basic_ack(method.delivery_tag)
        channel.cancel()
        conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


class Sink:
    """A queue bound to the exchange with '#' and nobody consuming it: the relay's
    mandatory messages are routed, and the broker is the only other party working."""

    def __init__(self, url: str, exchange: str) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        self.exchange = exchange
        self.channel.exchange_declare(exchange=exchange, exchange_type="topic", durable=True)
        self.queue = self.channel.queue_declare(queue="", exclusive=True).method.queue
        self.channel.queue_bind(queue=self.queue, exchange=exchange, routing_key="#")

    def purge(self) -> None:
        self.channel.queue_purge(self.queue)

    def close(self) -> None:
        self.connection.close()  # the queue is exclusive: it goes with the connection


def delete_exchange(url: str, exchange: str) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(url))
    conn.channel().exchange_delete(exchange)
    conn.close()


def reset() -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE outbox")


def seed(count: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO outbox (id, tenant_id, aggregate_type, aggregate_id, event_type,
                                payload, created_at, attempts, last_error)
            SELECT gen_random_uuid(), 'tenant-1', 'order', gen_random_uuid(),
                   'orders.closed', jsonb_build_object('n', n, 'totalCents', 5000), now(), 0, ''
            FROM generate_series(1, %s) AS n
            """,
            [count],
        )
        cursor.execute("ANALYZE outbox")


def pending() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return int(cursor.fetchone()[0])


def marked_rate() -> float:
    """Events marked after the first batch's mark, per second until the last mark."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FILTER (WHERE published_at > first.at),
                   extract(epoch FROM max(published_at) - first.at)
            FROM outbox, (SELECT min(published_at) AS at FROM outbox) AS first
            GROUP BY first.at
            """
        )
        events, seconds = cursor.fetchone()
    return float(events) / float(seconds)


def relay_processes(
    tree: Tree, count: int, env: dict[str, str], *args: str
) -> list[subprocess.Popen[bytes]]:
    command = [sys.executable, str(tree.path / "manage.py"), "outbox_relay", *args]
    return [
        subprocess.Popen(command, env=env, cwd=tree.path, stderr=subprocess.DEVNULL)  # noqa: S603
        for _ in range(count)
    ]


def throughput(tree: Tree, env: dict[str, str], sink: Sink, *, relays: int, count: int) -> float:
    """Events/s of `relays` processes draining a backlog of `count` events."""
    reset()
    sink.purge()
    seed(count)
    processes = relay_processes(tree, relays, env, "--once")
    for process in processes:
        process.wait(timeout=900)
    if left := pending():
        raise SystemExit(f"{tree.label}: {relays} relay(s) left {left} events pending")
    sink.purge()
    return marked_rate()


def latency(
    tree: Tree, env: dict[str, str], arrivals: Arrivals, rate: int, seconds: float
) -> dict:
    """Commit → published and commit → arrival, one relay, `rate` events/s."""
    reset()
    (process,) = relay_processes(tree, 1, {**env, "OUTBOX_POLL_INTERVAL": "5"})
    repository = OutboxRepository(tenant_id="tenant-1")
    try:
        # One event first: the relay has started, connected and is listening.
        with transaction.atomic():
            repository.add(
                aggregate_type="order",
                aggregate_id=uuid.uuid4(),
                event_type="orders.closed",
                payload={"n": 0},
            )
        deadline = time.monotonic() + 60
        while pending():
            if time.monotonic() > deadline:
                raise SystemExit(f"{tree.label}: the relay published nothing in 60 s")
            time.sleep(0.05)
        committed: dict[uuid.UUID, float] = {}
        interval, total = 1.0 / rate, int(rate * seconds)
        start = time.monotonic()
        for i in range(total):
            delay = start + i * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            with transaction.atomic():
                event = repository.add(
                    aggregate_type="order",
                    aggregate_id=uuid.uuid4(),
                    event_type="orders.closed",
                    payload={"n": i + 1},
                )
            committed[event.id] = time.time()
        deadline = time.monotonic() + 60
        while pending() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    time.sleep(0.5)  # the last arrivals
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, extract(epoch FROM published_at) FROM outbox WHERE id = ANY(%s)",
            [list(committed)],
        )
        published = {row[0]: float(row[1]) for row in cursor.fetchall() if row[1] is not None}
    if len(published) < len(committed):
        raise SystemExit(f"{tree.label}: {len(committed) - len(published)} events not published")
    to_publish = sorted((published[i] - t) * 1000 for i, t in committed.items())
    to_arrival = sorted(
        (arrivals.first_seen[str(i)] - t) * 1000
        for i, t in committed.items()
        if str(i) in arrivals.first_seen
    )
    return {
        "events": total,
        "rate": rate,
        "publish_p50": percentile(to_publish, 50),
        "publish_p99": percentile(to_publish, 99),
        "arrival_p50": percentile(to_arrival, 50),
        "arrival_p99": percentile(to_arrival, 99),
        "arrived": len(to_arrival),
    }


def percentile(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def machine(url: str) -> dict[str, str]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        match = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        cpu = match.group(1).strip() if match else cpu
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    conn = pika.BlockingConnection(pika.URLParameters(url))
    # pika shows the broker's announced properties on its connection implementation only.
    rabbit = conn._impl.server_properties.get("version", b"?")  # noqa: SLF001
    conn.close()
    return {
        "cpu": f"{cpu} ({os.cpu_count()} cores)",
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "postgres": postgres,
        "rabbitmq": rabbit.decode() if isinstance(rabbit, bytes) else str(rabbit),
    }


@contextlib.contextmanager
def trees(before: str | None) -> Iterator[list[Tree]]:
    """This checkout, preceded by `before` checked out in a temporary worktree."""
    dirty = "+changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    after = Tree(f"this checkout ({git('rev-parse', '--short', 'HEAD')}{dirty})", BASE_DIR)
    if before is None:
        yield [after]
        return
    with (
        tempfile.TemporaryDirectory(prefix="relay-bench-") as workdir,
        checked_out(before, Path(workdir)) as path,
    ):
        yield [Tree(f"before ({git('rev-parse', '--short', before)})", path), after]


def table(labels: list[str], rows: list[tuple[str, list[str]]]) -> str:
    lines = [
        "| measurement | " + " | ".join(labels) + " |",
        "| --- |" + " ---: |" * len(labels),
    ]
    lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows]
    return "\n".join(lines)


@dataclass
class Results:
    """Per checkout label: events/s of each throughput run, and the latency figures."""

    one: dict[str, list[float]] = field(default_factory=dict)
    three: dict[str, list[float]] = field(default_factory=dict)
    latency: dict[str, dict[str, float]] = field(default_factory=dict)


def measure(args: argparse.Namespace, url: str, exchange: str) -> Results:
    """Every run, on a throwaway database of its own."""
    count, rate, seconds = sizes(args.quick)
    old_name = connection.settings_dict["NAME"]
    # A name of its own, so that a test run on the same server is not disturbed.
    connection.settings_dict["TEST"]["NAME"] = f"relay_bench_{old_name}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    parts = urlsplit(os.environ["DATABASE_URL"])
    env = {
        **os.environ,
        "DATABASE_URL": urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"])),
        "OUTBOX_BROKER_URL": url,
        "OUTBOX_EXCHANGE": exchange,
        "OUTBOX_BATCH_SIZE": str(args.batch_size),
    }
    results = Results()
    try:
        with trees(args.before) as checkouts:
            # An idle blocking connection misses heartbeats: each phase has its own.
            sink = Sink(url, exchange)
            try:
                for _ in range(args.rounds):
                    for relays, runs in ((1, results.one), (3, results.three)):
                        for tree in checkouts:
                            runs.setdefault(tree.label, []).append(
                                throughput(tree, env, sink, relays=relays, count=count)
                            )
            finally:
                sink.close()
            arrivals = Arrivals(url, exchange)
            try:
                for tree in checkouts:
                    results.latency[tree.label] = latency(tree, env, arrivals, rate, seconds)
            finally:
                arrivals.close()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        delete_exchange(url, exchange)
    return results


def sizes(quick: bool) -> tuple[int, int, float]:
    """Backlog events, latency events/s, latency seconds."""
    return (2000, 100, 3.0) if quick else (20000, 500, 20.0)


def report_rows(args: argparse.Namespace, results: Results) -> str:
    count, rate, seconds = sizes(args.quick)
    labels = list(results.one)
    one, three, lat = results.one, results.three, results.latency

    def rate_cell(runs: list[float]) -> str:
        spread = f" ({', '.join(f'{r:,.0f}' for r in runs)})" if len(runs) > 1 else ""
        return f"**{statistics.median(runs):,.0f}**{spread}"

    def ratio(upper: list[float], lower: list[float]) -> float:
        return statistics.median(upper) / statistics.median(lower)

    rows = [
        (f"events/s, 1 relay, {count} events", [rate_cell(one[label]) for label in labels]),
        (f"events/s, 3 relays, {count} events", [rate_cell(three[label]) for label in labels]),
        ("3 relays ÷ 1 relay", [f"{ratio(three[label], one[label]):.2f}" for label in labels]),
        (
            f"commit → published, {rate}/s for {seconds:.0f} s: p50 / p99 ms",
            [
                f"{lat[label]['publish_p50']:.1f} / **{lat[label]['publish_p99']:.1f}**"
                for label in labels
            ],
        ),
        (
            "commit → arrival at a consumer: p50 / p99 ms",
            [
                f"{lat[label]['arrival_p50']:.1f} / {lat[label]['arrival_p99']:.1f}"
                f" ({lat[label]['arrived']:.0f} arrived)"
                for label in labels
            ],
        ),
    ]
    if len(labels) == 2:
        before, after = labels
        rows.append(("1 relay: after ÷ before", ["", f"**{ratio(one[after], one[before]):.2f}**"]))
        rows.append(
            ("3 relays: after ÷ before", ["", f"**{ratio(three[after], three[before]):.2f}**"])
        )
    return table(labels, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Fewer events, shorter runs.")
    parser.add_argument("--before", help="git revision whose relay to measure as well")
    parser.add_argument("--rounds", type=int, default=1, help="throughput runs per relay count")
    parser.add_argument(
        "--batch-size", type=int, default=500, help="events per relay batch (OUTBOX_BATCH_SIZE)"
    )
    args = parser.parse_args()
    url = os.environ.get("BENCH_BROKER_URL") or os.environ.get(
        "TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"
    )
    info = machine(url)
    results = measure(args, url, f"orders.events.bench.{secrets.token_hex(4)}")

    command = "make bench-relay" + (f" BEFORE={args.before}" if args.before else "")
    extra = [a for a in sys.argv[1:] if a not in ("--before", args.before)]
    if extra:
        command += f" BENCH_ARGS='{' '.join(extra)}'"
    report = f"""
## Outbox relay

Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{command}` (`benchmarks/relay_bench.py`):
relay processes against a local RabbitMQ (publisher confirms, persistent and mandatory
messages), batches of {args.batch_size}, {args.rounds} round(s) (median, each run in
brackets), PostgreSQL on the same machine.

| machine | |
| --- | --- |
| CPU | {info["cpu"]} |
| OS | {info["os"]} |
| Python | {info["python"]} |
| PostgreSQL | {info["postgres"]} |
| RabbitMQ | {info["rabbitmq"]} |

{report_rows(args, results)}

Throughput counts the events marked after the first batch's mark, per second until the
last mark. Latency is NOTIFY wake-up plus one claim, publish, confirm and mark; a
consumer can see a message before `published_at` is set. Everything (PostgreSQL,
RabbitMQ, relays, writer, consumer) shares this machine's cores.
"""
    sys.stdout.write(report)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(report.lstrip())
    sys.stdout.write(f"\nwritten to {RESULTS.relative_to(BASE_DIR)}\n")


if __name__ == "__main__":
    main()
