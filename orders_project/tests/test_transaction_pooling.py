"""Behind PgBouncer in transaction mode (DB_TRANSACTION_POOLING): the app connects, and
every server-side limit still fires, because it is the role's default in the database
(`manage.py apply_db_limits`) rather than a startup option PgBouncer refuses.

A PgBouncer of the test's own (faults/pgbouncer.py) sits in front of the test database;
the app's default connection is pointed at it as DB_TRANSACTION_POOLING=true would.
"""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from io import StringIO
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import DatabaseError, OperationalError, connection, transaction

from faults.pgbouncer import PgBouncer, require_pgbouncer
from orders.models import Order
from orders.tests.http import (
    Client,
    assert_order_response,
    assert_problem,
    confirm,
    create,
)
from orders_project.db.limits import SessionLimitsMissing, milliseconds, session_defaults
from orders_project.tests import child_database_url

LIMITS = {
    "lock_timeout": "5s",
    "statement_timeout": "15s",
    "idle_in_transaction_session_timeout": "60s",
}


@pytest.fixture(scope="module")
def pgbouncer(django_db_blocker: Any) -> Iterator[PgBouncer]:
    """PgBouncer in front of the server that holds the test database."""
    require_pgbouncer()
    with django_db_blocker.unblock():
        connection.ensure_connection()
        info = connection.connection.info
        bouncer = PgBouncer(host=info.host, port=info.port, user=info.user)
    yield bouncer
    bouncer.close()


def point_at(pgbouncer: PgBouncer, monkeypatch: pytest.MonkeyPatch, **limits: str) -> None:
    """Make the default connection what DB_TRANSACTION_POOLING=true configures, through
    `pgbouncer`, with `limits` (LIMITS otherwise) as the limits it expects."""
    settings_dict = connection.settings_dict
    options = {
        name: value
        for name, value in settings_dict["OPTIONS"].items()
        if name not in {"host", "port", "options", "server_side_binding", "prepare_threshold"}
    }
    connection.close()
    monkeypatch.setitem(settings_dict, "HOST", "127.0.0.1")
    monkeypatch.setitem(settings_dict, "PORT", str(pgbouncer.port))
    monkeypatch.setitem(settings_dict, "OPTIONS", options)
    monkeypatch.setitem(settings_dict, "DISABLE_SERVER_SIDE_CURSORS", True)
    monkeypatch.setattr(settings, "DB_TRANSACTION_POOLING", True)
    monkeypatch.setattr(
        settings,
        "DB_SESSION_DEFAULTS",
        session_defaults(**(LIMITS | limits), prepared_statements=False),
    )


@pytest.fixture
def pooled(
    pgbouncer: PgBouncer, transactional_db: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PgBouncer]:
    """The default connection goes through PgBouncer until the test ends; the role's
    defaults in the test database are cleared before and after."""
    reset_role_defaults(pgbouncer)
    point_at(pgbouncer, monkeypatch)
    yield pgbouncer
    connection.close()
    monkeypatch.undo()  # back to the direct connection, before the database is flushed
    reset_role_defaults(pgbouncer)


def reset_role_defaults(pgbouncer: PgBouncer) -> None:
    """Clear the role's defaults in the test database; PgBouncer's server connections
    are replaced, so none keeps what an earlier test applied."""
    with psycopg.connect(child_database_url(), autocommit=True) as direct:
        dbname = direct.info.dbname
        direct.execute(
            psycopg.sql.SQL("ALTER ROLE CURRENT_USER IN DATABASE {} RESET ALL").format(
                psycopg.sql.Identifier(dbname)
            )
        )
    pgbouncer.reconnect()


def apply_limits(pgbouncer: PgBouncer, monkeypatch: pytest.MonkeyPatch, **limits: str) -> None:
    """What a release runs: `apply_db_limits` with these limits configured."""
    point_at(pgbouncer, monkeypatch, **limits)
    call_command("apply_db_limits", stdout=StringIO())
    pgbouncer.reconnect()


def draft_order(api: Client) -> str:
    order_id: str = assert_order_response(create(api), 201)["id"]
    return order_id


def locking(order_id: str) -> psycopg.Connection:
    """A direct session that holds the order's row lock until it is closed."""
    holder = psycopg.connect(child_database_url())
    holder.execute("SELECT 1 FROM orders WHERE id = %s FOR UPDATE", [order_id])
    return holder


def test_startup_options_are_what_pgbouncer_refuses(pgbouncer: PgBouncer) -> None:
    # The reason for the whole design: the limits cannot travel as `options` here.
    with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter: options"):
        psycopg.connect(pgbouncer.url("postgres"), options="-c lock_timeout=5s")


@pytest.mark.django_db(transaction=True)
def test_manage_py_runs_through_pgbouncer_once_told_it_is_there(pgbouncer: PgBouncer) -> None:
    # given: the settings a user writes, and PgBouncer in front of the database
    url = pgbouncer.url(connection.settings_dict["NAME"])
    reset_role_defaults(pgbouncer)
    try:
        # when: without DB_TRANSACTION_POOLING the limits go as startup options
        refused = manage_py(url, "migrate", "--check")
        # and: with it, the release steps run through PgBouncer
        applied = manage_py(url, "apply_db_limits", DB_TRANSACTION_POOLING="true")
        pgbouncer.reconnect()
        checked = manage_py(url, "migrate", "--check", DB_TRANSACTION_POOLING="true")
    finally:
        reset_role_defaults(pgbouncer)

    # then
    assert refused.returncode != 0
    assert "unsupported startup parameter: options" in refused.stderr
    assert applied.returncode == 0, applied.stderr
    assert "lock_timeout=5000" in applied.stdout
    assert checked.returncode == 0, checked.stderr


def manage_py(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """manage.py in a child process with DATABASE_URL `url`, default limits and `env`."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("DB_")}
    child_env.update(DATABASE_URL=url, **env)
    return subprocess.run(  # noqa: S603 (our own manage.py)
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_the_role_defaults_the_app_refuses_to_use_the_connection(
    pooled: PgBouncer, api: Client
) -> None:
    # given: nobody ran apply_db_limits: PgBouncer's sessions have the server's defaults

    # when
    response = create(api)

    # then: no request runs without its limits; it is an outage, and says so in the log
    assert_problem(response, 503, "service_unavailable")
    with pytest.raises(SessionLimitsMissing, match="apply_db_limits"):
        connection.ensure_connection()
    assert connection.connection is None  # refused, not kept for the next request


def test_apply_db_limits_sets_every_session_default(
    pooled: PgBouncer, api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # when
    apply_limits(pooled, monkeypatch)

    # then: every session the pooler hands out has the limits, and the app serves
    assert_order_response(create(api), 201)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('lock_timeout'), current_setting('statement_timeout'),"
            " current_setting('idle_in_transaction_session_timeout'),"
            " current_setting('TimeZone')"
        )
        assert cursor.fetchone() == ("5s", "15s", "1min", "UTC")


def test_a_wait_over_lock_timeout_is_cut_off_through_pgbouncer(
    pooled: PgBouncer, api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    apply_limits(pooled, monkeypatch, lock_timeout="200ms")
    order_id = draft_order(api)
    holder = locking(order_id)
    try:
        # when: the row lock is held past lock_timeout
        response = confirm(api, order_id)
        with pytest.raises(OperationalError) as raised, transaction.atomic():
            Order.objects.select_for_update().get(pk=order_id)
    finally:
        holder.close()

    # then: the request is a 503 and changed nothing; the statement hit lock_timeout
    assert_problem(response, 503, "service_unavailable")
    assert isinstance(raised.value.__cause__, psycopg.errors.LockNotAvailable)
    assert Order.objects.get(pk=order_id).version == 1


def test_a_statement_over_statement_timeout_is_cut_off_through_pgbouncer(
    pooled: PgBouncer, api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: lock waits may last, statements may not
    apply_limits(pooled, monkeypatch, lock_timeout="30s", statement_timeout="300ms")
    order_id = draft_order(api)
    holder = locking(order_id)
    try:
        # when
        response = confirm(api, order_id)
        with pytest.raises(OperationalError) as raised, connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(5)")
    finally:
        holder.close()

    # then
    assert_problem(response, 503, "service_unavailable")
    assert isinstance(raised.value.__cause__, psycopg.errors.QueryCanceled)
    assert "statement timeout" in str(raised.value)
    assert Order.objects.get(pk=order_id).version == 1


def test_an_abandoned_transaction_loses_its_locks_through_pgbouncer(
    pooled: PgBouncer, api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    apply_limits(pooled, monkeypatch, idle_in_transaction_session_timeout="300ms")
    order_id = draft_order(api)

    # when: a transaction takes the order's lock, then its client goes quiet
    def lock_then_go_quiet() -> None:
        with transaction.atomic():
            Order.objects.select_for_update().get(pk=order_id)
            time.sleep(1.5)
            Order.objects.filter(pk=order_id).update(version=99)

    # then: PostgreSQL ended the transaction: its next statement fails
    with pytest.raises(DatabaseError):
        lock_then_go_quiet()

    # and: the lock is free and nothing it wrote is left
    with psycopg.connect(child_database_url(), autocommit=True) as other:
        row = other.execute(
            "SELECT version FROM orders WHERE id = %s FOR UPDATE NOWAIT", [order_id]
        ).fetchone()
    assert row == (1,)


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["5s", "500ms", "1min", "0", "250", "1.5s", " 2 h", "3d"])
def test_durations_are_read_as_postgresql_reads_them(value: str) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [value])
        cursor.execute("SELECT setting::bigint FROM pg_settings WHERE name = 'lock_timeout'")
        assert cursor.fetchone() == (milliseconds(value),)


@pytest.mark.parametrize("value", ["", "5 seconds", "-1s", "1e3", "5S"])
def test_a_duration_postgresql_would_not_read_is_refused_at_startup(value: str) -> None:
    with pytest.raises(ImproperlyConfigured):
        milliseconds(value)
