"""Statements per request: a regression guard for round trips, not a timing test.

Counted as in production: each request is its own outermost transaction
(`transaction=True`), and BEGIN/COMMIT count as statements. The benchmark
(`make bench`) reports the same counts next to its throughput figures.
"""

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from orders.tests import http
from orders.tests.factories import ConfirmedOrderFactory, OrderFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _statements(send: Any) -> tuple[Any, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = send()
    return response, [query["sql"] for query in queries.captured_queries]


def test_create_is_one_transaction_of_key_claim_insert_and_response(api: Client) -> None:
    # when
    response, sql = _statements(lambda: http.create(api))

    # then: the fast-path lookup, then BEGIN, claim, INSERT, store the response, COMMIT
    assert response.status_code == 201
    assert len(sql) == 6, sql


def test_replayed_create_is_one_statement(api: Client) -> None:
    # given
    key = uuid.uuid4().hex
    http.create(api, key=key)

    # when
    response, sql = _statements(lambda: http.create(api, key=key))

    # then
    assert response["Idempotent-Replayed"] == "true"
    assert len(sql) == 1, sql


def test_get_is_one_statement(api: Client) -> None:
    # given
    order = OrderFactory.create(tenant_id=http.TENANT)

    # when
    response, sql = _statements(lambda: http.get(api, order.pk))

    # then
    assert response.status_code == 200
    assert len(sql) == 1, sql


def test_not_modified_get_is_one_statement(api: Client) -> None:
    # given
    order = OrderFactory.create(tenant_id=http.TENANT)

    # when
    response, sql = _statements(lambda: http.get(api, order.pk, if_none_match='"1"'))

    # then
    assert response.status_code == 304
    assert len(sql) == 1, sql


@pytest.mark.parametrize("limit", [1, 20, 100])
def test_list_is_one_statement_whatever_the_page_size(api: Client, limit: int) -> None:
    # given: enough orders that the second page is full too
    OrderFactory.create_batch(2 * limit + 1, tenant_id=http.TENANT)
    first = http.list_orders(api, limit=limit).json()

    # when
    response, sql = _statements(
        lambda: http.list_orders(api, limit=limit, cursor=first["nextCursor"])
    )

    # then
    assert len(response.json()["items"]) == limit
    assert len(sql) == 1, sql


def test_unkeyed_confirm_statements(api: Client) -> None:
    # given
    order = OrderFactory.create(tenant_id=http.TENANT)

    # when
    response, sql = _statements(lambda: http.confirm(api, order.pk, total=100))

    # then: BEGIN, lock the row, compare-and-set UPDATE, COMMIT
    assert response.status_code == 200
    assert len(sql) == 4, sql


def test_keyed_close_statements(api: Client) -> None:
    # given
    order = ConfirmedOrderFactory.create(tenant_id=http.TENANT)

    # when
    response, sql = _statements(
        lambda: http.close(api, order.pk, if_match="2", key=uuid.uuid4().hex)
    )

    # then: lookup, BEGIN, claim, lock, UPDATE, outbox INSERT (its trigger sends the
    # NOTIFY), store the response, COMMIT; the service joins the idempotent
    # write's transaction (no SAVEPOINT)
    assert response.status_code == 200
    assert len(sql) == 8, sql
