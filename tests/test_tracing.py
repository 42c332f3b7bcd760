"""One case's journey is one trace: the trace context of the HTTP request travels into the
event, onto the NATS message and into the consumer, across services."""

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tongban.cases.main import SERVICE as CASES
from tongban.catalog.main import SERVICE as CATALOG
from tongban.shared.testing.plugin import running_service, wait_for
from tongban.shared.tracing import tracer_provider

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    tracer_provider().add_span_processor(processor)
    yield exporter
    processor.shutdown()


async def test_request_event_and_consumer_share_one_trace(infra, token_issuer, clean_nats, spans):
    admin = {"Authorization": "Bearer " + token_issuer.mint("admin", "catalog:write", ["catalog"]),
             "traceparent": TRACEPARENT}
    async with running_service(CATALOG, infra, token_issuer) as catalog, \
            running_service(CASES, infra, token_issuer):
        r = await catalog.post("/api/v1/catalog/items", headers=admin, json={
            "basic_code": "442000008000", "name": "就业登记", "exercise_level": 4, "case_type": "immediate"})
        assert r.status_code == 201
        async with catalog.app.state.sessionmaker() as s:
            from sqlalchemy import select

            from tongban.catalog.db import platform
            envelope = (await s.execute(select(platform.outbox.c.envelope))).scalar_one()
        assert envelope["traceparent"].split("-")[1] == TRACE_ID

        def in_trace():
            return {s.name: s for s in spans.get_finished_spans() if format(s.context.trace_id, "032x") == TRACE_ID}

        async def consumed():
            return "consume catalog.item.published" in in_trace()

        await wait_for(consumed, timeout=15)
        journey = in_trace()
        server = journey["POST /api/v1/catalog/items"]
        publish = journey["publish catalog.item.published"]
        consume = journey["consume catalog.item.published"]
        assert server.parent.span_id == int("00f067aa0ba902b7", 16)   # the caller's span
        # The event was made inside the server span (or a span under it).
        within_request = {server.context.span_id} | {
            s.context.span_id for s in journey.values() if s.parent and s.parent.span_id == server.context.span_id}
        assert publish.parent.span_id in within_request                 # via the outbox row
        assert consume.parent.span_id == publish.context.span_id      # via the NATS headers
        assert server.attributes["service.name"] == "catalog"
