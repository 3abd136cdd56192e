"""Publishers: where the relay sends claimed events, and what the broker said.

A publisher gets a batch of events and answers one `Outcome` per event, in order. It
raises only `BrokerUnavailable`, and only before it sent anything (`connect`): once a
batch is under way, a lost connection becomes an UNDELIVERED outcome for every event
the broker had not yet confirmed, so the confirmed ones are still marked published.
"""

import enum
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pika
import pika.exceptions
from django.conf import settings
from pika.adapters.blocking_connection import BlockingChannel

from orders_project.timestamps import format_timestamp
from outbox.errors import BrokerUnavailable
from outbox.repository import ClaimedEvent

logger = logging.getLogger(__name__)


class Verdict(enum.Enum):
    """What became of one event."""

    # The broker confirmed it (publisher confirm, and it was routable).
    PUBLISHED = "published"
    # The broker refused this event (nack, unroutable, channel error): counts towards
    # the attempts after which the event is parked as dead.
    REJECTED = "rejected"
    # Connection lost, broker blocked or too slow: says nothing about the event itself,
    # so it is retried with backoff but never parked for it.
    UNDELIVERED = "undelivered"


@dataclass(frozen=True)
class Outcome:
    """The verdict on one event and, unless published, why."""

    verdict: Verdict
    error: str = ""

    @property
    def published(self) -> bool:
        return self.verdict is Verdict.PUBLISHED


PUBLISHED = Outcome(Verdict.PUBLISHED)


class TextSink(Protocol):
    """Where LoggingPublisher writes: a text stream, or a command's stdout wrapper."""

    def write(self, text: str, /) -> Any: ...

    def flush(self) -> None: ...


class Publisher(Protocol):
    """Sends events somewhere and reports, per event, whether it got there."""

    def connect(self) -> None:
        """Make sure the destination is reachable; raise BrokerUnavailable if not."""

    def publish(self, events: Sequence[ClaimedEvent]) -> list[Outcome]:
        """Send the events in order; one outcome each, in the same order."""

    def keep_alive(self) -> None:
        """Called while the relay waits (for work, or out a backoff): keep the
        connection, if any, open."""

    def close(self) -> None:
        """Release the connection, if any."""


def message_body(event: ClaimedEvent) -> bytes:
    """The wire body: the payload as compact JSON."""
    return json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False).encode()


def message_headers(event: ClaimedEvent) -> dict[str, Any]:
    """Headers that let consumers route, dedupe and order without parsing the body."""
    return {
        "tenant_id": event.tenant_id,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": str(event.aggregate_id),
        "event_type": event.event_type,
        "sequence": event.sequence,
        "created_at": format_timestamp(event.created_at),
    }


class LoggingPublisher:
    """Writes each event as one JSON line: the flow is visible without a broker."""

    def __init__(self, *, exchange: str, stream: TextSink | None = None) -> None:
        self.exchange = exchange
        self.stream = stream

    def connect(self) -> None:
        return None

    def publish(self, events: Sequence[ClaimedEvent]) -> list[Outcome]:
        stream = self.stream or sys.stdout
        for event in events:
            line = {
                "exchange": self.exchange,
                "routingKey": event.event_type,
                "messageId": str(event.id),
                "headers": message_headers(event),
                "body": event.payload,
            }
            stream.write(json.dumps(line, separators=(",", ":")) + "\n")
        stream.flush()
        return [PUBLISHED] * len(events)

    def keep_alive(self) -> None:
        return None

    def close(self) -> None:
        return None


class RabbitMQPublisher:
    """Publishes to a durable topic exchange with publisher confirms.

    Messages are persistent and `mandatory`, so an unroutable one comes back as a
    failure instead of vanishing; `message_id` is the outbox id, for consumers to
    dedupe the redeliveries that at-least-once implies.
    """

    def __init__(self, *, url: str, exchange: str, publish_timeout: float) -> None:
        self.url = url
        self.exchange = exchange
        self.publish_timeout = publish_timeout
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def connect(self) -> None:
        if self._channel is not None and self._channel.is_open:
            return
        self.close()
        parameters = pika.URLParameters(self.url)
        # A dead peer is noticed within about two heartbeats; a broker that blocks
        # publishers (memory or disk alarm) fails the batch after publish_timeout.
        parameters.heartbeat = max(1, int(self.publish_timeout))
        parameters.blocked_connection_timeout = self.publish_timeout
        parameters.socket_timeout = self.publish_timeout
        parameters.stack_timeout = self.publish_timeout
        parameters.connection_attempts = 1
        parameters.client_properties = {"connection_name": "orders outbox relay"}
        try:
            connection = pika.BlockingConnection(parameters)
            channel = connection.channel()
            channel.exchange_declare(exchange=self.exchange, exchange_type="topic", durable=True)
            channel.confirm_delivery()
        except (pika.exceptions.AMQPError, OSError) as error:
            raise BrokerUnavailable(f"{self._safe_url()}: {error!r}") from error
        self._connection, self._channel = connection, channel

    def publish(self, events: Sequence[ClaimedEvent]) -> list[Outcome]:
        self.connect()
        channel = self._channel
        assert channel is not None  # noqa: S101 (connect() set it or raised)
        deadline = time.monotonic() + self.publish_timeout
        outcomes: list[Outcome] = []
        for event in events:
            if time.monotonic() > deadline:
                error = f"publish timeout: batch not confirmed within {self.publish_timeout}s"
                outcomes.extend(
                    Outcome(Verdict.UNDELIVERED, error) for _ in events[len(outcomes) :]
                )
                self.close()
                break
            outcome = self._publish_one(channel, event)
            outcomes.append(outcome)
            if outcome.verdict is not Verdict.PUBLISHED and not channel.is_open:
                # The channel or connection is gone: nothing else in this batch can be
                # confirmed. Say so for each event instead of trying them one by one.
                outcomes.extend(
                    Outcome(Verdict.UNDELIVERED, outcome.error) for _ in events[len(outcomes) :]
                )
                self.close()
                break
        return outcomes

    def _publish_one(self, channel: BlockingChannel, event: ClaimedEvent) -> Outcome:
        properties = pika.BasicProperties(
            content_type="application/json",
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=str(event.id),
            type=event.event_type,
            timestamp=int(event.created_at.timestamp()),
            headers=message_headers(event),
        )
        try:
            channel.basic_publish(
                exchange=self.exchange,
                routing_key=event.event_type,
                body=message_body(event),
                properties=properties,
                mandatory=True,
            )
        except pika.exceptions.UnroutableError:
            return Outcome(
                Verdict.REJECTED,
                f"unroutable: no queue bound to {self.exchange!r} for {event.event_type!r}",
            )
        except pika.exceptions.NackError:
            return Outcome(Verdict.REJECTED, "nacked by the broker")
        except pika.exceptions.ChannelClosedByBroker as error:
            return Outcome(Verdict.REJECTED, f"channel closed by the broker: {error}")
        except (pika.exceptions.AMQPError, OSError) as error:
            logger.warning("outbox relay: broker connection lost: %r", error)
            self.close()
            return Outcome(Verdict.UNDELIVERED, f"{type(error).__name__}: {error}")
        return PUBLISHED

    def keep_alive(self) -> None:
        """Answer the broker's heartbeats while there is nothing to publish.

        pika's blocking connection only sends and checks heartbeats while it is called;
        a relay waiting on NOTIFY for longer than two heartbeat intervals would find its
        connection reset by the broker, and its next event would fail and wait out a
        backoff. Lost anyway (broker restart, network), it is closed here, and the next
        publish connects afresh.
        """
        connection = self._connection
        if connection is None or not connection.is_open:
            return
        try:
            connection.process_data_events(time_limit=0)
        except (pika.exceptions.AMQPError, OSError) as error:
            logger.info("outbox relay: broker connection lost while idle: %r", error)
            self.close()

    def _safe_url(self) -> str:
        """The broker URL without its password, for error messages."""
        parameters = pika.URLParameters(self.url)
        return f"amqp://{parameters.host}:{parameters.port}/{parameters.virtual_host}"

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except (pika.exceptions.AMQPError, OSError):
                logger.debug("outbox relay: error closing a broken connection", exc_info=True)


def publisher_from_settings(*, stream: TextSink | None = None) -> Publisher:
    """RabbitMQ when OUTBOX_BROKER_URL is set, otherwise JSON lines on `stream` (stdout)."""
    if settings.OUTBOX_BROKER_URL:
        return RabbitMQPublisher(
            url=settings.OUTBOX_BROKER_URL,
            exchange=settings.OUTBOX_EXCHANGE,
            publish_timeout=settings.OUTBOX_PUBLISH_TIMEOUT,
        )
    return LoggingPublisher(exchange=settings.OUTBOX_EXCHANGE, stream=stream)
