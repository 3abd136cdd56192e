"""Test helpers: a scripted publisher, a relay in a thread, a RabbitMQ consumer, a
cuttable TCP proxy, and a way to run `manage.py outbox_relay` as a real process against
the test database."""

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pika
from django.conf import settings

from orders_project.tests import child_database_url
from outbox.backoff import Backoff
from outbox.publishers import PUBLISHED, Outcome, Publisher
from outbox.relay import Relay
from outbox.repository import ClaimedEvent

BASE_DIR = Path(settings.BASE_DIR)


class FakePublisher:
    """Records what it was asked to publish; answers from `verdicts` (default: confirmed)."""

    def __init__(self, verdicts: Callable[[ClaimedEvent], Outcome] | None = None) -> None:
        self.verdicts = verdicts or (lambda event: PUBLISHED)
        self.sent: list[ClaimedEvent] = []
        self.lock = threading.Lock()
        self.down = False
        self.keep_alives = 0

    def connect(self) -> None:
        from outbox.errors import BrokerUnavailable  # noqa: PLC0415

        if self.down:
            raise BrokerUnavailable("fake broker is down")

    def publish(self, events: Sequence[ClaimedEvent]) -> list[Outcome]:
        with self.lock:
            self.sent.extend(events)
        return [self.verdicts(event) for event in events]

    def keep_alive(self) -> None:
        self.keep_alives += 1

    def close(self) -> None:
        return None


class RelayThread:
    """A relay running in a thread, as it would in its own process, until the block ends."""

    def __init__(self, publisher: Publisher, **options: object) -> None:
        self.stop = threading.Event()
        settings: dict[str, object] = {
            "batch_size": 10,
            "poll_interval": 0.2,
            "max_attempts": 3,
            "backoff": Backoff(base=0.05, maximum=0.2),
            **options,
        }
        self.relay = Relay(publisher=publisher, stop=self.stop, **settings)  # type: ignore[arg-type]
        self.thread = threading.Thread(target=self.relay.run, daemon=True)

    def __enter__(self) -> "RelayThread":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "relay did not stop"


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `predicate` until true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def unique_name(prefix: str) -> str:
    return f"{prefix}.{secrets.token_hex(4)}"


@dataclass(frozen=True)
class Received:
    """One message as a consumer saw it."""

    message_id: str
    routing_key: str
    headers: dict[str, Any]
    body: bytes
    properties: Any


class Consumer:
    """An exclusive queue bound to `exchange` with '#', read with basic_get."""

    def __init__(self, url: str, exchange: str) -> None:
        self.exchange = exchange
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        # Same arguments as the relay's declaration, or the broker refuses one of them.
        self.channel.exchange_declare(exchange=exchange, exchange_type="topic", durable=True)
        self.queue = self.channel.queue_declare(queue="", exclusive=True).method.queue
        self.channel.queue_bind(queue=self.queue, exchange=exchange, routing_key="#")
        self.received: list[Received] = []

    def poll(self) -> list[Received]:
        """Fetch everything waiting now; return all messages seen so far."""
        while True:
            method, properties, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                return self.received
            self.received.append(
                Received(
                    message_id=properties.message_id,
                    routing_key=method.routing_key,
                    headers=properties.headers or {},
                    body=body,
                    properties=properties,
                )
            )

    def wait_for_distinct(self, count: int, timeout: float) -> list[Received]:
        wait_until(
            lambda: len({m.message_id for m in self.poll()}) >= count,
            timeout,
            f"{count} distinct messages on {self.exchange}",
        )
        return self.received

    def close(self) -> None:
        try:
            self.channel.exchange_delete(self.exchange)
        finally:
            self.connection.close()


class TcpProxy:
    """A loopback TCP forwarder whose link can be cut (all connections dropped, new
    ones refused at once) and restored, to play a broker outage without stopping it.
    It can also hold back what the server sends (its confirms, for a broker) while
    still forwarding what the client sends."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.1)
        self.port = self.server.getsockname()[1]
        self.up = True
        self.closed = False
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.replies = threading.Event()
        self.replies.set()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def url(self, broker_url: str) -> str:
        parts = urlsplit(broker_url)
        netloc = parts.netloc.rsplit("@", 1)
        host = f"127.0.0.1:{self.port}"
        netloc_new = f"{netloc[0]}@{host}" if len(netloc) == 2 else host
        return urlunsplit(parts._replace(netloc=netloc_new))

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.sockets += [client, upstream]
            for src, dst, gate in ((client, upstream, None), (upstream, client, self.replies)):
                threading.Thread(target=self._pump, args=(src, dst, gate), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, gate: threading.Event | None) -> None:
        try:
            while data := src.recv(65536):
                if gate is not None:
                    gate.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up = False
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        self.up = True

    def hold_replies(self) -> None:
        """Stop forwarding what the server sends, until release_replies()."""
        self.replies.clear()

    def release_replies(self) -> None:
        self.replies.set()

    def close(self) -> None:
        self.cut()
        self.release_replies()
        self.closed = True
        self.server.close()
        self.thread.join(timeout=2)


def relay_process(
    *args: str, broker_url: str | None, exchange: str, **env: str
) -> subprocess.Popen[str]:
    """Start `manage.py outbox_relay ARGS` on the test database."""
    child_env = {
        **os.environ,
        "DATABASE_URL": child_database_url(),
        "OUTBOX_EXCHANGE": exchange,
        "OUTBOX_POLL_INTERVAL": "0.2",
        "OUTBOX_BACKOFF_BASE": "0.05",
        "OUTBOX_BACKOFF_MAX": "0.5",
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    child_env.pop("OUTBOX_BROKER_URL", None)
    if broker_url:
        child_env["OUTBOX_BROKER_URL"] = broker_url
    return subprocess.Popen(  # noqa: S603 (our own interpreter and manage.py)
        [sys.executable, str(BASE_DIR / "manage.py"), "outbox_relay", *args],
        cwd=BASE_DIR,
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
