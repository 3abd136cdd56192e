"""The Host header: only allowed names are served, a refusal is a 400 problem and one
WARNING line, and a forged Host cannot aim a redirect off-site."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from orders.tests.http import assert_problem
from orders_project.wsgi import application
from tenancy.repository import AccessRepository

MANAGE = Path(__file__).resolve().parents[2] / "manage.py"
PRINT_ALLOWED_HOSTS = (
    "import json; from django.conf import settings; print(json.dumps(settings.ALLOWED_HOSTS))"
)
BAD_HOSTS = [
    "evil.example",
    "evil.example:8000",
    "127.0.0.1@evil.example",
    "localhost.evil.example",
    "",
    "x" * 5000,
]


@pytest.mark.parametrize("host", BAD_HOSTS, ids=lambda host: host[:40] or "empty")
def test_a_host_not_allowed_is_a_bad_request_logged_as_one_warning(
    caplog: pytest.LogCaptureFixture, host: str
) -> None:
    # when
    with caplog.at_level(logging.INFO):
        response = Client().get("/healthz", headers={"host": host})

    # then: a problem, and one WARNING line without a traceback, nothing at ERROR
    assert_problem(response, 400, "bad_request")
    refusals = [r for r in caplog.records if r.name == "orders_project.problems"]
    assert [(r.levelno, r.exc_info) for r in refusals] == [(logging.WARNING, None)]
    assert repr(host[:100]) in refusals[0].getMessage()
    assert len(refusals[0].getMessage()) < 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "127.0.0.1:8000", "[::1]"])
def test_the_loopback_names_are_served(host: str) -> None:
    assert Client().get("/healthz", headers={"host": host}).status_code == 200


def healthz_without_host(protocol: str) -> tuple[str, dict[str, str], bytes]:
    """GET /healthz with no Host header through the WSGI application gunicorn serves,
    as gunicorn bound to 127.0.0.1 (an allowed name) passes it on."""
    environ: dict[str, Any] = {
        "SERVER_PROTOCOL": protocol,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "PATH_INFO": "/healthz",
    }
    setup_testing_defaults(environ)
    del environ["HTTP_HOST"]
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answer.update(status=status, headers=dict(headers))

    body = b"".join(application(environ, start_response))
    return answer["status"], answer["headers"], body


# Django's WSGI handler, unlike the test client, closes old connections as a request
# starts: it must not find them inside a test's wrapping transaction.
@pytest.mark.django_db(transaction=True)
def test_an_http_1_1_request_without_host_is_a_bad_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # when
    with caplog.at_level(logging.INFO):
        status, headers, body = healthz_without_host("HTTP/1.1")

    # then: refused (RFC 9112 §3.2) rather than served as 127.0.0.1
    assert status.startswith("400 ")
    assert headers["Content-Type"] == "application/problem+json"
    assert json.loads(body)["code"] == "bad_request"
    refusals = [r for r in caplog.records if r.name == "orders_project.problems"]
    assert [(r.levelno, r.exc_info) for r in refusals] == [(logging.WARNING, None)]


@pytest.mark.django_db(transaction=True)
def test_an_http_1_0_request_without_host_is_served() -> None:
    # when: HTTP/1.0 does not require Host; Django reads the bound address instead
    status, _, _ = healthz_without_host("HTTP/1.0")

    # then
    assert status.startswith("200 ")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("host", "status", "location"),
    [
        # a forged Host would have made the off-site `next` look same-site
        ("evil.example", 400, None),
        # the real Host: the off-site `next` is dropped for the default page
        ("localhost:8000", 302, "/orders"),
    ],
)
def test_a_forged_host_cannot_aim_the_tenant_switch_off_site(
    host: str, status: int, location: str | None
) -> None:
    # given: a member of tenant-1, logged in
    user = get_user_model().objects.create_user("alice", password="a-long-password-1")
    AccessRepository().add_membership(user.pk, "tenant-1")
    browser = Client()
    browser.force_login(user)

    # when
    response = browser.post(
        "/session/tenant",
        {"tenant": "tenant-1", "next": "http://evil.example/phish"},
        headers={"host": host},
    )

    # then
    assert response.status_code == status
    assert response.get("Location") == location


def allowed_hosts(**env: str) -> list[str]:
    """ALLOWED_HOSTS as production settings read it from `env`."""
    base = {k: v for k, v in os.environ.items() if k not in ("HOST", "DJANGO_ALLOWED_HOSTS")}
    result = subprocess.run(  # noqa: S603 (our own manage.py)
        [
            sys.executable,
            str(MANAGE),
            "shell",
            "-c",
            PRINT_ALLOWED_HOSTS,
        ],
        env={**base, "DJANGO_SETTINGS_MODULE": "orders_project.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    hosts: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return hosts


LOOPBACK = ["localhost", "127.0.0.1", "[::1]"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ["127.0.0.1", "localhost", "[::1]"]),
        ({"HOST": "10.0.0.5"}, ["10.0.0.5", *LOOPBACK]),
        ({"HOST": "::1"}, ["[::1]", "localhost", "127.0.0.1"]),
        ({"HOST": "api.internal"}, ["api.internal", *LOOPBACK]),
        (
            {"HOST": "10.0.0.5", "DJANGO_ALLOWED_HOSTS": "api.example,.example.org"},
            ["api.example", ".example.org"],
        ),
    ],
)
def test_allowed_hosts_default_to_the_bound_host_and_loopback(
    env: dict[str, str], expected: list[str]
) -> None:
    assert allowed_hosts(**env) == expected
