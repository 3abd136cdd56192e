"""Where the relay LISTENs: OUTBOX_LISTEN_DATABASE_URL when set; nowhere (polling only)
behind a transaction pooler without it, which cannot keep a session's LISTEN; the app's
own database connection otherwise."""

import uuid
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import override_settings

from orders_project.tests import child_database_url
from outbox.models import OutboxEvent
from outbox.relay import Listener
from outbox.repository import OutboxRepository
from outbox.tests.support import FakePublisher, RelayThread, wait_until

committed = pytest.mark.django_db(transaction=True)


def add_event() -> OutboxEvent:
    with transaction.atomic():
        return OutboxRepository(tenant_id="tenant-1").add(
            aggregate_type="order",
            aggregate_id=uuid.uuid4(),
            event_type="orders.closed",
            payload={"n": 1},
        )


def listening_sessions() -> list[str]:
    """application_name of every session of this database that LISTENs."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT application_name FROM pg_stat_activity"
            " WHERE datname = current_database() AND query LIKE 'LISTEN %%'"
        )
        return [name for (name,) in cursor.fetchall()]


@pytest.fixture
def behind_transaction_pooler(monkeypatch: pytest.MonkeyPatch) -> None:
    """DB_TRANSACTION_POOLING=true, as the relay's settings say it (the session this test
    runs on still has its limits, so the backend's check passes)."""
    monkeypatch.setattr(settings, "DB_TRANSACTION_POOLING", True)


@pytest.fixture
def listen_url() -> Iterator[str]:
    """A direct URL to the test database whose sessions are recognisable."""
    url = f"{child_database_url()}{'&' if '?' in child_database_url() else '?'}"
    url += "application_name=outbox-listener-test"
    with override_settings(OUTBOX_LISTEN_DATABASE_URL=url):
        yield url


@committed
@pytest.mark.parametrize("pooled", [False, True], ids=["direct", "transaction-pooler"])
def test_the_listener_connects_to_the_listen_url_when_given(
    pooled: bool, listen_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    if pooled:
        monkeypatch.setattr(settings, "DB_TRANSACTION_POOLING", True)
    listener = Listener()
    try:
        assert listener.wait(0.1) is True  # connected: scan for what came before

        # when
        add_event()

        # then: the notification came over the listen URL's session
        assert listener.wait(5.0) is True
        assert listening_sessions() == ["outbox-listener-test"]
    finally:
        listener.close()


@committed
def test_behind_a_transaction_pooler_without_a_listen_url_the_relay_polls(
    behind_transaction_pooler: None,
) -> None:
    # given
    publisher = FakePublisher()
    with RelayThread(publisher, poll_interval=0.2):
        # when
        event = add_event()

        # then: published by a scan, with no LISTEN session opened anywhere
        wait_until(lambda: [e.id for e in publisher.sent] == [event.id], 5, "a polled event")
        assert listening_sessions() == []


@committed
def test_without_a_pooler_or_listen_url_the_listener_uses_the_app_connection() -> None:
    listener = Listener()
    try:
        assert listener.wait(0.1) is True
        add_event()
        assert listener.wait(5.0) is True
        assert len(listening_sessions()) == 1
    finally:
        listener.close()
