"""manage.py apply_db_limits: make the server-side limits the role's session defaults."""

from typing import Any

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import sql

from orders_project.db.limits import plain_connection_params


class Command(BaseCommand):
    help = (
        "Store DB_LOCK_TIMEOUT, DB_STATEMENT_TIMEOUT and DB_IDLE_IN_TRANSACTION_TIMEOUT "
        "(and the time zone and plan cache mode the app expects) as the session defaults "
        "of the role the app connects as, in its database: how the limits reach every "
        "session behind a transaction pooler (DB_TRANSACTION_POOLING), where the app "
        "refuses sessions without them. Run it before `migrate` at every release. "
        "Sessions opened before keep their old values: after a change, make the pooler "
        "reconnect (PgBouncer's admin console: RECONNECT) before the new app starts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="Database alias.")

    def handle(self, *args: Any, database: str, **options: Any) -> None:
        wrapper = connections[database]
        defaults: dict[str, str] = settings.DB_SESSION_DEFAULTS
        # A connection of its own: Django's would refuse a session without the limits,
        # which is what this command is here to fix.
        with psycopg.connect(**plain_connection_params(wrapper)) as conn, conn.transaction():
            role, dbname = conn.execute("SELECT current_user, current_database()").fetchall()[0]
            for name, value in defaults.items():
                # ALTER ROLE takes no parameters: psycopg quotes the names and the value.
                conn.execute(
                    sql.SQL("ALTER ROLE CURRENT_USER IN DATABASE {} SET {} = {}").format(
                        sql.Identifier(dbname), sql.Identifier(name), sql.Literal(value)
                    )
                )
        settings_text = ", ".join(f"{name}={value}" for name, value in defaults.items())
        self.stdout.write(f"role {role} in database {dbname}: {settings_text}")
