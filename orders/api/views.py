"""Thin HTTP views: read headers and body, call one service, serialize the result.

Their OpenAPI description lives beside them, in orders/api/schema.py.
"""

from typing import Any

from django.http import HttpResponse, HttpResponseNotModified
from rest_framework import status as http
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from idempotency.decorators import idempotent
from orders import services
from orders.api.conditional import etag_for, expected_versions, none_match
from orders.api.pagination import decode_cursor, encode_cursor
from orders.api.schema import order_viewset_schema
from orders.api.serializers import (
    OrderConfirmInputSerializer,
    OrderCreateInputSerializer,
    OrderListQuerySerializer,
    OrderOutputSerializer,
    OrderPageOutputSerializer,
)
from orders.models import Order
from orders.repository import OrderFilters

# Measured (docs/DECISIONS.md): building a serializer deep-copies its declared fields,
# so the responses and the list's query reuse one instance each. Neither
# to_representation() nor run_validation() keeps state on it: the latter returns the
# data or raises ValidationError, as is_valid(raise_exception=True) does.
_ORDER = OrderOutputSerializer()
_PAGE = OrderPageOutputSerializer()
_LIST_QUERY = OrderListQuerySerializer()


def _tenant(request: Request) -> str:
    # Set by TenantMiddleware on the Django request; DRF's Request passes it through.
    tenant_id: str = request.tenant_id  # type: ignore[attr-defined]
    return tenant_id


def _order_response(order: Order, status: int = http.HTTP_200_OK) -> Response:
    response = Response(_ORDER.to_representation(order), status=status)
    response["ETag"] = etag_for(order.version)
    return response


@order_viewset_schema
class OrderViewSet(viewsets.ViewSet):
    """Orders of the tenant named by X-Tenant-Id."""

    lookup_field = "id"
    lookup_value_regex = "[^/]+"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # An order id in another spelling is a 404 before a keyed write compares its
        # fingerprint, so a retry spelled otherwise is never a 422. A method the route
        # does not take has no action and stays a 405.
        if self.action is not None and "id" in kwargs:
            services.order_pk(kwargs["id"])

    @idempotent(key_required=True)
    def create(self, request: Request) -> Response:
        # No fields today, but the body must still be a well-formed object.
        OrderCreateInputSerializer(data=request.data).is_valid(raise_exception=True)
        order = services.order_create(tenant_id=_tenant(request))
        response = _order_response(order, status=http.HTTP_201_CREATED)
        response["Location"] = f"/orders/{order.pk}"
        return response

    def retrieve(self, request: Request, id: str) -> HttpResponse:
        order = services.order_get(tenant_id=_tenant(request), order_id=id)
        if none_match(request.headers.get("If-None-Match"), order.version):
            not_modified = HttpResponseNotModified()
            not_modified["ETag"] = etag_for(order.version)
            return not_modified
        return _order_response(order)

    @action(detail=True, methods=["patch"])
    @idempotent()
    def confirm(self, request: Request, id: str) -> Response:
        versions = expected_versions(request.headers.get("If-Match"), required=True)
        body = OrderConfirmInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        order = services.order_confirm(
            tenant_id=_tenant(request),
            order_id=id,
            total_cents=body.validated_data["totalCents"],
            expected_version=versions,
        )
        return _order_response(order)

    @action(detail=True, methods=["post"])
    @idempotent()
    def close(self, request: Request, id: str) -> Response:
        versions = expected_versions(request.headers.get("If-Match"), required=False)
        order = services.order_close(
            tenant_id=_tenant(request), order_id=id, expected_version=versions
        )
        return _order_response(order)

    def list(self, request: Request) -> Response:
        query = _LIST_QUERY.run_validation(request.query_params)
        tenant_id = _tenant(request)
        filters = OrderFilters(
            status=query.get("status") or None,
            created_from=query.get("createdFrom"),
            created_before=query.get("createdBefore"),
        )
        token = query.get("cursor")
        page = services.order_list(
            tenant_id=tenant_id,
            filters=filters,
            limit=query["limit"],
            cursor=decode_cursor(token, tenant_id=tenant_id, filters=filters) if token else None,
        )
        cursors = {
            rel: encode_cursor(cursor, tenant_id=tenant_id, filters=filters) if cursor else None
            for rel, cursor in (("next", page.next), ("prev", page.prev))
        }
        response = Response(
            _PAGE.to_representation(
                {"items": page.items, "nextCursor": cursors["next"], "prevCursor": cursors["prev"]}
            )
        )
        # RFC 8288: the pages on either side as links, for clients that follow links.
        links = []
        for rel, cursor in cursors.items():
            if cursor:
                params = request.query_params.copy()
                params["cursor"] = cursor
                links.append(f'<{request.path}?{params.urlencode()}>; rel="{rel}"')
        if links:
            response["Link"] = ", ".join(links)
        return response
