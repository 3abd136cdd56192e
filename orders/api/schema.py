"""The OpenAPI description of OrderViewSet: headers, bodies and the problems of each operation.

Each operation names the error classes a client can meet there; their statuses, codes and
headers (Retry-After) come from the classes, so the schema cannot drift from the errors.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers

from idempotency.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
)
from idempotency.keys import IDEMPOTENCY_KEY_PATTERN
from orders.api.serializers import (
    OrderConfirmInputSerializer,
    OrderCreateInputSerializer,
    OrderListQuerySerializer,
    OrderOutputSerializer,
    OrderPageOutputSerializer,
)
from orders.errors import (
    InvalidCursor,
    InvalidStateTransition,
    OrderNotFound,
    PreconditionRequired,
    StaleVersion,
)
from orders_project.errors import (
    PROBLEM_TYPES,
    HeaderFieldsTooLarge,
    InternalError,
    LengthRequired,
    MalformedJson,
    PayloadTooLarge,
    ProblemError,
    ServiceUnavailable,
    UnsupportedMediaType,
    UriTooLong,
    ValidationFailed,
)
from orders_project.problems import PROBLEM_CONTENT_TYPE
from tenancy.errors import InvalidTenant, TenantRequired
from tenancy.header import TENANT_ID_PATTERN


class FieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField()
    code = serializers.CharField()
    message = serializers.CharField()


def _problem_fields() -> dict[str, serializers.Field]:
    return {
        "type": serializers.URLField(),
        "title": serializers.CharField(),
        "status": serializers.IntegerField(),
        "detail": serializers.CharField(),
        "code": serializers.ChoiceField(choices=sorted(PROBLEM_TYPES)),
        "errors": FieldErrorSerializer(many=True, required=False),
    }


# Declared inline: a field named `errors` would shadow Serializer.errors. The code enum is
# every declared problem type; the modules imported above declare them all.
ProblemSerializer = inline_serializer(name="Problem", fields=_problem_fields())
# The problems whose body adds members of its own (StaleVersion.body).
PROBLEM_BODIES: dict[type[ProblemError], Any] = {
    StaleVersion: inline_serializer(
        name="StaleVersionProblem",
        fields={
            **_problem_fields(),
            "currentVersion": serializers.IntegerField(
                min_value=1, help_text="The order's version now; its ETag says the same."
            ),
        },
    ),
}


def _duration(seconds: int) -> str:
    """`seconds` as a person says it: 24 hours, 90 minutes, 45 seconds."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


# How long a key and its stored response are kept (IDEMPOTENCY_KEY_TTL_SECONDS), as
# published in the header's description and in the problem types' documentation.
KEY_RETENTION = (
    f"Keys are kept {_duration(settings.IDEMPOTENCY_KEY_TTL_SECONDS)} after their first "
    "use; after that the same key is free again and runs as a new request."
)
# What the documentation of a problem type adds to its detail.
PROBLEM_NOTES: dict[type[ProblemError], str] = {
    IdempotencyKeyRequired: KEY_RETENTION,
    IdempotencyKeyReused: KEY_RETENTION,
    StaleVersion: "The body's `currentVersion` and the `ETag` header name the order's "
    "version now: re-read the order, or retry with that version in If-Match.",
}

# --- request headers ------------------------------------------------------------------

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
        f"`Idempotent-Replayed: true`. {KEY_RETENTION}"
    ),
)
IDEMPOTENCY_KEY_OPTIONAL = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    pattern=IDEMPOTENCY_KEY_PATTERN,
    description=f"Optional; honoured as on POST /orders when present. {KEY_RETENTION}",
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

# --- response headers -----------------------------------------------------------------


def response_header(
    name: str, kind: type, statuses: Sequence[int], description: str, **kwargs: Any
) -> OpenApiParameter:
    """A header the responses with `statuses` carry."""
    return OpenApiParameter(
        name,
        kind,
        OpenApiParameter.HEADER,
        response=list(statuses),
        description=description,
        **kwargs,
    )


def etag(*statuses: int) -> OpenApiParameter:
    return response_header(
        "ETag", str, statuses, 'The order\'s version as an entity tag, e.g. "3".'
    )


def replayed(*statuses: int) -> OpenApiParameter:
    return response_header(
        "Idempotent-Replayed",
        str,
        statuses,
        "`true` when this is the stored response of an earlier request "
        "with the same Idempotency-Key.",
        enum=["true"],
    )


LOCATION = response_header("Location", str, [201], "URL of the created order.")
LINK = response_header(
    "Link",
    str,
    [200],
    'RFC 8288 links to the pages on either side: `rel="next"` (older orders) and '
    '`rel="prev"` (newer orders), for whichever of nextCursor and prevCursor is present.',
)
# The headers a problem class declares (name: type, description), documented wherever
# one of its classes can answer.
PROBLEM_HEADERS: dict[str, tuple[type, str]] = {
    "Retry-After": (int, "Seconds to wait before retrying."),
}

# --- problems -------------------------------------------------------------------------

# Any request can meet these: its tenant, the HTTP parser's limits, a chunked body (411),
# an outage, a bug.
ANY_REQUEST = (
    TenantRequired,
    InvalidTenant,
    LengthRequired,
    UriTooLong,
    HeaderFieldsTooLarge,
    InternalError,
    ServiceUnavailable,
)
# A write whose body the idempotency middleware and the parsers read.
KEYED_WRITE = (
    *ANY_REQUEST,
    InvalidIdempotencyKey,
    ValidationFailed,
    MalformedJson,
    PayloadTooLarge,
    UnsupportedMediaType,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
)


def _problem_response(errors: Sequence[type[ProblemError]]) -> OpenApiResponse:
    """The problem+json body of one status, listing the codes a client can meet there."""
    listed = "\n".join(
        " ".join(
            [f"- `{error.default_code}`: {error.default_detail}"]
            + ([PROBLEM_NOTES[error]] if error in PROBLEM_NOTES else [])
        )
        for error in errors
    )
    bodies = {PROBLEM_BODIES.get(error, ProblemSerializer) for error in errors}
    (body,) = bodies  # one status, one body shape
    return OpenApiResponse(body, description=listed)


def order_operation(
    *,
    errors: Iterable[type[ProblemError]],
    parameters: Sequence[Any],
    responses: dict[int, Any],
    **kwargs: Any,
) -> Any:
    """extend_schema for one operation, with a problem+json response per status of `errors`."""
    by_status: dict[int, list[type[ProblemError]]] = {}
    for error in errors:
        by_status.setdefault(error.status_code, []).append(error)
    problem_headers = []
    for name, (kind, description) in PROBLEM_HEADERS.items():
        statuses = [
            status
            for status, group in by_status.items()
            if any(name in error.headers for error in group)
        ]
        if statuses:
            problem_headers.append(response_header(name, kind, statuses, description))
    return extend_schema(
        parameters=[*parameters, *problem_headers],
        responses={
            **responses,
            **{
                (status, PROBLEM_CONTENT_TYPE): _problem_response(group)
                for status, group in sorted(by_status.items())
            },
        },
        **kwargs,
    )


order_viewset_schema = extend_schema_view(
    create=order_operation(
        operation_id="orders_create",
        summary="Create a draft order",
        parameters=[TENANT_HEADER, IDEMPOTENCY_KEY_REQUIRED, etag(201), LOCATION, replayed(201)],
        request=OrderCreateInputSerializer,
        responses={201: OrderOutputSerializer},
        errors=[*KEYED_WRITE, IdempotencyKeyRequired],
    ),
    retrieve=order_operation(
        operation_id="orders_retrieve",
        summary="Get an order",
        parameters=[TENANT_HEADER, IF_NONE_MATCH, etag(200, 304)],
        responses={
            200: OrderOutputSerializer,
            304: OpenApiResponse(description="Not modified: If-None-Match is current."),
        },
        errors=[*ANY_REQUEST, OrderNotFound],
    ),
    confirm=order_operation(
        operation_id="orders_confirm",
        summary="Confirm a draft order, fixing its total",
        parameters=[
            TENANT_HEADER,
            IF_MATCH_REQUIRED,
            IDEMPOTENCY_KEY_OPTIONAL,
            etag(200, 412),
            replayed(200),
        ],
        # JSON only: a form can only carry totalCents as a string, which is refused.
        request={"application/json": OrderConfirmInputSerializer},
        responses={200: OrderOutputSerializer},
        errors=[
            *KEYED_WRITE,
            OrderNotFound,
            InvalidStateTransition,
            StaleVersion,
            PreconditionRequired,
        ],
    ),
    close=order_operation(
        operation_id="orders_close",
        summary="Close a confirmed order and record the orders.closed event",
        parameters=[
            TENANT_HEADER,
            IF_MATCH_OPTIONAL,
            IDEMPOTENCY_KEY_OPTIONAL,
            etag(200, 412),
            replayed(200),
        ],
        request=None,
        responses={200: OrderOutputSerializer},
        errors=[*KEYED_WRITE, OrderNotFound, InvalidStateTransition, StaleVersion],
    ),
    list=order_operation(
        operation_id="orders_list",
        summary="List orders, newest first, by keyset pages both ways",
        description=(
            "Pages of the tenant's orders, newest first (createdAt, then id). nextCursor "
            "pages toward older orders, prevCursor toward newer ones. A page reached by "
            "prevCursor that is empty keeps a prevCursor at the same position: poll it "
            "to read the orders created since (a feed). A cursor is accepted only with "
            "the filters it was issued with."
        ),
        parameters=[TENANT_HEADER, OrderListQuerySerializer, LINK],
        responses={200: OrderPageOutputSerializer},
        errors=[*ANY_REQUEST, ValidationFailed, InvalidCursor],
    ),
)
