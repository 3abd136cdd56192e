"""Thin HTTP views: read headers and body, call one service, serialize the result."""

from typing import Any

from django.http import HttpResponse, HttpResponseNotModified
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status as http
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from idempotency.keys import IDEMPOTENCY_KEY_PATTERN
from orders import services
from orders.api.conditional import etag_for, expected_version, none_match
from orders.api.pagination import decode_cursor, encode_cursor
from orders.api.serializers import (
    OrderConfirmInputSerializer,
    OrderCreateInputSerializer,
    OrderListQuerySerializer,
    OrderOutputSerializer,
    OrderPageOutputSerializer,
    ProblemSerializer,
)
from orders.models import Order
from orders.tenancy import TENANT_ID_PATTERN


def _tenant(request: Request) -> str:
    # Set by TenantMiddleware on the Django request; DRF's Request passes it through.
    tenant_id: str = request.tenant_id  # type: ignore[attr-defined]
    return tenant_id


def _order_response(order: Order, status: int = http.HTTP_200_OK) -> Response:
    response = Response(_ORDER.to_representation(order), status=status)
    response["ETag"] = etag_for(order.version)
    return response


def _problems(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ProblemSerializer, description=description)


TENANT_HEADER = OpenApiParameter(
    "X-Tenant-Id",
    str,
    OpenApiParameter.HEADER,
    required=True,
    pattern=f"^{TENANT_ID_PATTERN}$",
    description="The tenant the request acts for. Another tenant's orders are invisible (404).",
)
IDEMPOTENCY_KEY_REQUIRED = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=True,
    pattern=IDEMPOTENCY_KEY_PATTERN,
    description=(
        '1-255 printable ASCII characters; `"abc"` and `abc` are the same key. A retry '
        "with the same key and request replays the stored response with "
        "`Idempotent-Replayed: true`. Keys are kept 24 hours."
    ),
)
IDEMPOTENCY_KEY_OPTIONAL = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    pattern=IDEMPOTENCY_KEY_PATTERN,
    description="Optional; honoured as on POST /orders when present.",
)
IF_MATCH_REQUIRED = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=True,
    # Blank counts as absent (428); any other value is compared, and fails with 412.
    pattern=r"\S",
    description='The version you last saw: `1`, `"1"`, `W/"1"`, or `*` for any version.',
)
IF_MATCH_OPTIONAL = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description='Optional: `1`, `"1"`, `W/"1"` or `*`; a stale version is refused (412).',
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="The ETag you hold; when it is still current the answer is 304, no body.",
)

COMMON_PROBLEMS = {
    400: _problems("tenant_required, invalid_tenant, validation_error, malformed_json"),
    # From the HTTP parser, before any view (GUNICORN_LIMIT_REQUEST_*).
    414: _problems("uri_too_long: the request line is over the server's limit"),
    431: _problems("header_fields_too_large: too many or too large header fields"),
    500: _problems("internal_error"),
    503: _problems("service_unavailable: the database cannot be reached; retry"),
}
WRITE_PROBLEMS = {
    **COMMON_PROBLEMS,
    400: _problems(
        "tenant_required, invalid_tenant, idempotency_key_required, "
        "invalid_idempotency_key, validation_error, malformed_json"
    ),
    409: _problems("idempotency_key_in_use (with Retry-After)"),
    413: _problems("payload_too_large"),
    415: _problems("unsupported_media_type"),
    422: _problems("idempotency_key_reused: same key, different request"),
}


class OrderSchema(AutoSchema):
    """The schema of what these views really do, where drf-spectacular guesses otherwise.

    `list` answers with a page object, not a bare array; and `confirm`, although a
    PATCH, takes a complete body (totalCents required), not a partial update.
    """

    def _is_list_view(self, serializer: Any = None) -> bool:
        return False

    def _get_request_for_media_type(self, serializer: Any, direction: str = "request") -> Any:
        method, self.method = self.method, "POST" if self.method == "PATCH" else self.method
        try:
            return super()._get_request_for_media_type(serializer, direction)
        finally:
            self.method = method


# One instance of each for every request: a serializer deep-copies its declared fields
# when it is built (~95 µs, thirteen times the cost of rendering an order). Neither
# run_validation() nor to_representation() keeps state on the instance: the first
# returns the data or raises ValidationError, as is_valid(raise_exception=True) does.
_LIST_QUERY = OrderListQuerySerializer()
_ORDER = OrderOutputSerializer()
_PAGE = OrderPageOutputSerializer()


class OrderViewSet(viewsets.ViewSet):
    """Orders of the tenant named by X-Tenant-Id."""

    schema = OrderSchema()
    lookup_field = "id"
    lookup_value_regex = "[^/]+"
    # Read by IdempotencyMiddleware: these actions refuse to run without a key.
    idempotency_key_required_actions = frozenset({"create"})

    @classmethod
    def as_view(cls, actions: Any = None, **initkwargs: Any) -> Any:
        view = super().as_view(actions, **initkwargs)
        view.idempotency_key_required = frozenset(  # type: ignore[attr-defined]
            method.upper()
            for method, name in (actions or {}).items()
            if name in cls.idempotency_key_required_actions
        )
        return view

    @extend_schema(
        operation_id="orders_create",
        summary="Create a draft order",
        parameters=[TENANT_HEADER, IDEMPOTENCY_KEY_REQUIRED],
        request=OrderCreateInputSerializer,
        responses={201: OrderOutputSerializer, **WRITE_PROBLEMS},
    )
    def create(self, request: Request) -> Response:
        # No fields today, but the body must still be a well-formed object.
        OrderCreateInputSerializer(data=request.data).is_valid(raise_exception=True)
        order = services.order_create(tenant_id=_tenant(request))
        response = _order_response(order, status=http.HTTP_201_CREATED)
        response["Location"] = f"/orders/{order.pk}"
        return response

    @extend_schema(
        operation_id="orders_retrieve",
        summary="Get an order",
        parameters=[TENANT_HEADER, IF_NONE_MATCH],
        responses={
            200: OrderOutputSerializer,
            304: OpenApiResponse(description="Not modified: If-None-Match is current."),
            404: _problems("not_found: unknown id, another tenant's, or not a UUID"),
            **COMMON_PROBLEMS,
        },
    )
    def retrieve(self, request: Request, id: str) -> HttpResponse:
        order = services.order_get(tenant_id=_tenant(request), order_id=id)
        if none_match(request.headers.get("If-None-Match"), order.version):
            not_modified = HttpResponseNotModified()
            not_modified["ETag"] = etag_for(order.version)
            return not_modified
        return _order_response(order)

    @extend_schema(
        operation_id="orders_confirm",
        summary="Confirm a draft order, fixing its total",
        parameters=[TENANT_HEADER, IF_MATCH_REQUIRED, IDEMPOTENCY_KEY_OPTIONAL],
        # JSON only: a form can only carry totalCents as a string, which is refused.
        request={"application/json": OrderConfirmInputSerializer},
        responses={
            200: OrderOutputSerializer,
            404: _problems("not_found"),
            **WRITE_PROBLEMS,
            409: _problems("invalid_state_transition, idempotency_key_in_use"),
            412: _problems("stale_version: If-Match is not the current version"),
            428: _problems("precondition_required: If-Match is missing"),
        },
    )
    @action(detail=True, methods=["patch"])
    def confirm(self, request: Request, id: str) -> Response:
        version = expected_version(request.headers.get("If-Match"), required=True)
        body = OrderConfirmInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        order = services.order_confirm(
            tenant_id=_tenant(request),
            order_id=id,
            total_cents=body.validated_data["totalCents"],
            expected_version=version,
        )
        return _order_response(order)

    @extend_schema(
        operation_id="orders_close",
        summary="Close a confirmed order and record the orders.closed event",
        parameters=[TENANT_HEADER, IF_MATCH_OPTIONAL, IDEMPOTENCY_KEY_OPTIONAL],
        request=None,
        responses={
            200: OrderOutputSerializer,
            404: _problems("not_found"),
            **WRITE_PROBLEMS,
            409: _problems("invalid_state_transition, idempotency_key_in_use"),
            412: _problems("stale_version: If-Match is not the current version"),
        },
    )
    @action(detail=True, methods=["post"])
    def close(self, request: Request, id: str) -> Response:
        version = expected_version(request.headers.get("If-Match"), required=False)
        order = services.order_close(
            tenant_id=_tenant(request), order_id=id, expected_version=version
        )
        return _order_response(order)

    @extend_schema(
        operation_id="orders_list",
        summary="List orders, newest first, by keyset pages",
        parameters=[TENANT_HEADER, OrderListQuerySerializer],
        responses={
            200: OrderPageOutputSerializer,
            **COMMON_PROBLEMS,
            400: _problems("tenant_required, invalid_tenant, validation_error, invalid_cursor"),
        },
    )
    def list(self, request: Request) -> Response:
        query = _LIST_QUERY.run_validation(request.query_params)
        tenant_id = _tenant(request)
        status = query.get("status") or None
        cursor = query.get("cursor")
        page = services.order_list(
            tenant_id=tenant_id,
            status=status,
            limit=query["limit"],
            after=decode_cursor(cursor, tenant_id=tenant_id, status=status) if cursor else None,
        )
        next_cursor = (
            encode_cursor(page.next, tenant_id=tenant_id, status=status) if page.next else None
        )
        response = Response(
            _PAGE.to_representation({"items": page.items, "nextCursor": next_cursor})
        )
        if next_cursor:
            # RFC 8288: the next page as a link, for clients that follow links.
            params = request.query_params.copy()
            params["cursor"] = next_cursor
            response["Link"] = f'<{request.path}?{params.urlencode()}>; rel="next"'
        return response
