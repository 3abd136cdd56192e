"""The idempotent write, named on the viewset action it guards: `@idempotent()`."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from idempotency.errors import IdempotencyKeyInUse, IdempotencyKeyRequired, IdempotencyKeyReused
from idempotency.keys import fingerprint, parse_idempotency_key
from idempotency.metrics import IDEMPOTENCY_CONFLICTS, IDEMPOTENCY_REPLAYS
from idempotency.repository import StoredResponse
from idempotency.services import idempotent_execute

type Action = Callable[..., Response]
type IdempotentAction = Callable[..., HttpResponse]

# What a replay repeats besides status and body.
REPLAYED_HEADERS = ("Content-Type", "Location", "ETag")


def idempotent(*, key_required: bool = False) -> Callable[[Action], IdempotentAction]:
    """Run a viewset action at most once per Idempotency-Key; replay its stored response.

    Without a key the action just runs, or, when `key_required`, is refused (400).
    DRF calls the action after authenticating the request, so a replay passes every
    check a fresh request does, a browser session's CSRF check among them.
    """

    def decorate(action: Action) -> IdempotentAction:
        @wraps(action)
        def run(view: APIView, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
            raw_key = request.headers.get("Idempotency-Key")
            if raw_key is None:
                if key_required:
                    raise IdempotencyKeyRequired()
                return action(view, request, *args, **kwargs)
            key = parse_idempotency_key(raw_key)
            # The body is parsed (and refused: 400, 415) before a stored response can be
            # replayed, so a retry the parsers would refuse is refused, not replayed.
            request.data  # noqa: B018

            def execute() -> HttpResponse:
                response = action(view, request, *args, **kwargs)
                # DRF renders a response after the action returns; the stored copy must
                # be the final bytes, written in the same transaction as the action's.
                return view.finalize_response(request, response, *args, **kwargs).render()

            # Set by TenantMiddleware on the Django request; DRF's Request passes it through.
            tenant_id: str = request.tenant_id  # type: ignore[attr-defined]
            return _run_once(
                tenant_id=tenant_id,
                key=key,
                # Readable even once a session's CSRF check has had DRF parse the body:
                # DRF's JSON and form parsers read request.body, not the raw stream.
                fingerprint=fingerprint(
                    method=request.method or "", path=request.path, body=request.body
                ),
                execute=execute,
            )

        return run

    return decorate


def _run_once(
    *, tenant_id: str, key: str, fingerprint: str, execute: Callable[[], HttpResponse]
) -> HttpResponse:
    try:
        outcome = idempotent_execute(
            tenant_id=tenant_id,
            key=key,
            fingerprint=fingerprint,
            execute=execute,
            capture=_capture,
        )
    except IdempotencyKeyReused:
        IDEMPOTENCY_CONFLICTS.labels(reason="reused").inc()
        raise
    except IdempotencyKeyInUse:
        IDEMPOTENCY_CONFLICTS.labels(reason="in_use").inc()
        raise
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
