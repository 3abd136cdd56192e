"""The database backend: a health check with no round trip; timestamps as Django reads them."""

import datetime as dt
import time
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql import base as postgresql

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
TIMESTAMPS = (
    "2026-11-26 12:00:00.123456+00",
    "1969-07-20 20:17:40+00",
    "1999-12-31 23:59:59.999999-11:30",
    "2024-02-29 00:00:00+14",
    "9999-12-31 23:59:59.999999+00",
    "0001-01-02 00:00:00+00",
)


def _fetch_timestamps(cursor: Any) -> list[Any]:
    literals = ", ".join(f"'{value}'::timestamptz" for value in TIMESTAMPS)
    cursor.execute(f"SELECT {literals}, NULL::timestamptz")
    return list(cursor.fetchone())


def _read_both_ways(wrapper: BaseDatabaseWrapper) -> tuple[list[Any], list[Any]]:
    """TIMESTAMPS through our cursor, and through one exactly as Django's backend makes it."""
    with wrapper.cursor() as cursor:
        ours = _fetch_timestamps(cursor)
    django_cursor = postgresql.DatabaseWrapper.create_cursor(wrapper)
    try:
        return ours, _fetch_timestamps(django_cursor)
    finally:
        django_cursor.close()


def _zones(values: list[Any]) -> list[Any]:
    return [value.tzinfo if value else None for value in values]


def test_timestamps_read_exactly_as_django_reads_them(
    own_connection: BaseDatabaseWrapper,
) -> None:
    # when: the same values through our cursor and through Django's
    ours, theirs = _read_both_ways(own_connection)

    # then: equal instants, the same tzinfo object (aware, in UTC), NULL still None
    assert ours == theirs
    assert _zones(ours) == _zones(theirs)
    assert all(value.tzinfo is dt.UTC for value in ours[:-1])
    assert ours[-1] is None


def test_an_order_keeps_its_timestamps_to_the_microsecond() -> None:
    # given: an order stamped with an instant Python chose
    stamp = dt.datetime(2031, 3, 4, 5, 6, 7, 890123, tzinfo=dt.UTC)
    order = OrderFactory.create(created_at=stamp, updated_at=stamp)

    # when: read back from the database
    order.refresh_from_db()

    # then
    assert order.created_at == order.updated_at == stamp
    assert order.created_at.tzinfo is dt.UTC


def test_a_session_not_in_utc_is_read_as_django_reads_it(
    own_connection: BaseDatabaseWrapper,
) -> None:
    # given: a session moved off UTC behind Django's back
    with own_connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'America/St_Johns'")

    # when
    ours, theirs = _read_both_ways(own_connection)

    # then: no faster path is taken for it; whatever Django makes of it, we make too
    assert ours == theirs
    assert _zones(ours) == _zones(theirs)


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
