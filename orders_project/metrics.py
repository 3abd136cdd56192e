"""Prometheus metrics, and the /metrics view that serves them.

Under gunicorn every worker is its own process, so the metrics use prometheus_client's
multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set (gunicorn.conf.py sets it):
each worker writes to that folder and a scrape on any worker adds them all up.
Gauges that describe the database (the outbox backlog) are read at scrape time by the
collectors named in settings.METRICS_COLLECTORS.
"""

import hmac
import os
from http import HTTPStatus

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Histogram,
    generate_latest,
    multiprocess,
)

from orders_project.credentials import bearer_token
from orders_project.errors import NotFound, Unauthenticated
from orders_project.problems import only_get, problem_response

REQUEST_SECONDS = Histogram(
    "orders_http_request_duration_seconds",
    "Time to answer an HTTP request, by route (URL name), method and status.",
    ["route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


# Every label value comes from a closed set, whatever the request says: gunicorn accepts
# any 1-20 letter method, and each new label value is a new series in every worker's
# metric file. Routes are URL names (orders_project.observability), closed by the URLconf.
OTHER = "other"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
_STATUSES = {status.value: str(status.value) for status in HTTPStatus}


def observe_request(*, route: str, method: str, status: int, seconds: float) -> None:
    """Record one answered request; an unknown method or status is counted as `other`."""
    REQUEST_SECONDS.labels(
        route=route,
        method=method if method in _METHODS else OTHER,
        status=_STATUSES.get(status, OTHER),
    ).observe(seconds)


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Forward(REGISTRY))
    for path in settings.METRICS_COLLECTORS:
        registry.register(import_string(path)())
    return registry


class _Forward:
    """Exposes the process-wide registry inside a per-scrape one."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self):  # type: ignore[no-untyped-def]
        return self.source.collect()


@csrf_exempt
def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics in the Prometheus text format, for callers with METRICS_TOKEN."""
    refused = only_get(request) or _refuse_scraper(request)
    return refused or HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)


def _refuse_scraper(request: HttpRequest) -> HttpResponse | None:
    # Routes and their counts are for the operator's Prometheus only (docs/RELIABILITY.md).
    token = settings.METRICS_TOKEN
    if not token:
        return problem_response(NotFound("Metrics are off: set METRICS_TOKEN to serve them."))
    given = bearer_token(request)
    if given is None or not hmac.compare_digest(given.encode(), token.encode()):
        return problem_response(Unauthenticated("Send METRICS_TOKEN as a Bearer token."))
    return None
