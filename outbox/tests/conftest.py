"""Fixtures for the outbox tests: the real RabbitMQ, per-test exchanges and consumers,
and tracing set up as a web process sets it up."""

import os
from collections.abc import Iterator

import pytest
from django.db import connection
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orders_project import tracing
from outbox.tests.support import Consumer, unique_name

BROKER_VARIABLE = "TEST_BROKER_URL"


@pytest.fixture
def broker_url() -> str:
    """The RabbitMQ the broker tests use. Never a silent pass without one: in CI a
    missing TEST_BROKER_URL fails the test, elsewhere it is skipped loudly."""
    url = os.environ.get(BROKER_VARIABLE, "")
    if not url:
        reason = (
            f"{BROKER_VARIABLE} is not set: this test needs a real RabbitMQ "
            "(.ci/run starts one and sets it, e.g. amqp://guest:guest@127.0.0.1:5672/%2F)"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return url


@pytest.fixture
def exchange() -> str:
    """An exchange name of this test's own; the consumer fixture deletes it."""
    return unique_name("orders.events.test")


@pytest.fixture
def consumer(broker_url: str, exchange: str) -> Iterator[Consumer]:
    """A queue bound to the test's exchange with '#', declared before any relay runs."""
    consumer = Consumer(broker_url, exchange)
    yield consumer
    consumer.close()


@pytest.fixture
def propagated() -> Iterator[None]:
    """Tracing as a web process sets it up with no exporter configured: the caller's
    trace context is carried, nothing is recorded."""
    tracing.instrument_web(None)
    yield
    tracing.uninstrument_web()


@pytest.fixture
def recorded() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """Tracing as a web process sets it up with an exporter: here one that keeps the
    finished spans in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.instrument_web(provider)
    connection.close()  # the next query connects through psycopg's instrumentation
    yield provider, exporter
    tracing.uninstrument_web()
    connection.close()  # and the next test's through plain psycopg again
