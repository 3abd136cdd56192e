"""`make bench-relay`: how many events a second one outbox relay publishes, with confirms.

    make bench-relay                            # 20,000 events, 3 rounds
    make bench-relay BENCH_ARGS='--quick'       # 2,000 events, 1 round

On a PostgreSQL of its own (as `make bench`) and the RabbitMQ at BENCH_BROKER_URL or
TEST_BROKER_URL (default: the local guest), on an exchange of its own: each round, one
`manage.py outbox_relay --once` drains a backlog, and every event must reach the queue.
docs/BENCHMARKS.md says what the figure counts.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pika
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.stack import BASE_DIR, app_env, database, log, manage, revision

AIM = 5000
BACKLOG = """
INSERT INTO outbox (id, tenant_id, aggregate_type, aggregate_id, event_type, payload,
                    created_at, attempts, last_error)
SELECT gen_random_uuid(), 'tenant-1', 'order', gen_random_uuid(), 'orders.closed',
       jsonb_build_object('n', n, 'totalCents', 5000), now(), 0, ''
FROM generate_series(1, %s) AS n
"""
# Events marked after the first batch's mark, and the seconds from that mark to the last.
RATE = """
SELECT count(*) FILTER (WHERE published_at > first.at),
       extract(epoch FROM max(published_at) - first.at)
FROM outbox, (SELECT min(published_at) AS at FROM outbox) AS first
GROUP BY first.at
"""


def one_round(url: str, env: dict[str, str], channel: object, queue: str, events: int) -> float:
    """A backlog of `events`, drained by one relay process; its events/s."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE outbox")
        conn.execute(BACKLOG, [events])
        conn.execute("ANALYZE outbox")
    command = [sys.executable, "manage.py", "outbox_relay", "--once"]
    subprocess.run(command, cwd=BASE_DIR, env=env, check=True, timeout=900)
    with psycopg.connect(url, autocommit=True) as conn:
        pending = conn.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        if left := pending.fetchall()[0][0]:
            raise SystemExit(f"relay: {left} events left pending")
        marked, seconds = conn.execute(RATE).fetchall()[0]
    arrived = channel.queue_declare(queue=queue, passive=True).method.message_count  # type: ignore[attr-defined]
    if arrived != events:
        raise SystemExit(f"relay: {arrived} of {events} events reached the queue")
    channel.queue_purge(queue)  # type: ignore[attr-defined]
    return float(marked) / float(seconds)


def main(argv: list[str]) -> int:
    """Run the rounds and print the figures; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 events, 1 round")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=500, help="OUTBOX_BATCH_SIZE")
    args = parser.parse_args(argv)
    events, rounds = (2000, 1) if args.quick else (args.events, args.rounds)
    broker = os.environ.get("BENCH_BROKER_URL") or os.environ.get(
        "TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"
    )
    exchange = f"orders.events.bench.{secrets.token_hex(4)}"
    connection = pika.BlockingConnection(pika.URLParameters(broker))
    channel = connection.channel()
    channel.exchange_declare(exchange=exchange, exchange_type="topic", durable=True)
    queue = channel.queue_declare(queue="", exclusive=True).method.queue
    channel.queue_bind(queue=queue, exchange=exchange, routing_key="#")
    rates = []
    try:
        with (
            tempfile.TemporaryDirectory(prefix="bench-relay-") as tmp,
            database(Path(tmp), "orders_relay") as url,
        ):
            manage(url, "migrate", "--noinput", "-v", "0")
            env = app_env(
                url,
                OUTBOX_BROKER_URL=broker,
                OUTBOX_EXCHANGE=exchange,
                OUTBOX_BATCH_SIZE=str(args.batch_size),
                LOG_LEVEL="WARNING",
            )
            for n in range(1, rounds + 1):
                rates.append(one_round(url, env, channel, queue, events))
                log(f"round {n}: {rates[-1]:,.0f} events/s")
    finally:
        channel.exchange_delete(exchange)
        connection.close()
    median = statistics.median(rates)
    print(
        f"One relay, {events:,} events, batches of {args.batch_size}, commit {revision()}: "
        f"**{median:,.0f} events/s** (median of {rounds}: "
        f"{', '.join(f'{r:,.0f}' for r in rates)}); aim {AIM:,}: "
        f"{'met' if median >= AIM else 'not met'}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
