"""Outbox relay benchmark: throughput with publisher confirms, commit-to-publish latency.

    make bench-relay                       # full run
    make bench-relay BENCH_ARGS=--quick    # a smaller run, same shape

Prints its report and keeps it in benchmarks/results/relay-run.md (ignored by git).

Runs on a throwaway database (test_<DATABASE_URL's name>, created and dropped here)
against the real RabbitMQ at BENCH_BROKER_URL / TEST_BROKER_URL (default
amqp://guest:guest@127.0.0.1:5672/%2F), on an exchange of its own.

1. Throughput: N committed events of N orders; one relay (in process) drains them, then
   three relay processes drain another N. Events/s counts only broker-confirmed,
   marked-published events, from the relay's start to the last mark.
2. Latency: a writer commits events one transaction each at a steady rate while one
   relay runs woken by LISTEN/NOTIFY; latency is commit (measured after COMMIT returns)
   to `published_at` (marked after the broker confirmed), and to arrival at a consumer.
"""

import argparse
import os
import platform
import re
import secrets
import statistics
import subprocess
import sys
import threading
import time
import uuid
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

from outbox.backoff import Backoff  # noqa: E402
from outbox.publishers import RabbitMQPublisher  # noqa: E402
from outbox.relay import Relay  # noqa: E402
from outbox.repository import OutboxRepository  # noqa: E402

RESULTS = BASE_DIR / "benchmarks" / "results" / "relay-run.md"


class Arrivals:
    """A consumer thread recording when each message_id first arrived."""

    def __init__(self, url: str, exchange: str) -> None:
        self.url, self.exchange = url, exchange
        self.first_seen: dict[str, float] = {}
        self.total = 0
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
            self.total += 1
            self.first_seen.setdefault(properties.message_id, time.time())
            channel.basic_ack(method.delivery_tag)
        channel.cancel()
        channel.exchange_delete(self.exchange)
        conn.close()

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.first_seen) < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(self.first_seen)}/{count} messages arrived")
            time.sleep(0.01)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


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


def pending() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return int(cursor.fetchone()[0])


def relay(url: str, exchange: str, batch_size: int, **options: object) -> Relay:
    publisher = RabbitMQPublisher(url=url, exchange=exchange, publish_timeout=10.0)
    return Relay(
        publisher=publisher,
        batch_size=batch_size,
        poll_interval=options.pop("poll_interval", 1.0),  # type: ignore[arg-type]
        max_attempts=10,
        backoff=Backoff(base=0.1, maximum=1.0),
        **options,  # type: ignore[arg-type]
    )


def one_relay_throughput(url: str, exchange: str, count: int, batch_size: int) -> float:
    seed(count)
    started = time.monotonic()
    stats = relay(url, exchange, batch_size, once=True).run()
    elapsed = time.monotonic() - started
    assert stats.published == count, stats  # noqa: S101
    return count / elapsed


def three_relays_throughput(url: str, exchange: str, count: int, batch_size: int) -> float:
    seed(count)
    parts = urlsplit(os.environ["DATABASE_URL"])
    env = {
        **os.environ,
        "DATABASE_URL": urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"])),
        "OUTBOX_BROKER_URL": url,
        "OUTBOX_EXCHANGE": exchange,
    }
    command = [sys.executable, str(BASE_DIR / "manage.py"), "outbox_relay", "--once"]
    command += ["--batch-size", str(batch_size)]
    started = time.monotonic()
    processes = [
        subprocess.Popen(command, env=env, cwd=BASE_DIR, stderr=subprocess.DEVNULL)  # noqa: S603
        for _ in range(3)
    ]
    for process in processes:
        process.wait(timeout=600)
    elapsed = time.monotonic() - started
    left = pending()
    if left:
        raise SystemExit(f"three relays left {left} events pending")
    return count / elapsed


def latency(url: str, exchange: str, arrivals: Arrivals, rate: int, seconds: float) -> dict:
    stop = threading.Event()
    running = relay(url, exchange, 100, stop=stop, poll_interval=5.0)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    time.sleep(1.0)  # connected and listening
    committed: dict[uuid.UUID, float] = {}
    repository = OutboxRepository(tenant_id="tenant-1")
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
                payload={"n": i},
            )
        committed[event.id] = time.time()
    deadline = time.monotonic() + 60
    while pending() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=30)
    arrivals.wait_for(len(arrivals.first_seen), 1)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, extract(epoch FROM published_at) FROM outbox WHERE id = ANY(%s)",
            [list(committed)],
        )
        published = {row[0]: float(row[1]) for row in cursor.fetchall()}
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Fewer events, shorter runs.")
    args = parser.parse_args()
    url = os.environ.get("BENCH_BROKER_URL") or os.environ.get(
        "TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"
    )
    count, rate, seconds = (2000, 100, 3.0) if args.quick else (20000, 200, 15.0)
    batch_size = 100
    exchange = f"orders.events.bench.{secrets.token_hex(4)}"

    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    arrivals = Arrivals(url, exchange)
    try:
        info = machine(url)
        one = one_relay_throughput(url, exchange, count, batch_size)
        three = three_relays_throughput(url, exchange, count, batch_size)
        lat = latency(url, exchange, arrivals, rate, seconds)
    finally:
        arrivals.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)

    rows = "\n".join(
        [
            "| measurement | result |",
            "| --- | --- |",
            (
                f"| throughput, 1 relay, batch {batch_size}, {count} events "
                f"| **{one:,.0f} events/s** |"
            ),
            (
                f"| throughput, 3 relay processes, batch {batch_size}, {count} events "
                f"| **{three:,.0f} events/s** (incl. process start-up) |"
            ),
            (
                f"| commit → published (confirmed and marked), {lat['events']} events "
                f"at {lat['rate']}/s | p50 **{lat['publish_p50']:.1f} ms**, "
                f"p99 **{lat['publish_p99']:.1f} ms** |"
            ),
            (
                f"| commit → arrival at a consumer | p50 {lat['arrival_p50']:.1f} ms, "
                f"p99 {lat['arrival_p99']:.1f} ms ({lat['arrived']} arrived) |"
            ),
        ]
    )
    command = "make bench-relay" + (" BENCH_ARGS=--quick" if args.quick else "")
    report = f"""
## Outbox relay

Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{command}` (`benchmarks/relay_bench.py`),
against a local RabbitMQ with publisher confirms (persistent, mandatory messages, one
confirm per message) and PostgreSQL, on the same machine.

| machine | |
| --- | --- |
| CPU | {info["cpu"]} |
| OS | {info["os"]} |
| Python | {info["python"]} |
| PostgreSQL | {info["postgres"]} |
| RabbitMQ | {info["rabbitmq"]} |

{rows}

Throughput is bounded by one confirm round trip per message on one channel per relay;
latency is NOTIFY wake-up plus one claim, publish, confirm and mark. A consumer can see a
message before `published_at` is set: the batch is marked after its last confirm. Everything
(PostgreSQL, RabbitMQ, relays, writer, consumer) shares the same 2-core machine.
"""
    sys.stdout.write(report)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(report.lstrip())
    sys.stdout.write(f"\nwritten to {RESULTS.relative_to(BASE_DIR)}\n")


if __name__ == "__main__":
    main()
