"""Against a real RabbitMQ (TEST_BROKER_URL): a batch is published whole and its confirms
collected afterwards, and every guarantee holds with many confirms in flight: each event's
outcome is its own, a crash or a cut connection mid-batch loses nothing, and each order's
events still arrive in order when several relays share the work."""

import collections
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pika
import pytest
from django.db import connection

from outbox import publishers
from outbox.backoff import Backoff
from outbox.models import OutboxEvent
from outbox.publishers import RabbitMQPublisher
from outbox.repository import ClaimedEvent
from outbox.services import outbox_publish_batch
from outbox.tests.support import Consumer, RelayThread, TcpProxy, relay_process, wait_until
from outbox.tests.test_rabbitmq import seed

pytestmark = pytest.mark.django_db(transaction=True)


def add_events(event_types: list[str], aggregate_id: uuid.UUID | None = None) -> list[uuid.UUID]:
    """One event per type, in this order, all of one order (a new one unless given)."""
    aggregate_id = aggregate_id or uuid.uuid4()
    ids = []
    with connection.cursor() as cursor:
        for event_type in event_types:
            event_id = uuid.uuid4()
            cursor.execute(
                """
                INSERT INTO outbox (id, tenant_id, aggregate_type, aggregate_id, event_type,
                                    payload, created_at, attempts, last_error)
                VALUES (%s, 'tenant-1', 'order', %s, %s, '{}', now(), 0, '')
                """,
                [event_id, aggregate_id, event_type],
            )
            ids.append(event_id)
    return ids


def settled(consumer: Consumer, quiet: float = 0.5) -> list[str]:
    """Every message id received once nothing new has arrived for `quiet` seconds."""
    seen = -1
    while len(consumer.poll()) != seen:
        seen = len(consumer.received)
        time.sleep(quiet)
    return [m.message_id for m in consumer.received]


def unpublished_ids() -> set[str]:
    return {
        str(i)
        for i in OutboxEvent.objects.filter(published_at__isnull=True).values_list("id", flat=True)
    }


@pytest.fixture
def publisher(broker_url: str, exchange: str) -> Iterator[RabbitMQPublisher]:
    publisher = RabbitMQPublisher(url=broker_url, exchange=exchange, publish_timeout=5.0)
    yield publisher
    publisher.close()


def test_a_nack_for_some_messages_of_a_batch_marks_only_those(
    broker_url: str, exchange: str, consumer: Consumer, publisher: RabbitMQPublisher
) -> None:
    # given: the only queue takes five messages and nacks the rest (reject-publish)
    consumer.channel.queue_unbind(queue=consumer.queue, exchange=exchange, routing_key="#")
    full = consumer.channel.queue_declare(
        queue="",
        exclusive=True,
        arguments={"x-max-length": 5, "x-overflow": "reject-publish"},
    ).method.queue
    consumer.channel.queue_bind(queue=full, exchange=exchange, routing_key="#")
    seed(orders=20, events_per_order=1)

    # when: one batch of twenty, all published before any confirm is read
    result = outbox_publish_batch(
        publisher=publisher, batch_size=20, max_attempts=5, backoff=Backoff(1, 1)
    )

    # then: exactly the five the queue holds are published; each other one is refused
    in_queue = set()
    while (message := consumer.channel.basic_get(full, auto_ack=True))[0] is not None:
        in_queue.add(message[1].message_id)
    published = OutboxEvent.objects.filter(published_at__isnull=False)
    assert (result.claimed, result.published, result.failed) == (20, 5, 15)
    assert {str(i) for i in published.values_list("id", flat=True)} == in_queue
    refused = OutboxEvent.objects.filter(published_at__isnull=True)
    assert refused.count() == 15
    assert all(e.attempts == 1 and e.last_error == "nacked by the broker" for e in refused)
    assert all(e.next_attempt_at is not None and e.dead_at is None for e in refused)


def test_a_message_the_broker_refuses_outright_fails_alone(
    exchange: str,
    consumer: Consumer,
    publisher: RabbitMQPublisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: one event of a batch carries a user_id that is not the connection's user,
    # for which RabbitMQ closes the channel (406), taking every unconfirmed message down
    seed(orders=30, events_per_order=1)
    poison = OutboxEvent.objects.order_by("sequence")[10]
    real_properties = publishers.message_properties

    def properties(event: ClaimedEvent, **options: Any) -> pika.BasicProperties:
        props = real_properties(event, **options)
        if event.id == poison.id:
            props.user_id = "somebody-else"
        return props

    monkeypatch.setattr(publishers, "message_properties", properties)

    # when
    result = outbox_publish_batch(
        publisher=publisher, batch_size=30, max_attempts=5, backoff=Backoff(1, 1)
    )

    # then: only the refused one failed, with the broker's reason; the others arrived
    assert (result.published, result.failed, result.broker_trouble) == (29, 1, False)
    poison.refresh_from_db()
    assert poison.published_at is None
    assert poison.attempts == 1
    assert poison.last_error.startswith("channel closed by the broker")
    others = {
        str(i) for i in OutboxEvent.objects.exclude(pk=poison.pk).values_list("id", flat=True)
    }
    consumer.wait_for_distinct(29, timeout=10)
    assert set(settled(consumer)) == others

    # and the publisher goes on, on a new channel
    add_events(["orders.test"])
    assert (
        outbox_publish_batch(
            publisher=publisher, batch_size=30, max_attempts=5, backoff=Backoff(1, 1)
        ).published
        == 1
    )


def test_an_unroutable_event_is_retried_then_parked_without_holding_up_other_orders(
    broker_url: str, exchange: str, consumer: Consumer
) -> None:
    # given: only orders.test is routed; one order's first event cannot be routed
    consumer.channel.queue_unbind(queue=consumer.queue, exchange=exchange, routing_key="#")
    consumer.channel.queue_bind(queue=consumer.queue, exchange=exchange, routing_key="orders.test")
    stuck_order = uuid.uuid4()
    unroutable, held_back = add_events(["orders.unroutable", "orders.test"], stuck_order)
    seed(orders=40, events_per_order=3)  # 120 events of other orders, after it
    publisher = RabbitMQPublisher(url=broker_url, exchange=exchange, publish_timeout=5.0)

    # when
    with RelayThread(
        publisher, batch_size=100, max_attempts=3, backoff=Backoff(base=0.1, maximum=0.2)
    ):
        received = consumer.wait_for_distinct(120, timeout=30)
        wait_until(
            lambda: OutboxEvent.objects.filter(pk=unroutable, dead_at__isnull=False).exists(),
            15,
            "the unroutable event to be parked",
        )

    # then: every other order's events went out, in order; the stuck order waits
    per_order: dict[str, list[int]] = collections.defaultdict(list)
    for message in received:
        per_order[message.headers["aggregate_id"]].append(message.headers["sequence"])
    assert len(per_order) == 40
    assert all(s == sorted(s) and len(s) == 3 for s in per_order.values())
    parked = OutboxEvent.objects.get(pk=unroutable)
    assert parked.attempts == 3
    assert parked.last_error.startswith("unroutable")
    assert OutboxEvent.objects.get(pk=held_back).state == "pending"
    assert str(held_back) not in {m.message_id for m in received}


def queued(consumer: Consumer) -> int:
    """Messages the broker holds in the consumer's queue (routed, so confirmable)."""
    return consumer.channel.queue_declare(consumer.queue, passive=True).method.message_count


@pytest.fixture
def proxy(broker_url: str) -> Iterator[TcpProxy]:
    """A path to the broker that can be cut, or hold back the broker's confirms."""
    target = urlsplit(broker_url)
    proxy = TcpProxy((target.hostname or "127.0.0.1", target.port or 5672))
    yield proxy
    proxy.close()


def test_a_relay_killed_with_confirms_in_flight_redelivers_exactly_the_unmarked_events(
    broker_url: str, exchange: str, consumer: Consumer, proxy: TcpProxy
) -> None:
    # given: a relay process that has published a first backlog
    seed(orders=150, events_per_order=1)
    relay = relay_process(
        "--batch-size", "1000", broker_url=proxy.url(broker_url), exchange=exchange
    )
    try:
        wait_until(lambda: not unpublished_ids(), 60, "the first backlog marked published")
        marked_before = {m.message_id for m in consumer.wait_for_distinct(150, timeout=10)}

        # when: the broker has routed a whole new batch but its confirms are held back,
        # and the relay is SIGKILLed
        proxy.hold_replies()
        seed(orders=1000, events_per_order=1)
        wait_until(lambda: queued(consumer) >= 1000, 60, "the new batch routed")
        relay.send_signal(signal.SIGKILL)
        relay.communicate(timeout=10)
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.communicate(timeout=10)
    assert relay.returncode == -signal.SIGKILL
    unmarked = unpublished_ids()
    assert len(unmarked) == 1000
    first_pass = settled(consumer)
    assert set(first_pass) == marked_before | unmarked

    # when: another relay runs
    proxy.release_replies()
    consumer.received.clear()
    normal = relay_process("--once", broker_url=broker_url, exchange=exchange)
    _, stderr = normal.communicate(timeout=60)

    # then: it sent exactly the events left unmarked, each once, with the same message_id
    assert normal.returncode == 0, stderr
    assert collections.Counter(settled(consumer)) == collections.Counter(unmarked)
    assert not unpublished_ids()


def test_a_connection_cut_mid_batch_loses_nothing(
    broker_url: str, exchange: str, consumer: Consumer, proxy: TcpProxy
) -> None:
    # given: a running relay, connected through the proxy
    publisher = RabbitMQPublisher(
        url=proxy.url(broker_url), exchange=exchange, publish_timeout=5.0
    )
    with RelayThread(
        publisher, batch_size=500, max_attempts=3, backoff=Backoff(base=0.05, maximum=0.2)
    ) as running:
        add_events(["orders.test"])
        consumer.wait_for_distinct(1, timeout=10)
        wait_until(lambda: not unpublished_ids(), 10, "the first event marked")

        # when: the link is cut while a batch of 500 is routed and its confirms pending
        proxy.hold_replies()
        seed(orders=500, events_per_order=1)
        wait_until(lambda: queued(consumer) >= 500, 30, "the batch routed")
        proxy.cut()
        proxy.release_replies()
        time.sleep(0.3)
        proxy.restore()

        # then: the batch is published again, and marked; nothing parked
        wait_until(lambda: not unpublished_ids(), 60, "every event marked published")
    received = {m.message_id for m in consumer.wait_for_distinct(501, timeout=30)}
    assert received == {str(i) for i in OutboxEvent.objects.values_list("id", flat=True)}
    assert not OutboxEvent.objects.filter(dead_at__isnull=False).exists()
    # every event of the cut batch counted one attempt (and was published at the next)
    assert OutboxEvent.objects.filter(attempts=1).count() == 500
    assert running.relay.stats.outages >= 1


def test_a_batch_whose_confirms_do_not_come_in_time_is_retried_not_parked(
    broker_url: str, exchange: str, consumer: Consumer, proxy: TcpProxy
) -> None:
    # given: a connected publisher whose broker then stops answering
    publisher = RabbitMQPublisher(
        url=proxy.url(broker_url), exchange=exchange, publish_timeout=1.0
    )
    publisher.connect()
    proxy.hold_replies()
    seed(orders=50, events_per_order=1)
    try:
        # when
        result = outbox_publish_batch(
            publisher=publisher, batch_size=50, max_attempts=1, backoff=Backoff(0.01, 0.01)
        )
    finally:
        proxy.release_replies()

    # then: the whole batch is undelivered (an attempt each, none parked, even at the
    # last attempt), and goes out on a fresh connection next time
    assert (result.published, result.failed, result.dead) == (0, 50, 0)
    assert result.broker_trouble
    assert all(
        e.attempts == 1 and e.last_error.startswith("publish timeout") and e.dead_at is None
        for e in OutboxEvent.objects.all()
    )
    OutboxEvent.objects.update(next_attempt_at=None)
    try:
        again = outbox_publish_batch(
            publisher=publisher, batch_size=50, max_attempts=1, backoff=Backoff(0.01, 0.01)
        )
    finally:
        publisher.close()
    assert again.published == 50
    assert not unpublished_ids()
