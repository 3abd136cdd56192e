"""PostgreSQL backend: Django's, with a connection health check that sends nothing.

With CONN_HEALTH_CHECKS Django checks a persistent connection before the first query of
every request, and its PostgreSQL backend does that with `SELECT 1`: one more round trip
per request, as many as a GET itself costs (measured: docs/DECISIONS.md). Here the check
asks the socket instead. A healthy idle connection has nothing to read; a connection the
server ended (restart, `pg_terminate_backend`, idle timeout) has its goodbye or
end-of-file waiting, so the socket is readable and the connection is replaced before
the request uses it. A peer that vanished without a word fails the request's first query
instead, as it would have failed `SELECT 1` only after the same TCP timeout.
"""

import select
from typing import Any

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    """Django's PostgreSQL wrapper; only `is_usable` differs."""

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
