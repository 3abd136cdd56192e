"""Request context for logs and metrics: a request id, the tenant, one access line.

Every log line carries `request_id` and `tenant_id` (see RequestContextFilter), and
every response carries `X-Request-ID`: the caller's, when it sent a sane one, or ours.
"""

import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

from orders_project import metrics
from orders_project.errors import LengthRequired
from orders_project.problems import problem_response

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_TRANSFER_ENCODING = "HTTP_TRANSFER_ENCODING"

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
tenant_id_var: ContextVar[str | None] = ContextVar("tenant_id", default=None)

access_log = logging.getLogger("orders.access")


def bind_tenant(tenant_id: str) -> None:
    """Name the tenant of the current request in its log lines."""
    tenant_id_var.set(tenant_id)


class RequestContextFilter(logging.Filter):
    """Adds request_id and tenant_id to every record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.tenant_id = tenant_id_var.get()
        return True


class RequestContextMiddleware:
    """Outermost: sets the request id, times the request, logs and counts it.

    It also refuses, first of all, a body sent without a Content-Length (411).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = given if _SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        request_token = request_id_var.set(request_id)
        tenant_token = tenant_id_var.set(None)
        started = time.perf_counter()
        try:
            if _TRANSFER_ENCODING in request.META:
                # Django reads a body by its Content-Length only, so a chunked body would
                # look empty and the request be acted on unread: refuse it (411).
                response = problem_response(LengthRequired())
            else:
                response = self.get_response(request)
            elapsed = time.perf_counter() - started
            response[REQUEST_ID_HEADER] = request_id
            route = _route(request)
            metrics.observe_request(
                route=route,
                method=request.method or "",
                status=response.status_code,
                seconds=elapsed,
            )
            access_log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(elapsed * 1000, 3),
                },
            )
            return response
        finally:
            tenant_id_var.reset(tenant_token)
            request_id_var.reset(request_token)


def _route(request: HttpRequest) -> str:
    # The URL name, not the path: ids would make the label set unbounded.
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.view_name or "unnamed"
