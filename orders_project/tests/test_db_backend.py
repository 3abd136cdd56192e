"""The database backend: a health check with no round trip; instants come back exact."""

import datetime as dt
import time

import pytest
from django.db import connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from orders.models import Order
from orders.tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_connection():
    """A second connection to the test database, closed after the test."""
    wrapper = connections.create_connection("default")
    wrapper.ensure_connection()
    yield wrapper
    wrapper.close()


def test_a_healthy_idle_connection_is_usable_and_nothing_is_sent(
    own_connection: BaseDatabaseWrapper,
) -> None:
    # given: a session whose last statement we know
    with own_connection.cursor() as cursor:
        cursor.execute("SELECT 'last statement'")
    pid = own_connection.connection.info.backend_pid

    # when
    usable = own_connection.is_usable()

    # then: usable, and the server saw no statement after ours (Django's own check
    # would have sent SELECT 1)
    assert usable is True
    with connection.cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        assert cursor.fetchone() == ("SELECT 'last statement'",)


def test_a_session_the_server_ended_is_not_usable(own_connection: BaseDatabaseWrapper) -> None:
    # given: the server terminates the session, as a restart or an admin would
    pid = own_connection.connection.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])

    # when: the goodbye reaches the socket
    deadline = time.monotonic() + 5
    usable = own_connection.is_usable()
    while usable and time.monotonic() < deadline:
        time.sleep(0.05)
        usable = own_connection.is_usable()

    # then: Django will replace the connection before the next request uses it
    assert usable is False


def test_a_closed_connection_is_not_usable(own_connection: BaseDatabaseWrapper) -> None:
    # given
    own_connection.connection.close()

    # when / then
    assert own_connection.is_usable() is False


# timestamptz values as PostgreSQL may send them: microseconds, before 1970, far ahead,
# written with offsets other than UTC, a leap day, the first and last years Python has.
TIMESTAMPS = {
    "2026-11-26 12:00:00.123456+00": dt.datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=dt.UTC),
    "1969-07-20 20:17:40+00": dt.datetime(1969, 7, 20, 20, 17, 40, tzinfo=dt.UTC),
    "1999-12-31 23:59:59.999999-11:30": dt.datetime(2000, 1, 1, 11, 29, 59, 999999, tzinfo=dt.UTC),
    "2024-02-29 00:00:00+14": dt.datetime(2024, 2, 28, 10, 0, 0, tzinfo=dt.UTC),
    "9999-12-31 23:59:59.999999+00": dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
    "0001-01-02 00:00:00+00": dt.datetime(1, 1, 2, 0, 0, 0, tzinfo=dt.UTC),
}


def test_timestamps_are_read_as_aware_instants_in_utc() -> None:
    # when
    literals = ", ".join(f"'{value}'::timestamptz" for value in TIMESTAMPS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {literals}, NULL::timestamptz")
        *values, null = cursor.fetchone()

    # then: the same instants, each in UTC; NULL is None
    assert values == list(TIMESTAMPS.values())
    assert all(value.tzinfo is dt.UTC for value in values)
    assert null is None


def test_an_order_keeps_its_timestamps_to_the_microsecond() -> None:
    # given: an order stamped with an instant Python chose
    stamp = dt.datetime(2031, 3, 4, 5, 6, 7, 890123, tzinfo=dt.UTC)
    order = OrderFactory.create(created_at=stamp, updated_at=stamp)

    # when: read back from the database
    order.refresh_from_db()

    # then
    assert order.created_at == order.updated_at == stamp
    assert order.created_at.tzinfo is dt.UTC


@pytest.mark.django_db(transaction=True)
def test_a_server_side_cursor_reads_timestamps_as_a_plain_one() -> None:
    # given: a few orders, stamped a microsecond apart
    base = dt.datetime(2031, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    for step in range(5):
        stamp = base + dt.timedelta(microseconds=step)
        OrderFactory.create(tenant_id="tz-2", created_at=stamp, updated_at=stamp)
    orders = Order.objects.filter(tenant_id="tz-2").order_by("created_at")

    # when: streamed through a named (server-side) cursor, in a transaction
    with transaction.atomic():
        streamed = [order.created_at for order in orders.iterator(chunk_size=2)]

    # then
    assert streamed == [order.created_at for order in orders]
    assert streamed == [base + dt.timedelta(microseconds=step) for step in range(5)]
    assert {value.tzinfo for value in streamed} == {dt.UTC}
