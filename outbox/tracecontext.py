"""The W3C Trace Context an event carries from the transaction that wrote it to its message.

Read and written with the OpenTelemetry API's W3C propagator, whatever OTEL_PROPAGATORS
says: the columns and the message headers are `traceparent` and `tracestate`.
"""

from dataclasses import dataclass

from opentelemetry.context import Context
from opentelemetry.trace import Span, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_W3C = TraceContextTextMapPropagator()


@dataclass(frozen=True)
class TraceContext:
    """`traceparent` and `tracestate` as stored with an event; empty strings for none."""

    traceparent: str = ""
    tracestate: str = ""

    @classmethod
    def current(cls) -> "TraceContext":
        """The context of the current span (the request's, in a request), if any."""
        return cls._injected(None)

    @classmethod
    def of(cls, span: Span) -> "TraceContext":
        """The context that names `span` as the parent."""
        return cls._injected(set_span_in_context(span))

    @classmethod
    def _injected(cls, context: Context | None) -> "TraceContext":
        carrier: dict[str, str] = {}
        _W3C.inject(carrier, context=context)
        return cls(carrier.get("traceparent", ""), carrier.get("tracestate", ""))

    def as_context(self) -> Context | None:
        """As an OpenTelemetry parent context; None when there is none to continue."""
        if not self.traceparent:
            return None
        return _W3C.extract({"traceparent": self.traceparent, "tracestate": self.tracestate})

    def headers(self) -> dict[str, str]:
        """The message headers of the same names, only those that are set."""
        return {name: value for name, value in vars(self).items() if value}
