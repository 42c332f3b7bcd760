"""OpenTelemetry trace context across the platform: one case's journey is one trace.

W3C `traceparent` comes in with the HTTP request (the gateway forwards it), becomes the parent of
the service's server span, is stored in every event the request causes (envelope.traceparent),
rides on the NATS message headers as the relay publishes it, and is the parent of the consumer's
span, so events published while handling it carry the same trace on.

Spans are made by the OpenTelemetry SDK; exporting them is the deployment's choice (add a span
processor with an exporter to `tracer_provider()`), and tests attach an in-memory exporter.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from tongban.shared.logging import trace_id_var

_propagator = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None
# The platform's tracer, made once from the provider (its span processors are the provider's, so a
# processor added later, as tests add one, still sees every span). Fetching it per request was a
# tenth of the edge's own CPU (bench/stack.py's profile: TracerProvider.get_tracer).
_tracer: trace.Tracer | None = None


def tracer_provider() -> TracerProvider:
    """The process's SDK tracer provider (created once; every service in the process shares it)."""
    global _provider
    if _provider is None:
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            _provider = current
        else:
            _provider = TracerProvider(resource=Resource.create({"service.namespace": "tongban"}))
            trace.set_tracer_provider(_provider)
    return _provider


def tracer() -> trace.Tracer:
    """The platform's tracer (from `tracer_provider()`, made once)."""
    global _tracer
    if _tracer is None:
        _tracer = tracer_provider().get_tracer("tongban")
    return _tracer


@contextmanager
def span(name: str, kind: SpanKind, carrier: Mapping[str, str] | None = None,
         service: str | None = None) -> Iterator[trace.Span]:
    """A span whose parent comes from `carrier` (headers holding `traceparent`), if any; the trace
    id goes into the log context for as long as the span is open."""
    parent = _propagator.extract(carrier) if carrier else None
    attributes = {"service.name": service} if service else None
    with (_tracer or tracer()).start_as_current_span(name, context=parent, kind=kind, attributes=attributes) as s:
        token = trace_id_var.set(format(s.get_span_context().trace_id, "032x"))
        try:
            yield s
        finally:
            trace_id_var.reset(token)


def current_traceparent() -> str | None:
    """The `traceparent` of the current span, to store in an event or send on a message."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")
