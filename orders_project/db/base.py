"""PostgreSQL backend: Django's, with a health check that sends nothing, and C timestamps.

With CONN_HEALTH_CHECKS Django checks a persistent connection before the first query of
every request, and its PostgreSQL backend does that with `SELECT 1`: one more round trip
per request, as many as a GET itself costs (measured: docs/DECISIONS.md). Here the check
asks the socket instead. A healthy idle connection has nothing to read; a connection the
server ended (restart, `pg_terminate_backend`, idle timeout) has its goodbye or
end-of-file waiting, so the socket is readable and the connection is replaced before
the request uses it. A peer that vanished without a word fails the request's first query
instead, as it would have failed `SELECT 1` only after the same TCP timeout.

It also reads `timestamptz` columns with psycopg's own loader (C, in psycopg_binary)
instead of Django's, where the two give the same values (measured: docs/DECISIONS.md).
Django registers a Python subclass of psycopg's loader so that every aware datetime
carries Django's time zone; subclassing costs the C implementation, and a list page
parses up to sixty of them. When Django's zone is UTC and the session's `TimeZone` is
UTC (settings.py sets it), psycopg's loader already returns datetimes in `datetime.UTC`,
the very tzinfo Django would set.
"""

import datetime as dt
import select
from typing import Any

from django.db.backends.postgresql import base
from psycopg.types.datetime import TimestamptzLoader


class DatabaseWrapper(base.DatabaseWrapper):
    """Django's PostgreSQL wrapper; `is_usable` and the timestamptz loader differ."""

    def create_cursor(self, name: str | None = None) -> Any:
        cursor = super().create_cursor(name)
        session_zone = self.connection.info.parameter_status("TimeZone")
        if self.timezone is dt.UTC and session_zone == "UTC":
            # Registered on the cursor (a copy-on-write of one format's loaders): Django's
            # checks of the connection's own loader stay as they are.
            cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
        return cursor

    def is_usable(self) -> bool:
        connection: Any = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        try:
            readable, _, _ = select.select([connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        # Nothing is ever due on an idle connection of ours (no LISTEN on it): anything
        # readable is the server ending the session, or something we did not expect.
        return not readable
