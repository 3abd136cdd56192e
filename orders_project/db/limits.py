"""The server-side guards every session of the app runs under, and their check.

Directly (or through a session pooler) they travel as the connection's startup
`options`. Behind a transaction pooler they cannot: PgBouncer refuses the `options`
startup parameter, and a `SET` would stay on whichever server connection ran it. There
they are the session defaults of the app's role in its database (`ALTER ROLE … IN
DATABASE … SET`, written by `manage.py apply_db_limits`), which PostgreSQL applies to
every server connection the pooler opens, at no cost per request. A default that was
never written, or differs from the configuration, is caught by `check_session` when
the app connects (`check_new_session`, on Django's `connection_created` signal): the
connection is refused rather than used without its limits.
"""

import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError

# PostgreSQL's units for time settings; a bare number is milliseconds.
_MILLISECONDS_PER_UNIT = {
    "us": 0.001,
    "ms": 1,
    "s": 1000,
    "min": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
}
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?)\s*(us|ms|s|min|h|d)?\s*")


class SessionLimitsMissing(OperationalError):
    """The database session lacks the configured limits (answered 503, like an outage)."""


def milliseconds(value: str) -> int:
    """A PostgreSQL time setting (`5s`, `500ms`, `1min`, `0`) in whole milliseconds."""
    match = _DURATION.fullmatch(value)
    if match is None:
        raise ImproperlyConfigured(
            f"{value!r} is not a duration PostgreSQL understands (e.g. 500ms, 5s, 1min)."
        )
    number, unit = match.groups()
    return round(float(number) * _MILLISECONDS_PER_UNIT[unit or "ms"])


def session_defaults(
    *,
    lock_timeout: str,
    statement_timeout: str,
    idle_in_transaction_session_timeout: str,
    prepared_statements: bool,
) -> dict[str, str]:
    """The settings every session needs, as pg_settings spells them (times in ms)."""
    defaults = {
        "lock_timeout": str(milliseconds(lock_timeout)),
        "statement_timeout": str(milliseconds(statement_timeout)),
        "idle_in_transaction_session_timeout": str(
            milliseconds(idle_in_transaction_session_timeout)
        ),
        "TimeZone": "UTC",
    }
    if prepared_statements:
        # Prepared statements are still planned with each execution's values (settings.py).
        defaults["plan_cache_mode"] = "force_custom_plan"
    return defaults


def check_session(cursor: Any, expected: Mapping[str, str]) -> None:
    """Raise SessionLimitsMissing unless the session's settings are `expected`."""
    cursor.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", [list(expected)])
    actual = dict(cursor.fetchall())
    wrong = {name: actual.get(name) for name in expected if actual.get(name) != expected[name]}
    if wrong:
        raise SessionLimitsMissing(
            f"the database session has {wrong}, not {dict(expected)}: behind a "
            "transaction pooler the limits are the role's defaults in the database; "
            "run `manage.py apply_db_limits`, then let the pooler reconnect"
        )


def check_new_session(sender: object, connection: Any, **kwargs: Any) -> None:
    """Behind a transaction pooler, refuse a new connection whose session lacks the
    limits (DB_SESSION_DEFAULTS): it is closed, and the request fails as in an outage."""
    if not settings.DB_TRANSACTION_POOLING:
        return
    try:
        with connection.cursor() as cursor:
            check_session(cursor, settings.DB_SESSION_DEFAULTS)
    except BaseException:
        connection.close()  # the next query connects, and checks, afresh
        raise


def plain_connection_params(wrapper: Any) -> dict[str, Any]:
    """What psycopg.connect() needs to open a connection of its own as `wrapper` would.

    Django's cursor factory, adapters context and prepare threshold belong to its own
    connections; the rest (host, credentials, startup options) is the same session.
    """
    return {
        key: value
        for key, value in wrapper.get_connection_params().items()
        if key not in {"cursor_factory", "context", "prepare_threshold"}
    }
