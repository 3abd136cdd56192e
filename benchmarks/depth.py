"""Page latency at depth: our keyset cursors against DRF's LimitOffsetPagination.

Both run in this process against the same database and the same tenant, through DRF
views with the same serializer, so the difference is the pagination alone. Needs
django.setup() done by the caller.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from django.db import connection
from rest_framework import generics
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.test import APIRequestFactory

from orders.api.pagination import encode_cursor
from orders.api.serializers import OrderOutputSerializer
from orders.api.views import OrderViewSet
from orders.models import Order
from orders.repository import Keyset

PAGE_SIZE = 20


class _OffsetPagination(LimitOffsetPagination):
    default_limit = PAGE_SIZE


class LimitOffsetOrders(generics.ListAPIView):
    """The same orders, paged the way DRF does by default (COUNT(*) + OFFSET)."""

    serializer_class = OrderOutputSerializer
    pagination_class = _OffsetPagination
    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []

    def get_queryset(self) -> Any:
        tenant_id = self.request.tenant_id  # type: ignore[attr-defined]  # set by TenantMiddleware
        return Order.objects.filter(tenant_id=tenant_id).order_by("-created_at", "-id")


def keyset_at(tenant_id: str, depth: int) -> Keyset | None:
    """The last row before position `depth` in the tenant's walk (None at depth 0)."""
    if depth == 0:
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT created_at, id FROM orders WHERE tenant_id = %s "
            "ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1",
            [tenant_id, depth - 1],
        )
        created_at, order_id = cursor.fetchone()
    return Keyset(created_at=created_at, id=order_id)


def cursor_at(tenant_id: str, depth: int) -> str | None:
    """The API cursor a client holds after reading `depth` orders."""
    keyset = keyset_at(tenant_id, depth)
    return encode_cursor(keyset, tenant_id=tenant_id, status=None) if keyset else None


def _page_seconds(view: Any, params: dict[str, Any], tenant_id: str) -> float:
    request = APIRequestFactory().get("/orders", params, HTTP_X_TENANT_ID=tenant_id)
    request.tenant_id = tenant_id  # type: ignore[attr-defined]  # TenantMiddleware sets it
    started = time.perf_counter()
    response = view(request)
    response.render()
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"/orders {params}: HTTP {response.status_code}")
    return elapsed


_COLUMNS = "id, tenant_id, status, version, total_cents, created_at, updated_at, closed_at"
_ORDER = "ORDER BY created_at DESC, id DESC"


def _sql_seconds(sql: str, params: list[Any]) -> float:
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(sql, params)
        cursor.fetchall()
        return time.perf_counter() - started


def _queries(tenant_id: str, depth: int) -> dict[str, tuple[str, list[Any]]]:
    """The page's SQL alone: the keyset query, and OFFSET without DRF's COUNT(*)."""
    keyset = keyset_at(tenant_id, depth)
    where = "tenant_id = %s"
    params: list[Any] = [tenant_id]
    if keyset is not None:
        where += " AND (created_at, id) < (%s, %s)"
        params += [keyset.created_at, keyset.id]
    return {
        "cursor_sql_ms": (
            f"SELECT {_COLUMNS} FROM orders WHERE {where} {_ORDER} LIMIT 21",  # noqa: S608
            params,
        ),
        "offset_sql_ms": (
            f"SELECT {_COLUMNS} FROM orders WHERE tenant_id = %s {_ORDER} "  # noqa: S608
            "LIMIT %s OFFSET %s",
            [tenant_id, PAGE_SIZE, depth],
        ),
    }


def measure(tenant_id: str, depths: list[int], repeats: int) -> list[dict[str, Any]]:
    """Median milliseconds for one page at each depth, by both paginations.

    Rounds go over every depth in turn, so a burst of load elsewhere on the machine
    lands on all depths alike instead of on whichever was being measured.
    """
    ours = OrderViewSet.as_view({"get": "list"})
    offset = LimitOffsetOrders.as_view()
    plans = []
    for depth in depths:
        cursor = cursor_at(tenant_id, depth)
        params: dict[str, Any] = {"limit": PAGE_SIZE}
        if cursor:
            params["cursor"] = cursor
        plans.append((depth, params, _queries(tenant_id, depth)))
    samples: dict[tuple[int, str], list[float]] = {}
    for attempt in range(repeats + 1):  # the first round warms the cache, uncounted
        for depth, params, queries in plans:
            timings = {
                "cursor_ms": _page_seconds(ours, params, tenant_id),
                "offset_ms": _page_seconds(
                    offset, {"limit": PAGE_SIZE, "offset": depth}, tenant_id
                ),
                **{name: _sql_seconds(*query) for name, query in queries.items()},
            }
            if attempt:
                for name, seconds in timings.items():
                    samples.setdefault((depth, name), []).append(seconds)
    names = ("cursor_ms", "offset_ms", "cursor_sql_ms", "offset_sql_ms")
    return [
        {
            "depth": depth,
            **{name: statistics.median(samples[depth, name]) * 1000 for name in names},
        }
        for depth, _, _ in plans
    ]
