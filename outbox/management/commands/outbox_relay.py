"""manage.py outbox_relay: publish outbox events to the broker, at least once, in order."""

import os
import signal
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from orders_project import tracing
from orders_project.commands import positive_float, positive_int
from outbox.backoff import Backoff
from outbox.publishers import Outcome, publisher_from_settings
from outbox.relay import Relay
from outbox.repository import ClaimedEvent
from outbox.services import BeforeMark

# Test-only: SIGKILL the relay after the broker confirmed a batch and before the rows
# are marked published, the one crash that must cause a redelivery, never a loss.
CRASH_HOOK_VARIABLE = "OUTBOX_RELAY_TEST_CRASH_BEFORE_MARK"


class Command(BaseCommand):
    help = (
        "Publish pending outbox events to RabbitMQ (OUTBOX_BROKER_URL; without it, print "
        "each event as a JSON line on stdout). Runs until SIGTERM/SIGINT, which finish "
        "the current batch. Safe to run several at once. Exit status: 0 done; 1 with "
        "--once when an event failed or the broker or database was unavailable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once",
            action="store_true",
            help="Publish what is due now, then exit (no waiting for new events).",
        )
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=None,
            help="Events claimed per transaction (default: OUTBOX_BATCH_SIZE).",
        )
        parser.add_argument(
            "--max-events",
            type=positive_int,
            default=None,
            help="Exit after publishing this many events.",
        )
        parser.add_argument(
            "--poll-interval",
            type=positive_float,
            default=None,
            help="Seconds between scans when no NOTIFY arrives (default: OUTBOX_POLL_INTERVAL).",
        )

    def handle(
        self,
        *args: Any,
        once: bool,
        batch_size: int | None,
        max_events: int | None,
        poll_interval: float | None,
        **options: Any,
    ) -> None:
        tracer_provider = tracing.configure_relay()
        stop = threading.Event()
        relay = Relay(
            publisher=publisher_from_settings(stream=self.stdout, tracer_provider=tracer_provider),
            batch_size=batch_size or settings.OUTBOX_BATCH_SIZE,
            poll_interval=poll_interval or settings.OUTBOX_POLL_INTERVAL,
            max_attempts=settings.OUTBOX_MAX_ATTEMPTS,
            backoff=Backoff(
                base=settings.OUTBOX_BACKOFF_BASE, maximum=settings.OUTBOX_BACKOFF_MAX
            ),
            once=once,
            max_events=max_events,
            stop=stop,
            before_mark=_crash_hook() if os.environ.get(CRASH_HOOK_VARIABLE) else None,
        )
        target = settings.OUTBOX_EXCHANGE if settings.OUTBOX_BROKER_URL else "stdout"
        self.stderr.write(f"outbox relay: publishing to {target} (pid {os.getpid()})")
        previous = _on_stop_signals(stop)
        try:
            stats = relay.run()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self.stderr.write(
            f"outbox relay: stopped after {time.monotonic() - stats.started:.1f}s: "
            f"{stats.published} published, {stats.failed} failed, {stats.dead} dead, "
            f"{stats.outages} outage(s)"
        )
        if once and (relay.incomplete or stats.failed):
            raise CommandError("not every due event was published", returncode=1)


def _on_stop_signals(stop: threading.Event) -> dict[int, Any]:
    """SIGTERM and SIGINT ask the loop to stop after its current batch."""

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        return {}  # signals can only be handled on the main thread (call_command in tests)
    return {
        signum: signal.signal(signum, request_stop) for signum in (signal.SIGTERM, signal.SIGINT)
    }


def _crash_hook() -> BeforeMark:
    def crash(events: Sequence[ClaimedEvent], outcomes: Sequence[Outcome]) -> None:
        if any(outcome.published for outcome in outcomes):
            os.kill(os.getpid(), signal.SIGKILL)

    return crash
