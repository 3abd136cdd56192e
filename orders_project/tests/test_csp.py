"""Content-Security-Policy: on every HTML page, with the nonce its inline code carries;
never on the API's JSON."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from orders.tests.factories import OrderFactory
from orders.tests.http import create
from tenancy.repository import AccessRepository

pytestmark = pytest.mark.django_db

NONCE = re.compile(r"'nonce-([A-Za-z0-9_-]+)'")


def policy_of(response) -> dict[str, list[str]]:
    """The enforced policy, directive -> values."""
    header = response["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (part.split() for part in header.split(";") if part.strip())
    }


def assert_inline_code_carries_the_nonce(response) -> int:
    """Every inline <script>/<style> carries the policy's nonce; returns how many there are."""
    policy = policy_of(response)
    assert policy["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in policy["script-src"]
    html = response.content.decode()
    nonces = set(NONCE.findall(response["Content-Security-Policy"]))
    inline = [
        (tag, attributes)
        for tag, attributes in re.findall(r"<(script|style)(?![^>]*\ssrc=)([^>]*)>", html)
        if 'type="application/json"' not in attributes  # data, never run
    ]
    for tag, attributes in inline:
        match = re.search(r'nonce="([^"]+)"', attributes)
        assert match, f"inline <{tag}{attributes}> has no nonce"
        assert match.group(1) in nonces
    return len(inline)


def test_the_docs_page_sends_a_policy_its_inline_code_satisfies() -> None:
    response = Client().get("/docs")

    assert response.status_code == 200
    assert assert_inline_code_carries_the_nonce(response) == 2  # Swagger UI's style, script


def test_the_browsable_api_sends_a_policy_its_inline_code_satisfies() -> None:
    # given: a member's browser session
    user = get_user_model().objects.create_user("carol", password="a-long-password-2")
    AccessRepository().add_membership(user.pk, "tenant-1")
    browser = Client()
    browser.force_login(user)
    OrderFactory.create()

    # when
    response = browser.get("/orders", headers={"Accept": "text/html"})

    # then
    assert response["Content-Type"].startswith("text/html")
    assert assert_inline_code_carries_the_nonce(response) >= 1  # DRF's code style


def test_the_admin_and_login_pages_send_a_policy() -> None:
    for path in ["/admin/login/", "/api-auth/login/"]:
        response = Client().get(path)
        assert response.status_code == 200, path
        assert_inline_code_carries_the_nonce(response)


def test_each_page_gets_a_nonce_of_its_own() -> None:
    first, second = Client().get("/docs"), Client().get("/docs")

    assert NONCE.findall(first["Content-Security-Policy"]) != NONCE.findall(
        second["Content-Security-Policy"]
    )


def test_json_answers_carry_no_policy(api: Client) -> None:
    # when: an order, a problem, and the schema
    responses = [create(api), api.get("/orders/not-an-id"), Client().get("/openapi.json")]

    # then
    for response in responses:
        assert "Content-Security-Policy" not in response, response["Content-Type"]
