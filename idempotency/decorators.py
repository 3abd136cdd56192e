"""HTTP adapter for idempotency: key and fingerprint in, stored or fresh response out."""

from collections.abc import Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse

from idempotency.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
)
from idempotency.keys import fingerprint, parse_idempotency_key
from idempotency.metrics import IDEMPOTENCY_CONFLICTS, IDEMPOTENCY_REPLAYS
from idempotency.repository import StoredResponse
from idempotency.services import idempotent_execute
from orders_project.api import exception_handler

IDEMPOTENT_METHODS = frozenset({"POST", "PATCH"})
# What a replay repeats besides status and body.
REPLAYED_HEADERS = ("Content-Type", "Location", "ETag")


class IdempotencyMiddleware:
    """Runs tenant-scoped POST/PATCH views through idempotent_execute when keyed.

    A viewset opts into requiring a key by naming the actions that need one in
    `idempotency_key_required_actions` (see OrderViewSet).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponse],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        tenant_id: str | None = getattr(request, "tenant_id", None)
        if request.method not in IDEMPOTENT_METHODS or tenant_id is None:
            return None
        # A DRF viewset's view carries its class and its route's method -> action map.
        actions: dict[str, str] | None = getattr(view_func, "actions", None)
        if actions is not None and request.method.lower() not in actions:
            return None  # the view answers 405 before any key is looked at
        # Refusals go through the API's one exception handler, as a view's would.
        context = {"request": request}
        raw_key = request.headers.get("Idempotency-Key")
        if raw_key is None:
            view_class = getattr(view_func, "cls", None)
            required = getattr(view_class, "idempotency_key_required_actions", ())
            if actions is None or actions[request.method.lower()] not in required:
                return None
            return exception_handler(IdempotencyKeyRequired(), context)
        try:
            key = parse_idempotency_key(raw_key)
            body = request.body
        except (InvalidIdempotencyKey, RequestDataTooBig) as error:
            return exception_handler(error, context)

        def execute() -> HttpResponse:
            response = view_func(request, *view_args, **view_kwargs)
            # DRF responses render lazily; the stored copy must be the final bytes.
            render = getattr(response, "render", None)
            if callable(render):
                render()
            return response

        try:
            outcome = idempotent_execute(
                tenant_id=tenant_id,
                key=key,
                fingerprint=fingerprint(method=request.method, path=request.path, body=body),
                execute=execute,
                capture=_capture,
            )
        except IdempotencyKeyReused as error:
            IDEMPOTENCY_CONFLICTS.labels(reason="reused").inc()
            return exception_handler(error, context)
        except IdempotencyKeyInUse as error:
            IDEMPOTENCY_CONFLICTS.labels(reason="in_use").inc()
            return exception_handler(error, context)
        except DatabaseError as error:  # the handler tells an outage (503) from a bug (500)
            return exception_handler(error, context)
        if isinstance(outcome, StoredResponse):
            IDEMPOTENCY_REPLAYS.inc()
            return _replay(outcome)
        return outcome


def _capture(response: HttpResponse) -> StoredResponse | None:
    if not 200 <= response.status_code < 300:
        return None
    return StoredResponse(
        status=response.status_code,
        headers={name: response[name] for name in REPLAYED_HEADERS if response.has_header(name)},
        body=response.content,
    )


def _replay(stored: StoredResponse) -> HttpResponse:
    response = HttpResponse(stored.body, status=stored.status)
    for name, value in stored.headers.items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response
