"""Against a real RabbitMQ (TEST_BROKER_URL): what a consumer of `orders.closed` can rely
on. Each message is a CloudEvent 1.0 in binary content mode, and it carries the trace of
the request that closed the order, which a consumer joins with the W3C propagator."""

import json
from datetime import datetime

import pytest
from django.test import Client
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_span_id, format_trace_id, get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from orders.tests.http import ClientResponse, confirm, create
from orders_project.timestamps import format_timestamp
from outbox.backoff import Backoff
from outbox.models import OutboxEvent
from outbox.publishers import RabbitMQPublisher
from outbox.relay import Relay
from outbox.tests.support import Consumer, Received

pytestmark = pytest.mark.django_db(transaction=True)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01"
TRACESTATE = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
SOURCE = "https://orders.example.test/api"

MALFORMED = [
    "garbage",
    "",
    f"00-{'0' * 32}-{CALLER_SPAN_ID}-01",  # all-zero trace id
    f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero parent id
    f"ff-{TRACE_ID}-{CALLER_SPAN_ID}-01",  # version ff is forbidden
    f"00-{TRACE_ID.upper()}-{CALLER_SPAN_ID}-01",  # hex is lowercase
    f"00-{TRACE_ID}-{CALLER_SPAN_ID}",  # no flags
    f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01-extra",  # version 00 has four fields
    "00-" + "é" * 32 + f"-{CALLER_SPAN_ID}-01",
]


def close_order(*, traceparent: str | None = None, tracestate: str | None = None) -> str:
    """Create, confirm and close an order (tenant-7); the close carries the trace
    headers given. Returns the order id."""
    api = Client(headers={"X-Tenant-Id": "tenant-7"})
    order_id: str = create(api).json()["id"]
    confirm(api, order_id, total=1250)
    headers = {
        name: value
        for name, value in (("traceparent", traceparent), ("tracestate", tracestate))
        if value is not None
    }
    response: ClientResponse = api.generic("POST", f"/orders/{order_id}/close", headers=headers)
    assert response.status_code == 200, response.content
    return order_id


def relay_once(broker_url: str, exchange: str, tracer_provider: TracerProvider | None) -> None:
    publisher = RabbitMQPublisher(
        url=broker_url,
        exchange=exchange,
        publish_timeout=5.0,
        source=SOURCE,
        tracer=tracer_provider.get_tracer("outbox.publishers") if tracer_provider else None,
    )
    relay = Relay(
        publisher=publisher,
        batch_size=10,
        poll_interval=0.2,
        max_attempts=3,
        backoff=Backoff(base=0.05, maximum=0.2),
        once=True,
    )
    relay.run()
    assert relay.stats.published == 1


def assert_a_cloudevent_of(message: Received, order_id: str) -> None:
    """Every CloudEvents attribute, as the AMQP binding spells it, and the body."""
    event = OutboxEvent.objects.get(aggregate_id=order_id)
    headers = message.headers
    assert message.properties.content_type == "application/json"
    assert headers["cloudEvents_specversion"] == "1.0"
    assert headers["cloudEvents_id"] == str(event.id) == message.message_id
    assert headers["cloudEvents_source"] == SOURCE
    assert headers["cloudEvents_type"] == "orders.closed" == message.routing_key
    assert headers["cloudEvents_subject"] == order_id
    assert headers["cloudEvents_time"] == format_timestamp(event.created_at)
    assert datetime.fromisoformat(headers["cloudEvents_time"]) == event.created_at  # RFC 3339
    body = json.loads(message.body)
    assert (body["orderId"], body["tenantId"], body["totalCents"]) == (order_id, "tenant-7", 1250)
    # the headers consumers had before stay
    assert (headers["tenant_id"], headers["aggregate_id"]) == ("tenant-7", order_id)
    assert headers["sequence"] == event.sequence


def consumer_trace_id(message: Received) -> str | None:
    """What a consumer's span would join: the trace in the message's headers."""
    context = TraceContextTextMapPropagator().extract(message.headers)
    span_context = get_current_span(context).get_span_context()
    return format_trace_id(span_context.trace_id) if span_context.is_valid else None


def test_a_close_with_a_traceparent_arrives_as_a_cloudevent_in_the_callers_trace(
    broker_url: str, exchange: str, consumer: Consumer, propagated: None
) -> None:
    # given: an order closed by a caller in a trace of its own
    order_id = close_order(traceparent=TRACEPARENT, tracestate=TRACESTATE)
    event = OutboxEvent.objects.get(aggregate_id=order_id)
    assert (event.traceparent, event.tracestate) == (TRACEPARENT, TRACESTATE)

    # when
    relay_once(broker_url, exchange, tracer_provider=None)

    # then: a CloudEvent in the caller's trace; with nothing recorded here, the caller's
    # span is the consumer's parent, and its tracestate goes along
    (message,) = consumer.wait_for_distinct(1, timeout=10)
    assert_a_cloudevent_of(message, order_id)
    assert consumer_trace_id(message) == TRACE_ID
    assert message.headers["traceparent"] == TRACEPARENT
    assert message.headers["tracestate"] == TRACESTATE


@pytest.mark.parametrize("traceparent", [None, *MALFORMED])
def test_a_close_without_a_valid_traceparent_arrives_well_formed(
    broker_url: str,
    exchange: str,
    consumer: Consumer,
    propagated: None,
    traceparent: str | None,
) -> None:
    # given: no trace context, or one that is not W3C's (ignored, never an error)
    order_id = close_order(traceparent=traceparent, tracestate=TRACESTATE)
    assert OutboxEvent.objects.get(aggregate_id=order_id).traceparent == ""

    # when
    relay_once(broker_url, exchange, tracer_provider=None)

    # then: the same CloudEvent, with no trace to join (nothing here records one)
    (message,) = consumer.wait_for_distinct(1, timeout=10)
    assert_a_cloudevent_of(message, order_id)
    assert "traceparent" not in message.headers
    assert "tracestate" not in message.headers


def spans_of(exporter: InMemorySpanExporter, trace_id: str) -> list[ReadableSpan]:
    return [
        span
        for span in exporter.get_finished_spans()
        if format_trace_id(span.context.trace_id) == trace_id
    ]


def parent_id(span: ReadableSpan) -> str | None:
    return format_span_id(span.parent.span_id) if span.parent else None


def test_the_request_its_sql_and_the_publish_are_spans_of_the_callers_trace(
    broker_url: str,
    exchange: str,
    consumer: Consumer,
    recorded: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    # given: an exporter configured, and a caller in a trace of its own
    provider, exporter = recorded
    order_id = close_order(traceparent=TRACEPARENT, tracestate=TRACESTATE)

    # when
    relay_once(broker_url, exchange, tracer_provider=provider)

    # then: the close request is the caller's child, its SQL and the publish are the
    # request's, and the consumer's parent is the publish span
    spans = spans_of(exporter, TRACE_ID)
    (server,) = [span for span in spans if span.kind is SpanKind.SERVER]
    assert parent_id(server) == CALLER_SPAN_ID
    assert server.attributes is not None
    assert str(server.attributes["http.route"]).endswith("/close$")
    sql = [span for span in spans if span.kind is SpanKind.CLIENT]
    assert sql, "no SQL span in the request's trace"
    assert {parent_id(span) for span in sql} == {format_span_id(server.context.span_id)}
    statements = [str((span.attributes or {}).get("db.statement", "")) for span in sql]
    assert any(statement.lstrip().startswith("INSERT INTO outbox") for statement in statements)
    (publish,) = [span for span in spans if span.kind is SpanKind.PRODUCER]
    assert parent_id(publish) == format_span_id(server.context.span_id)
    assert publish.name == f"publish {exchange}"
    assert publish.attributes is not None
    assert publish.attributes["messaging.message.id"] == message_id_of(order_id)
    (message,) = consumer.wait_for_distinct(1, timeout=10)
    assert_a_cloudevent_of(message, order_id)
    publish_id = format_span_id(publish.context.span_id)
    assert message.headers["traceparent"] == f"00-{TRACE_ID}-{publish_id}-01"
    assert message.headers["tracestate"] == TRACESTATE


@pytest.mark.parametrize("traceparent", [None, MALFORMED[0], MALFORMED[2]])
def test_with_an_exporter_a_close_without_a_valid_traceparent_starts_a_trace(
    broker_url: str,
    exchange: str,
    consumer: Consumer,
    recorded: tuple[TracerProvider, InMemorySpanExporter],
    traceparent: str | None,
) -> None:
    # given
    provider, exporter = recorded
    order_id = close_order(traceparent=traceparent)

    # when
    relay_once(broker_url, exchange, tracer_provider=provider)

    # then: the close request is a new trace's root, which the message carries on
    (message,) = consumer.wait_for_distinct(1, timeout=10)
    assert_a_cloudevent_of(message, order_id)
    trace_id = consumer_trace_id(message)
    assert trace_id is not None
    assert trace_id not in {TRACE_ID, "0" * 32}
    spans = spans_of(exporter, trace_id)
    (server,) = [span for span in spans if span.kind is SpanKind.SERVER]
    assert server.parent is None
    (publish,) = [span for span in spans if span.kind is SpanKind.PRODUCER]
    assert parent_id(publish) == format_span_id(server.context.span_id)


def message_id_of(order_id: str) -> str:
    return str(OutboxEvent.objects.get(aggregate_id=order_id).id)
