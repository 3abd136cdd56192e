"""A client generated from /openapi.json by openapi-python-client walks the list both ways.

What a client team would do: fetch the served schema, generate a typed client from it,
and page through the orders with nothing but the client's models and the cursors the
server returns, against the live test server. Generation takes a few seconds.
"""

import importlib
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from django.utils import timezone

from orders.tests.factories import OrderFactory

pytestmark = pytest.mark.django_db(transaction=True)

PACKAGE = "generated_orders_client"
GENERATOR = Path(sys.executable).with_name("openapi-python-client")


@pytest.fixture
def client_package(live_server: Any, tmp_path: Path) -> Iterator[ModuleType]:
    """The package generated from the live server's schema, importable for this test."""
    schema = tmp_path / "openapi.json"
    schema.write_bytes(httpx.get(f"{live_server.url}/openapi.json").raise_for_status().content)
    command = [str(GENERATOR), "generate", "--path", str(schema), "--meta", "none"]
    subprocess.run(  # noqa: S603 (our venv's generator, our schema)
        [*command, "--output-path", str(tmp_path / PACKAGE)],
        check=True,
        capture_output=True,
        # Its post-generation hook runs ruff, which lives beside the interpreter.
        env={"PATH": str(GENERATOR.parent)},
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def test_a_generated_client_pages_forward_and_back_and_polls_the_feed(
    client_package: ModuleType, live_server: Any
) -> None:
    # given: seven orders a second apart, and one from before the range asked for
    now = timezone.now().replace(microsecond=0)
    orders = [OrderFactory.create(created_at=now - timedelta(seconds=i)) for i in range(7)]
    OrderFactory.create(created_at=now - timedelta(days=2))
    orders_list = importlib.import_module(f"{PACKAGE}.api.orders.orders_list").sync
    client = client_package.Client(base_url=live_server.url, raise_on_unexpected_status=True)
    since = (now - timedelta(days=1)).astimezone(UTC)

    def page(cursor: str | None = None) -> Any:
        return orders_list(
            client=client,
            x_tenant_id="tenant-1",
            limit=3,
            created_from=since,
            **({"cursor": cursor} if cursor else {}),
        )

    # when: forward to the last page, then back from it to the newest
    forward = [page()]
    while forward[-1].next_cursor:
        forward.append(page(forward[-1].next_cursor))
    back = [page(forward[-1].prev_cursor)]
    while back[-1].items:
        back.append(page(back[-1].prev_cursor))
    # and a new order appears on the poll of the last (empty) page's prevCursor
    new = OrderFactory.create(created_at=datetime.now(UTC))
    polled = page(back[-1].prev_cursor)

    # then
    ids = [str(order.pk) for order in orders]
    assert [str(item.id) for p in forward for item in p.items] == ids
    assert [[str(item.id) for item in p.items] for p in back] == [ids[3:6], ids[:3], []]
    assert [str(item.id) for item in polled.items] == [str(new.pk)]
