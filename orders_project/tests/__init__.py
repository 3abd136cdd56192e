"""Tests of the project wiring, and the problem+json assertion every suite shares."""

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from django.db import connection

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as ClientResponse
else:
    from django.http import HttpResponse as ClientResponse

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def assert_problem(response: ClientResponse, status: int, code: str) -> dict[str, Any]:
    """Assert `response` is an RFC 9457 problem with `status` and `code`; return its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json", response["Content-Type"]
    body: dict[str, Any] = response.json()
    # Plain asserts outside test modules are not rewritten by pytest: say what was seen.
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["status"] == status, body
    assert body["code"] == code, body
    assert body["type"].endswith(code.replace("_", "-")), body
    assert body["title"], body
    assert body["detail"], body
    return body


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
