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
        tenant_id = self.request._request.tenant_id  # type: ignore[attr-defined]
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


def _timed(view: Any, path: str, params: dict[str, Any], tenant_id: str, repeats: int) -> float:
    factory = APIRequestFactory()
    samples = []
    for attempt in range(repeats + 1):
        request = factory.get(path, params)
        request.tenant_id = tenant_id  # type: ignore[attr-defined]  # TenantMiddleware sets it
        started = time.perf_counter()
        response = view(request)
        response.render()
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{path} {params}: HTTP {response.status_code}")
        if attempt:  # the first one warms the cache and is not counted
            samples.append(elapsed)
    return statistics.median(samples) * 1000


_COLUMNS = "id, tenant_id, status, version, total_cents, created_at, updated_at, closed_at"


def _timed_sql(sql: str, params: list[Any], repeats: int) -> float:
    samples = []
    with connection.cursor() as cursor:
        for attempt in range(repeats + 1):
            started = time.perf_counter()
            cursor.execute(sql, params)
            cursor.fetchall()
            if attempt:
                samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def measure_sql(tenant_id: str, depth: int, repeats: int) -> dict[str, float]:
    """The page's SQL alone: the keyset query, and OFFSET without DRF's COUNT(*)."""
    keyset = keyset_at(tenant_id, depth)
    where = "tenant_id = %s"
    params: list[Any] = [tenant_id]
    if keyset is not None:
        where += " AND (created_at, id) < (%s, %s)"
        params += [keyset.created_at, keyset.id]
    order = "ORDER BY created_at DESC, id DESC"
    return {
        "cursor_sql_ms": _timed_sql(
            f"SELECT {_COLUMNS} FROM orders WHERE {where} {order} LIMIT 21",  # noqa: S608
            params,
            repeats,
        ),
        "offset_sql_ms": _timed_sql(
            f"SELECT {_COLUMNS} FROM orders WHERE tenant_id = %s {order} "  # noqa: S608
            "LIMIT %s OFFSET %s",
            [tenant_id, PAGE_SIZE, depth],
            repeats,
        ),
    }


def measure(tenant_id: str, depths: list[int], repeats: int) -> list[dict[str, Any]]:
    """Median milliseconds for one page at each depth, by both paginations."""
    ours = OrderViewSet.as_view({"get": "list"})
    offset = LimitOffsetOrders.as_view()
    rows = []
    for depth in depths:
        cursor = cursor_at(tenant_id, depth)
        params: dict[str, Any] = {"limit": PAGE_SIZE}
        if cursor:
            params["cursor"] = cursor
        rows.append(
            {
                "depth": depth,
                "cursor_ms": _timed(ours, "/orders", params, tenant_id, repeats),
                "offset_ms": _timed(
                    offset, "/orders", {"limit": PAGE_SIZE, "offset": depth}, tenant_id, repeats
                ),
                **measure_sql(tenant_id, depth, repeats),
            }
        )
    return rows
