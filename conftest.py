"""Fixtures shared by every app's tests."""

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from django.db import connections
from django.test import Client

if TYPE_CHECKING:
    from orders.models import Order

# The shared HTTP helpers assert: let pytest explain their failures as it does a test's.
pytest.register_assert_rewrite("orders.tests.http")


class TenantClient(Client):
    """A test client that acts for one tenant, as a gateway would."""

    def __init__(self, tenant_id: str, **defaults: Any) -> None:
        super().__init__(headers={"X-Tenant-Id": tenant_id}, **defaults)
        self.tenant_id = tenant_id


@pytest.fixture
def schema() -> dict[str, Any]:
    """The OpenAPI document as a client fetches it from /openapi.json."""
    response = Client().get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


@pytest.fixture
def closed_order() -> "Order":
    """An order of tenant-1 taken through create, confirm and close: it has its outbox event."""
    from orders import services  # noqa: PLC0415 (apps load after this file)

    order = services.order_create(tenant_id="tenant-1")
    services.order_confirm(
        tenant_id="tenant-1", order_id=order.pk, total_cents=700, expected_version=1
    )
    return services.order_close(tenant_id="tenant-1", order_id=order.pk, expected_version=2)


@pytest.fixture
def api() -> TenantClient:
    """A client for tenant `tenant-1`."""
    return TenantClient("tenant-1")


@pytest.fixture
def client_for() -> Callable[[str], TenantClient]:
    """Make a client for any tenant."""
    return TenantClient


def run_concurrently(worker: Callable[[int], Any], count: int) -> list[Any]:
    """Start `count` threads at one barrier and return each worker's result, in order.

    Each thread has its own database connection (closed at the end), so the
    transactions really race in PostgreSQL. Use with `django_db(transaction=True)`.
    """
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = worker(index)
        except BaseException as error:  # re-raised in the main thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def concurrently() -> Callable[[Callable[[int], Any], int], list[Any]]:
    """`concurrently(worker, n)`: run worker(0..n-1) in n racing threads."""
    return run_concurrently
