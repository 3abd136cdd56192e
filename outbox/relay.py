"""The relay loop: drain due events, then sleep until a NOTIFY or the poll interval.

A trigger on the outbox table (migration 0003) sends `NOTIFY outbox` in the transaction
that adds an event, so the relay wakes as soon as it commits. Notifications are only a
hint: the relay also scans every poll interval and right after (re)connecting its
listener, so a lost notification connection delays an event by at most one poll interval
and never loses it.
"""

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection

from orders_project.db.limits import plain_connection_params
from outbox.backoff import Backoff
from outbox.errors import BrokerUnavailable
from outbox.publishers import Publisher
from outbox.repository import NOTIFY_CHANNEL
from outbox.services import BeforeMark, outbox_publish_batch

logger = logging.getLogger(__name__)

# The longest the relay is deaf to a stop request while it waits.
_WAIT_SLICE_SECONDS = 0.5


@dataclass
class RelayStats:
    """Running totals, reported when the relay stops."""

    published: int = 0
    failed: int = 0
    dead: int = 0
    batches: int = 0
    outages: int = 0
    started: float = field(default_factory=time.monotonic)


class Listener:
    """LISTEN on a dedicated autocommit connection; reconnects whenever it breaks.

    LISTEN needs a session of its own on the server, which a transaction pooler does not
    give: the listener connects to OUTBOX_LISTEN_DATABASE_URL when it is set (a direct
    URL to PostgreSQL), else with the app's own connection settings, unless those go
    through a transaction pooler: then it never connects and the relay polls.
    """

    def __init__(self, *, channel: str = NOTIFY_CHANNEL) -> None:
        self.channel = channel
        self._connection: psycopg.Connection[Any] | None = None
        self.polls_only = (
            not settings.OUTBOX_LISTEN_DATABASE_URL and settings.DB_TRANSACTION_POOLING
        )
        if self.polls_only:
            logger.info(
                "outbox relay: behind a transaction pooler without "
                "OUTBOX_LISTEN_DATABASE_URL: finding events by polling only"
            )

    def wait(self, timeout: float) -> bool:
        """Block until a notification or `timeout`; True means "scan now"."""
        if self.polls_only:
            time.sleep(timeout)
            return False
        if self._connection is None:
            try:
                self._connect()
            except psycopg.Error as error:
                logger.warning("outbox relay: cannot LISTEN (%s); polling instead", error)
                time.sleep(timeout)
                return False
            # Anything committed while we were not listening sent its NOTIFY to nobody.
            return True
        assert self._connection is not None  # noqa: S101 (narrowing for mypy)
        try:
            for _ in self._connection.notifies(timeout=timeout, stop_after=1):
                return True
        except psycopg.Error as error:
            logger.warning("outbox relay: notification connection lost (%s)", error)
            self.close()
            return True
        return False

    def _connect(self) -> None:
        # Keepalives: a vanished server is noticed even while we only listen.
        options: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": 10,
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        }
        if settings.OUTBOX_LISTEN_DATABASE_URL:
            self._connection = psycopg.connect(settings.OUTBOX_LISTEN_DATABASE_URL, **options)
        else:
            params = plain_connection_params(connection)
            self._connection = psycopg.connect(**params, **options)
        self._connection.execute(f"LISTEN {self.channel}")

    def close(self) -> None:
        connection_, self._connection = self._connection, None
        if connection_ is not None:
            try:
                connection_.close()
            except psycopg.Error:
                logger.debug("outbox relay: error closing the listener", exc_info=True)


class Relay:
    """Publishes outbox events until stopped; safe to run as many copies as needed."""

    def __init__(
        self,
        *,
        publisher: Publisher,
        batch_size: int,
        poll_interval: float,
        max_attempts: int,
        backoff: Backoff,
        once: bool = False,
        max_events: int | None = None,
        stop: threading.Event | None = None,
        before_mark: BeforeMark | None = None,
    ) -> None:
        self.publisher = publisher
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.once = once
        self.max_events = max_events
        self.stop = stop or threading.Event()
        self.before_mark = before_mark
        self.stats = RelayStats()
        # The current run of consecutive outages (broker or database), for backoff.
        self._trouble = 0
        # --once ends at the first outage and reports it in its exit code.
        self.incomplete = False
        self._listener = Listener()

    def run(self) -> RelayStats:
        """Loop until stopped (or, with once/max_events, until done); return totals."""
        try:
            while not self.stop.is_set():
                self._drain()
                if self.once or self._reached_max():
                    break
                self._wait_for_work()
        finally:
            self._listener.close()
            self.publisher.close()
            if not connection.in_atomic_block:  # a caller's transaction is not ours
                connection.close()
        return self.stats

    def _reached_max(self) -> bool:
        return self.max_events is not None and self.stats.published >= self.max_events

    def _drain(self) -> None:
        """Publish batches until nothing is due, or we are told to stop."""
        while not self.stop.is_set() and not self._reached_max():
            limit = self.batch_size
            if self.max_events is not None:
                limit = min(limit, self.max_events - self.stats.published)
            try:
                result = outbox_publish_batch(
                    publisher=self.publisher,
                    batch_size=limit,
                    max_attempts=self.max_attempts,
                    backoff=self.backoff,
                    before_mark=self.before_mark,
                )
            except BrokerUnavailable as error:
                self._outage("broker unavailable", error)
                if self.once:
                    return
                continue
            except DatabaseError as error:
                # Django reconnects on the next query once the broken connection is closed.
                connection.close()
                self._outage("database unavailable", error)
                if self.once:
                    return
                continue
            self.stats.batches += 1
            self.stats.published += result.published
            self.stats.failed += result.failed
            self.stats.dead += result.dead
            if result.claimed:
                logger.info(
                    "outbox relay: batch of %d: %d published, %d failed, %d dead",
                    result.claimed,
                    result.published,
                    result.failed,
                    result.dead,
                )
            if result.broker_trouble:
                self._outage("broker connection lost mid-batch", None)
                if self.once:
                    return
                continue
            self._trouble = 0
            # Not `claimed < limit`: publishing an order's event makes its next one
            # claimable, and that one's NOTIFY came (and went) while it was held back.
            if result.claimed == 0:
                return

    def _outage(self, what: str, error: BaseException | None) -> None:
        self._trouble += 1
        self.stats.outages += 1
        if self.once:
            self.incomplete = True
        delay = self.backoff.seconds(self._trouble)
        logger.warning(
            "outbox relay: %s%s; retrying in %.1fs (outage #%d)",
            what,
            f" ({error})" if error else "",
            delay,
            self._trouble,
        )
        if not self.once:
            self._pause(delay)

    def _pause(self, seconds: float) -> None:
        """Wait out a backoff (or until stopped), keeping the broker connection open."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            if self.stop.wait(min(remaining, _WAIT_SLICE_SECONDS)):
                return
            self.publisher.keep_alive()

    def _wait_for_work(self) -> None:
        """Sleep up to the poll interval; a NOTIFY or a stop request ends it early."""
        deadline = time.monotonic() + self.poll_interval
        while not self.stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if self._listener.wait(min(remaining, _WAIT_SLICE_SECONDS)):
                return
            self.publisher.keep_alive()
