"""Password guessing at the two login pages is cut short (django-axes); API callers,
who never log in, are never locked out."""

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from orders.tests.factories import DraftOrderFactory
from orders.tests.http import assert_problem, create, get
from tenancy.access import api_key_create

pytestmark = pytest.mark.django_db

PASSWORD = "lantern-copper-4471"
LOGIN_PAGES = ["/admin/login/", "/api-auth/login/"]
ATTACKER = "203.0.113.7"


@pytest.fixture(autouse=True)
def ops(settings: Any) -> None:
    # A fast hasher: these tests log in dozens of times; the lockout does not depend on it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    get_user_model().objects.create_user("ops", password=PASSWORD, is_staff=True)


def log_in(page: str, password: str, address: str = ATTACKER) -> tuple[Client, int]:
    """Post the login form from `address`; the browser and the answer's status."""
    browser = Client(REMOTE_ADDR=address)
    response = browser.post(page, {"username": "ops", "password": password})
    return browser, response.status_code


def logged_in(browser: Client) -> bool:
    return settings.SESSION_COOKIE_NAME in browser.cookies


def fail(page: str, times: int, address: str = ATTACKER) -> list[int]:
    return [log_in(page, f"wrong-{n}", address)[1] for n in range(times)]


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_the_right_password_is_refused_after_too_many_wrong_ones(page: str) -> None:
    # given: wrong passwords, answered with the form again until the last allowed one
    limit = settings.AXES_FAILURE_LIMIT
    assert fail(page, limit) == [200] * (limit - 1) + [429]

    # when
    browser = Client(REMOTE_ADDR=ATTACKER)
    response = browser.post(page, {"username": "ops", "password": PASSWORD})

    # then: locked out, told how long to wait, and no session
    assert_problem(response, 429, "too_many_login_failures")
    assert response["Retry-After"] == str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    assert not logged_in(browser)


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_a_lockout_holds_on_both_login_pages(page: str) -> None:
    # given: the failures spent on the other page
    other = next(p for p in LOGIN_PAGES if p != page)
    fail(other, settings.AXES_FAILURE_LIMIT)

    # when
    browser, status = log_in(page, PASSWORD)

    # then
    assert status == 429
    assert not logged_in(browser)


def test_the_account_still_logs_in_from_another_address() -> None:
    # given: an attacker locked out of "ops"
    fail("/admin/login/", settings.AXES_FAILURE_LIMIT)

    # when: its owner logs in from elsewhere
    browser, status = log_in("/admin/login/", PASSWORD, address="198.51.100.20")

    # then: the attacker cannot lock the owner out
    assert status == 302
    assert logged_in(browser)


def test_a_success_resets_the_count() -> None:
    # given
    below = settings.AXES_FAILURE_LIMIT - 1
    fail("/api-auth/login/", below)

    # when
    _, first = log_in("/api-auth/login/", PASSWORD)
    again = fail("/api-auth/login/", below)
    browser, second = log_in("/api-auth/login/", PASSWORD)

    # then
    assert (first, second) == (302, 302)
    assert again == [200] * below
    assert logged_in(browser)


@pytest.mark.parametrize("mode", ["trusted-header", "api-key"])
def test_api_callers_from_a_locked_out_address_are_not_locked_out(
    mode: str, client_for: Callable[[str], Client]
) -> None:
    # given: a lockout of that address, and a caller of each access mode from it
    fail("/admin/login/", settings.AXES_FAILURE_LIMIT)
    secret = api_key_create(tenant_id="tenant-1", name="svc").secret
    caller = Client(
        REMOTE_ADDR=ATTACKER,
        headers={"X-Tenant-Id": "tenant-1", "Authorization": f"Bearer {secret}"},
    )
    order = DraftOrderFactory.create(tenant_id="tenant-1")

    # when
    with override_settings(TENANT_AUTH_MODE=mode):
        created = create(caller)
        fetched = get(caller, order.pk)

    # then
    assert created.status_code == 201, created.content
    assert fetched.status_code == 200
