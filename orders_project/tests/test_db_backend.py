"""The database backend's health check: no round trip, and still catches a dead session."""

import time

import pytest
from django.db import connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

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
