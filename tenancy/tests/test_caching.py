"""Tenant-scoped answers are private: no shared cache may hand one tenant's order to
another, and a browser's own cache keys them on the caller and revalidates (ETag)."""

import pytest
from django.test import Client, override_settings

from orders.tests.factories import DraftOrderFactory
from orders.tests.http import create, get, list_orders

pytestmark = pytest.mark.django_db

TENANT_SELECTORS = {"x-tenant-id", "authorization", "x-api-key", "cookie"}


def vary(response) -> set[str]:
    return {name.strip().lower() for name in response.get("Vary", "").split(",") if name.strip()}


def assert_private(response) -> None:
    assert response["Cache-Control"] == "private, no-cache", response.status_code
    assert vary(response) >= TENANT_SELECTORS, response.get("Vary")


def test_an_order_and_its_not_modified_answer_are_private(api: Client) -> None:
    # given
    order = DraftOrderFactory.create(tenant_id="tenant-1")

    # when
    fetched = get(api, order.pk)
    not_modified = api.get(f"/orders/{order.pk}", headers={"If-None-Match": fetched["ETag"]})

    # then: 304 still works, and says what the 200 said about caching (RFC 9110 §15.4.5)
    assert fetched.status_code == 200
    assert_private(fetched)
    assert "accept" in vary(fetched)  # the browsable API is another representation
    assert not_modified.status_code == 304
    assert not_modified["ETag"] == fetched["ETag"]
    assert_private(not_modified)


def test_lists_creates_replays_and_refusals_are_private(api: Client) -> None:
    # when
    created = create(api, key="cache-1")
    replayed = create(api, key="cache-1")
    listed = list_orders(api)
    missing = get(api, "00000000-0000-0000-0000-000000000000")
    no_tenant = Client().get("/orders")

    # then
    assert [r.status_code for r in (created, replayed, listed, missing, no_tenant)] == [
        201,
        201,
        200,
        404,
        400,
    ]
    assert replayed["Idempotent-Replayed"] == "true"
    for response in (created, replayed, listed, missing, no_tenant):
        assert_private(response)


@override_settings(TENANT_AUTH_MODE="api-key")
def test_an_api_key_refusal_is_private(api: Client) -> None:
    # when
    response = list_orders(api)

    # then
    assert response.status_code == 401
    assert_private(response)


def test_paths_of_no_tenant_are_left_alone() -> None:
    # when
    response = Client().get("/healthz")

    # then
    assert "Cache-Control" not in response
    assert not vary(response) & TENANT_SELECTORS
