"""OpenTelemetry for this process: W3C Trace Context always, spans when they are exported.

Set up once at process start, by orders_project/wsgi.py (each gunicorn worker imports it
after the fork) and by `manage.py outbox_relay`:

- Always: Django's instrumentation continues a request's valid `traceparent` and
  `tracestate` (the API's W3C propagator; a malformed one is ignored and the request
  starts afresh), so the outbox event the request writes stores that context.
- When the standard variables name an exporter (`OTEL_TRACES_EXPORTER=otlp|console`, or
  an `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), the SDK
  records spans: the HTTP request, its SQL (psycopg's instrumentation) and the relay's
  publish, sampled by `OTEL_TRACES_SAMPLER`, exported in batches (`OTEL_BSP_*`), named by
  `OTEL_SERVICE_NAME`. With none, the API stays a no-op that records nothing and passes
  the caller's context on unchanged.
"""

import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from opentelemetry import trace
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

REQUEST_CONTEXT_MIDDLEWARE = "orders_project.observability.RequestContextMiddleware"
# Probes and scrapes: a trace for each would bury the requests worth reading.
DEFAULT_EXCLUDED_URLS = "/healthz,/readyz,/metrics"
# The OTLP exporter installed here (requirements.txt): protobuf over HTTP.
OTLP_PROTOCOL = "http/protobuf"


def configure_web(*, service_name: str = "orders-api") -> None:
    """Set up tracing for a web process, before Django loads its middleware."""
    provider = tracer_provider_from_environment(service_name=service_name)
    if provider is not None:
        trace.set_tracer_provider(provider)
    instrument_web(provider)


def configure_relay(*, service_name: str = "orders-outbox-relay") -> TracerProvider | None:
    """Set up tracing for the outbox relay; the provider for its publish spans, if any."""
    provider = tracer_provider_from_environment(service_name=service_name)
    if provider is not None:
        trace.set_tracer_provider(provider)
    return provider


def instrument_web(tracer_provider: TracerProvider | None) -> None:
    """Django's instrumentation (it carries the caller's context, recorded or not) and,
    for a provider that records, psycopg's; None means the global provider."""
    DjangoInstrumentor().instrument(
        tracer_provider=tracer_provider,
        excluded_urls=os.environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS", DEFAULT_EXCLUDED_URLS),
        # Inside RequestContextMiddleware: what the instrumentation logs or raises (a
        # forged Host refused as it reads the request) already has the request's id.
        middleware_position=settings.MIDDLEWARE.index(REQUEST_CONTEXT_MIDDLEWARE) + 1,
    )
    if tracer_provider is not None:
        PsycopgInstrumentor().instrument(tracer_provider=tracer_provider)


def uninstrument_web() -> None:
    """Undo instrument_web (tests that set up tracing of their own)."""
    DjangoInstrumentor().uninstrument()
    if PsycopgInstrumentor().is_instrumented_by_opentelemetry:
        PsycopgInstrumentor().uninstrument()


def tracer_provider_from_environment(*, service_name: str) -> TracerProvider | None:
    """The SDK with the exporters the OTEL_* variables name; None when they name none."""
    exporters = _exporters()
    if not exporters:
        return None
    provider = TracerProvider(
        resource=Resource.create(
            {SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or service_name}
        )
    )
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _exporters() -> list[SpanExporter]:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = os.environ.get("OTEL_TRACES_EXPORTER", "").strip()
    if not names:
        # The spec's default exporter is OTLP; here it takes an endpoint to mean it, so
        # that a process nobody set up for tracing sends nothing anywhere.
        endpoints = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        names = "otlp" if any(os.environ.get(name) for name in endpoints) else "none"
    exporters: list[SpanExporter] = []
    for name in (part.strip().lower() for part in names.split(",")):
        if name in ("", "none"):
            continue
        if name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name == "otlp":
            exporters.append(_otlp_exporter())
        else:
            raise ImproperlyConfigured(
                f"OTEL_TRACES_EXPORTER={names!r}: {name!r} is not installed "
                "(otlp, console or none)."
            )
    return exporters


def _otlp_exporter() -> SpanExporter:
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or OTLP_PROTOCOL
    )
    if protocol.strip() != OTLP_PROTOCOL:
        raise ImproperlyConfigured(
            f"OTLP protocol {protocol!r}: only {OTLP_PROTOCOL} is installed "
            "(set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf and the collector's HTTP port)."
        )
    # Imported only when asked for: it brings protobuf and requests along.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )

    # Endpoint, headers, timeout, compression and certificates: OTEL_EXPORTER_OTLP_*.
    return OTLPSpanExporter()
