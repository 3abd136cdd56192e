"""Fixtures for the outbox tests: the real RabbitMQ, per-test exchanges and consumers."""

import os
from collections.abc import Iterator

import pytest

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
