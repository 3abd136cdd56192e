"""Publishers: where the relay sends claimed events, and what the broker said.

A publisher gets a batch of events and answers one `Outcome` per event, in order. It
raises only `BrokerUnavailable`, and only before it sent anything (`connect`): once a
batch is under way, a lost connection becomes an UNDELIVERED outcome for every event
the broker had not yet confirmed, so the confirmed ones are still marked published.

Every message is a CloudEvent 1.0 in binary content mode (the CloudEvents AMQP binding):
the body is the payload, `content_type` its media type, the attributes application
headers prefixed `cloudEvents_`. It also carries the W3C Trace Context of the request
that wrote the event (`traceparent`, `tracestate`), continued by a publish span when
spans are recorded.
"""

import enum
import itertools
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pika
import pika.exceptions
from django.conf import settings
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider
from pika.channel import Channel

from orders_project.timestamps import format_timestamp
from outbox.errors import BrokerUnavailable
from outbox.repository import ClaimedEvent
from outbox.tracecontext import TraceContext

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


def message_headers(event: ClaimedEvent, *, source: str) -> dict[str, Any]:
    """The CloudEvents attributes, and headers that let consumers route, dedupe and
    order without parsing the body."""
    created_at = format_timestamp(event.created_at)  # RFC 3339, UTC
    aggregate_id = str(event.aggregate_id)
    return {
        "cloudEvents_specversion": "1.0",
        "cloudEvents_id": str(event.id),
        "cloudEvents_source": source,
        "cloudEvents_type": event.event_type,
        "cloudEvents_subject": aggregate_id,
        "cloudEvents_time": created_at,
        "tenant_id": event.tenant_id,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": aggregate_id,
        "event_type": event.event_type,
        "sequence": event.sequence,
        "created_at": created_at,
    }


class LoggingPublisher:
    """Writes each event as one JSON line: the flow is visible without a broker."""

    def __init__(
        self, *, exchange: str, source: str | None = None, stream: TextSink | None = None
    ) -> None:
        self.exchange = exchange
        self.source = source or settings.OUTBOX_EVENT_SOURCE
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
                "headers": {
                    **message_headers(event, source=self.source),
                    **event.trace_context.headers(),
                },
                "body": event.payload,
            }
            stream.write(json.dumps(line, separators=(",", ":")) + "\n")
        stream.flush()
        return [PUBLISHED] * len(events)

    def keep_alive(self) -> None:
        return None

    def close(self) -> None:
        return None


def message_properties(
    event: ClaimedEvent, *, source: str, trace_context: TraceContext
) -> pika.BasicProperties:
    """Persistent JSON, `message_id` = the outbox id, the CloudEvents attributes, the
    routing headers and the W3C Trace Context."""
    headers = message_headers(event, source=source)
    headers.update(trace_context.headers())
    return pika.BasicProperties(
        content_type="application/json",
        delivery_mode=pika.DeliveryMode.Persistent,
        message_id=headers["cloudEvents_id"],
        type=event.event_type,
        timestamp=int(event.created_at.timestamp()),
        headers=headers,
    )


class _Batch:
    """The messages of one publish() and what the broker answered for each so far."""

    def __init__(self, events: Sequence[ClaimedEvent]) -> None:
        self.events = events
        self.outcomes: list[Outcome | None] = [None] * len(events)
        # Delivery tag -> index in the batch, for the messages still unanswered.
        self.unanswered: dict[int, int] = {}
        self.by_message_id = {str(event.id): index for index, event in enumerate(events)}
        self.returned: set[int] = set()
        # Unanswered when the broker closed their channel: refused, or beside one that was.
        self.orphaned: list[int] = []


class RabbitMQPublisher:
    """Publishes to a durable topic exchange with publisher confirms, a batch at a time.

    Messages are persistent and `mandatory`, so an unroutable one comes back as a
    failure instead of vanishing; `message_id` is the outbox id, for consumers to
    dedupe the redeliveries that at-least-once implies.

    A batch is written whole and its confirms are collected afterwards, so a batch
    costs one broker round trip rather than one per event. Each ack, nack and
    basic.return is matched to its own message (by delivery tag; a return by
    `message_id`), so every event keeps its own outcome. The connection is pika's
    asynchronous `SelectConnection`, driven on the caller's thread: its I/O loop turns
    while a batch waits for its confirms, and in `keep_alive()` while the relay waits
    for work, which also answers the broker's heartbeats.

    With a `tracer` (the relay's, when spans are exported) each message has a publish
    span, from its write to the broker's answer, whose parent is the trace context
    stored with the event (a new trace when it has none), and the message names it as
    its parent. Without one nothing is recorded, and the message carries the stored
    context as it is: what the API's no-op tracer would hand on, without parsing it.
    """

    def __init__(
        self,
        *,
        url: str,
        exchange: str,
        publish_timeout: float,
        source: str | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.url = url
        self.exchange = exchange
        self.publish_timeout = publish_timeout
        self.source = source or settings.OUTBOX_EVENT_SOURCE
        self.tracer = tracer
        self._connection: pika.SelectConnection | None = None
        self._channel: Channel | None = None
        # Why the connection failed or closed, once it has.
        self._failure: BaseException | None = None
        self._batch: _Batch | None = None
        self._next_tag = 1
        # While the I/O loop turns: the condition that ends the wait, and its loop.
        self._waiting: tuple[Callable[[], bool], Any] | None = None

    def connect(self) -> None:
        if self._usable():
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
        self._failure = None
        connection = self._connection = pika.SelectConnection(
            parameters,
            on_open_callback=self._on_connection_open,
            on_open_error_callback=self._on_connection_lost,
            on_close_callback=self._on_connection_lost,
        )
        self._turn(
            connection, lambda: self._usable() or self._failure is not None, self._deadline()
        )
        if not self._usable():
            error = self._failure or TimeoutError(f"no answer in {self.publish_timeout}s")
            self.close()
            raise BrokerUnavailable(f"{self._safe_url()}: {error!r}") from error

    def publish(self, events: Sequence[ClaimedEvent]) -> list[Outcome]:
        self.connect()
        deadline = self._deadline()
        if self.tracer is None:
            spans: list[Span] = []
            contexts = [event.trace_context for event in events]
        else:
            spans = [self._publish_span(self.tracer, event) for event in events]
            contexts = [TraceContext.of(span) for span in spans]
        batch = self._publish_together(events, contexts, deadline)
        if len(events) > 1:
            # The broker closed the channel because it refused one message outright;
            # every message it had not answered for went down with it, and nothing
            # says which one it refused. Each is published again alone on a new
            # channel: only the culprit is refused, the others are published (perhaps
            # twice, which at-least-once allows).
            for index in batch.orphaned:
                batch.outcomes[index] = self._publish_alone(
                    events[index], contexts[index], deadline
                )
        timed_out = Outcome(
            Verdict.UNDELIVERED,
            f"publish timeout: batch not confirmed within {self.publish_timeout}s",
        )
        outcomes = [outcome or timed_out for outcome in batch.outcomes]
        for span, outcome in zip(spans, outcomes if spans else [], strict=True):
            if not outcome.published:
                span.set_status(Status(StatusCode.ERROR, outcome.error))
            span.end()
        if any(outcome.verdict is Verdict.UNDELIVERED for outcome in outcomes):
            # Lost, or too slow to trust: the next batch starts on a fresh connection.
            self.close()
        return outcomes

    def keep_alive(self) -> None:
        """Turn the I/O loop once: heartbeats go out and are answered, and a connection
        lost while idle (a broker restart, the network) is let go, so that the next
        batch connects afresh."""
        connection = self._connection
        if connection is None:
            return
        self._turn(connection, lambda: False, time.monotonic())
        if not self._usable():
            logger.info("outbox relay: broker connection lost while idle: %r", self._failure)
            self.close()

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        self._batch = None
        if connection is None or connection.is_closed:
            return
        if not connection.is_closing:
            connection.close()
        # Let the close handshake finish (briefly: a dead peer never answers).
        self._turn(connection, lambda: connection.is_closed, time.monotonic() + 1.0)

    def _publish_span(self, tracer: Tracer, event: ClaimedEvent) -> Span:
        """A publish span continuing the trace of the transaction that wrote the event."""
        return tracer.start_span(
            f"publish {self.exchange}",
            context=event.trace_context.as_context(),
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.operation.name": "publish",
                "messaging.operation.type": "send",
                "messaging.destination.name": self.exchange,
                "messaging.rabbitmq.destination.routing_key": event.event_type,
                "messaging.message.id": str(event.id),
            },
        )

    def _publish_together(
        self, events: Sequence[ClaimedEvent], contexts: Sequence[TraceContext], deadline: float
    ) -> _Batch:
        """Write every message, then turn the I/O loop until each one is answered,
        the channel or the connection is gone, or the deadline has passed."""
        channel, connection = self._channel, self._connection
        # connect() or _publish_alone() made them usable
        assert channel is not None  # noqa: S101
        assert connection is not None  # noqa: S101
        batch = self._batch = _Batch(events)
        for index, (event, trace_context) in enumerate(zip(events, contexts, strict=True)):
            batch.unanswered[self._next_tag] = index
            self._next_tag += 1
            channel.basic_publish(
                exchange=self.exchange,
                routing_key=event.event_type,
                body=message_body(event),
                properties=message_properties(
                    event, source=self.source, trace_context=trace_context
                ),
                mandatory=True,
            )
        self._turn(connection, lambda: not batch.unanswered, deadline)
        self._batch = None  # answers arriving later are for a batch already settled
        return batch

    def _publish_alone(
        self, event: ClaimedEvent, trace_context: TraceContext, deadline: float
    ) -> Outcome:
        connection = self._connection
        if connection is None or not connection.is_open:
            return Outcome(Verdict.UNDELIVERED, f"connection lost: {self._failure!r}")
        if self._channel is None:
            connection.channel(on_open_callback=self._on_channel_open)
            self._turn(
                connection,
                lambda: self._channel is not None or self._failure is not None,
                deadline,
            )
        if not self._usable():
            return Outcome(Verdict.UNDELIVERED, f"no channel to retry on: {self._failure!r}")
        (outcome,) = self._publish_together([event], [trace_context], deadline).outcomes
        return outcome or Outcome(Verdict.UNDELIVERED, "publish timeout")

    # pika's callbacks; they run inside _turn(), on this thread.

    def _on_connection_open(self, connection: pika.SelectConnection) -> None:
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_channel_open(self, channel: Channel) -> None:
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        channel.exchange_declare(
            exchange=self.exchange,
            exchange_type="topic",
            durable=True,
            callback=lambda _: channel.confirm_delivery(
                self._on_confirm, callback=lambda _: self._on_channel_ready(channel)
            ),
        )

    def _on_channel_ready(self, channel: Channel) -> None:
        # Confirm mode numbers a channel's messages from 1.
        self._channel, self._next_tag = channel, 1
        self._wake()

    def _on_confirm(self, frame: pika.frame.Method[Any]) -> None:
        """Basic.Ack or Basic.Nack for one delivery tag, or every one up to it."""
        batch = self._batch
        if batch is None:
            return
        method = frame.method
        last = method.delivery_tag
        # `unanswered` is in tag order (tags are given out in publishing order).
        tags = (
            list(itertools.takewhile(lambda tag: tag <= last, batch.unanswered))
            if method.multiple
            else [last]
        )
        for tag in tags:
            index = batch.unanswered.pop(tag, None)
            if index is None:
                continue
            if isinstance(method, pika.spec.Basic.Nack):
                batch.outcomes[index] = Outcome(Verdict.REJECTED, "nacked by the broker")
            elif index in batch.returned:
                # The broker acks an unroutable mandatory message after returning it.
                event_type = batch.events[index].event_type
                batch.outcomes[index] = Outcome(
                    Verdict.REJECTED,
                    f"unroutable: no queue bound to {self.exchange!r} for {event_type!r}",
                )
            else:
                batch.outcomes[index] = PUBLISHED
        self._wake()

    def _on_return(
        self,
        channel: Channel,
        method: pika.spec.Basic.Return,
        properties: pika.BasicProperties,
        body: bytes,
    ) -> None:
        batch = self._batch
        if batch is not None and properties.message_id in batch.by_message_id:
            batch.returned.add(batch.by_message_id[properties.message_id])

    def _on_channel_closed(self, channel: Channel, reason: BaseException) -> None:
        if self._channel not in (None, channel):
            return  # an older channel, already replaced
        self._channel = None
        refused = isinstance(reason, pika.exceptions.ChannelClosedByBroker)
        batch = self._batch
        if batch is not None:
            for index in batch.unanswered.values():
                if refused:
                    batch.orphaned.append(index)
                    batch.outcomes[index] = Outcome(
                        Verdict.REJECTED, f"channel closed by the broker: {reason}"
                    )
                else:
                    batch.outcomes[index] = Outcome(
                        Verdict.UNDELIVERED, f"{type(reason).__name__}: {reason}"
                    )
            batch.unanswered.clear()
        self._wake()

    def _on_connection_lost(
        self, connection: pika.SelectConnection, reason: BaseException
    ) -> None:
        if connection is self._connection and self._batch is not None:
            logger.warning("outbox relay: broker connection lost: %r", reason)
        self._failure = reason
        if self._channel is not None:
            self._on_channel_closed(self._channel, reason)
        self._wake()

    def _usable(self) -> bool:
        return (
            self._connection is not None
            and self._connection.is_open
            and self._channel is not None
            and self._channel.is_open
        )

    def _deadline(self) -> float:
        return time.monotonic() + self.publish_timeout

    def _turn(
        self, connection: pika.SelectConnection, done: Callable[[], bool], deadline: float
    ) -> None:
        """Run the connection's I/O loop until `done()` or the deadline: not at all when
        it is done already, one turn when the deadline has passed."""
        ioloop = connection.ioloop
        timer = ioloop.call_later(max(0.0, deadline - time.monotonic()), ioloop.stop)
        self._waiting = (done, ioloop)
        try:
            if not done():
                ioloop.start()
        finally:
            self._waiting = None
            ioloop.remove_timeout(timer)

    def _wake(self) -> None:
        """From a callback: stop the I/O loop once what it turns for has happened."""
        if self._waiting is not None:
            done, ioloop = self._waiting
            if done():
                ioloop.stop()

    def _safe_url(self) -> str:
        """The broker URL without its password, for error messages."""
        parameters = pika.URLParameters(self.url)
        return f"amqp://{parameters.host}:{parameters.port}/{parameters.virtual_host}"


def publisher_from_settings(
    *, stream: TextSink | None = None, tracer_provider: TracerProvider | None = None
) -> Publisher:
    """RabbitMQ when OUTBOX_BROKER_URL is set, otherwise JSON lines on `stream` (stdout).
    With a tracer provider (one that exports), each publish is a span of it."""
    if settings.OUTBOX_BROKER_URL:
        return RabbitMQPublisher(
            url=settings.OUTBOX_BROKER_URL,
            exchange=settings.OUTBOX_EXCHANGE,
            publish_timeout=settings.OUTBOX_PUBLISH_TIMEOUT,
            source=settings.OUTBOX_EVENT_SOURCE,
            tracer=tracer_provider.get_tracer(__name__) if tracer_provider else None,
        )
    return LoggingPublisher(
        exchange=settings.OUTBOX_EXCHANGE, source=settings.OUTBOX_EVENT_SOURCE, stream=stream
    )
