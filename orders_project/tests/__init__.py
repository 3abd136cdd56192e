"""Tests of the project wiring, and the database URLs every app's tests give child
processes. The HTTP helpers every app's tests share are `orders.tests.http`."""

import os
from urllib.parse import urlsplit, urlunsplit

from django.db import connection


def child_database_url() -> str:
    """DATABASE_URL for a child process: the parent's URL, naming the test database."""
    return database_url(connection.settings_dict["NAME"])


def database_url(name: str) -> str:
    """The parent's DATABASE_URL naming another database on the same server.

    Keeps whatever the URL says about how to connect (the embedded PostgreSQL's unix
    socket, a host and port, credentials) and swaps only the database name.
    """
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + name))
