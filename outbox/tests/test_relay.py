"""The relay loop: woken by NOTIFY, polling when it must, surviving a database restart,
stopping cleanly on SIGTERM. The broker is a fake here; test_rabbitmq uses the real one."""

import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import OperationalError, connection, transaction

from orders_project.tests import child_database_url
from outbox import relay as relay_module
from outbox.backoff import Backoff
from outbox.models import OutboxEvent
from outbox.relay import Listener, Relay
from outbox.repository import NOTIFY_CHANNEL, OutboxRepository
from outbox.tests.factories import OutboxEventFactory
from outbox.tests.support import (
    FakePublisher,
    RelayThread,
    relay_process,
    unique_name,
    wait_until,
)

committed = pytest.mark.django_db(transaction=True)


def add_event(aggregate_id: uuid.UUID | None = None) -> OutboxEvent:
    """What order_close does: add an event in a transaction of its own."""
    with transaction.atomic():
        return OutboxRepository(tenant_id="tenant-1").add(
            aggregate_type="order",
            aggregate_id=aggregate_id or uuid.uuid4(),
            event_type="orders.closed",
            payload={"n": 1},
        )


@pytest.fixture
def listener() -> Iterator[Listener]:
    listener = Listener()
    assert listener.wait(0.1) is True  # the first call connects and asks for a scan
    yield listener
    listener.close()


@committed
def test_a_committed_event_notifies_the_listener(listener: Listener) -> None:
    # when
    add_event()

    # then
    assert listener.wait(5.0) is True


@committed
def test_a_rolled_back_write_notifies_nobody_and_publishes_nothing(listener: Listener) -> None:
    # given
    class Abort(Exception):
        pass

    def write_then_fail() -> None:
        with transaction.atomic():
            add_event()
            raise Abort

    # when
    with pytest.raises(Abort):
        write_then_fail()

    # then
    assert listener.wait(0.5) is False
    publisher = FakePublisher()
    Relay(
        publisher=publisher,
        batch_size=10,
        poll_interval=0.1,
        max_attempts=3,
        backoff=Backoff(1, 1),
        once=True,
    ).run()
    assert publisher.sent == []
    assert not OutboxEvent.objects.exists()


@committed
def test_the_relay_wakes_on_notify_long_before_its_poll_interval() -> None:
    # given
    publisher = FakePublisher()
    with RelayThread(publisher, poll_interval=60.0):
        time.sleep(0.3)  # idle, listening

        # when
        started = time.monotonic()
        event = add_event()

        # then
        wait_until(lambda: [e.id for e in publisher.sent] == [event.id], 5, "the event")
        assert time.monotonic() - started < 2.0
    assert OutboxEvent.objects.get().published_at is not None


@committed
def test_any_committed_insert_notifies_and_a_rolled_back_one_does_not() -> None:
    # given: a session listening as the relay does
    with psycopg.connect(child_database_url(), autocommit=True) as listener:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")

        # when: a row is written by plain SQL of another writer, then one is rolled back
        with psycopg.connect(child_database_url()) as writer:
            writer.execute(_FOREIGN_INSERT, [uuid.uuid4(), uuid.uuid4()])
        with psycopg.connect(child_database_url()) as writer:
            writer.execute(_FOREIGN_INSERT, [uuid.uuid4(), uuid.uuid4()])
            writer.rollback()

        # then: exactly the committed insert was announced, by the table's trigger
        notes = list(listener.notifies(timeout=1.0))
    assert [note.channel for note in notes] == [NOTIFY_CHANNEL]
    assert OutboxEvent.objects.count() == 1


_FOREIGN_INSERT = """
INSERT INTO outbox (id, tenant_id, aggregate_type, aggregate_id, event_type, payload,
                    created_at, attempts, last_error)
VALUES (%s, 'tenant-1', 'order', %s, 'orders.closed', '{}', now(), 0, '')
"""


@committed
def test_without_notifications_the_relay_still_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    # given: LISTEN can never connect
    def refuse(self: Listener) -> None:
        raise psycopg.OperationalError("no listening today")

    monkeypatch.setattr(Listener, "_connect", refuse)
    publisher = FakePublisher()
    with RelayThread(publisher, poll_interval=0.2):
        # when
        event = add_event()

        # then
        wait_until(lambda: [e.id for e in publisher.sent] == [event.id], 5, "a polled event")


@committed
def test_the_relay_survives_its_database_connections_being_killed() -> None:
    # given: a running relay that has published once
    publisher = FakePublisher()
    with RelayThread(publisher, poll_interval=0.2):
        add_event()
        wait_until(lambda: len(publisher.sent) == 1, 5, "the first event")

        # when: every other connection to the test database is terminated, as a
        # PostgreSQL restart would (both the relay's queries and its LISTEN)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert cursor.fetchone()[0] >= 1
        second = add_event()

        # then
        wait_until(lambda: second.id in {e.id for e in publisher.sent}, 10, "after the restart")
    assert not OutboxEvent.objects.filter(published_at__isnull=True).exists()


@committed
def test_a_broker_outage_backs_off_and_publishes_once_it_is_back() -> None:
    # given
    publisher = FakePublisher()
    publisher.down = True
    with RelayThread(publisher):
        event = add_event()
        time.sleep(0.5)
        assert publisher.sent == []
        assert OutboxEvent.objects.get().attempts == 0  # an outage is not the event's fault

        # when
        publisher.down = False

        # then
        wait_until(lambda: [e.id for e in publisher.sent] == [event.id], 5, "after the outage")


@committed
def test_a_relay_backing_off_from_the_database_keeps_its_broker_connection_alive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: the database fails the relay's first batch; the backoff is two to four
    # seconds (four, less the jitter's up to half)
    publisher = FakePublisher()
    keep_alives_at_each_batch: list[int] = []
    real_batch = relay_module.outbox_publish_batch

    def batch(**options: Any) -> Any:
        keep_alives_at_each_batch.append(publisher.keep_alives)
        if len(keep_alives_at_each_batch) == 1:
            raise OperationalError("the database went away")
        return real_batch(**options)

    monkeypatch.setattr(relay_module, "outbox_publish_batch", batch)

    # when
    with RelayThread(publisher, backoff=Backoff(base=4.0, maximum=4.0)):
        wait_until(lambda: len(keep_alives_at_each_batch) >= 2, 10, "the retry")

    # then: the broker connection was serviced all through the backoff (a heartbeat
    # interval is a second at the least), not left to be reset by the broker
    assert keep_alives_at_each_batch[0] == 0
    assert keep_alives_at_each_batch[1] >= 3


@committed
def test_max_events_stops_the_relay_after_that_many() -> None:
    # given
    OutboxEventFactory.create_batch(5)
    publisher = FakePublisher()

    # when
    stats = Relay(
        publisher=publisher,
        batch_size=2,
        poll_interval=0.1,
        max_attempts=3,
        backoff=Backoff(1, 1),
        max_events=3,
    ).run()

    # then
    assert stats.published == 3
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 2


@committed
def test_sigterm_stops_the_relay_process_cleanly() -> None:
    # given: a real relay process, printing events as JSON lines (no broker)
    process = relay_process(broker_url=None, exchange=unique_name("sigterm"))
    try:
        add_event()
        wait_until(
            lambda: not OutboxEvent.objects.filter(published_at__isnull=True).exists(),
            20,
            "the relay process to publish",
        )

        # when
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)

    # then
    assert process.returncode == 0, stderr
    assert '"routingKey":"orders.closed"' in stdout
    assert "stopped after" in stderr
