"""The per-request stack every service runs (bench/stack.py measures its cost): the request's
session commits before the answer and rolls back on a refusal, its connection always goes back to
the pool; `Caller` is one dependency the policy's matrix still finds; request metrics keep each
(route, status) apart; the platform's tracer, made once, still reaches a span processor added later."""

import uuid

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import text

from tongban.shared import tracing
from tongban.shared.db import SessionDep, make_engine, make_sessionmaker, notify_after_commit
from tongban.shared.errors import Conflict, install_error_handlers
from tongban.shared.metrics import Metrics
from tongban.shared.policy import AuthorizeCaller, Policy, Rule, declared_permission, route_helpers


@pytest.fixture
async def table(infra):
    name = f"stack_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(infra.pg.url_for("postgres"))
    # Deferred: a duplicate is refused by COMMIT itself, not by the INSERT.
    await conn.execute(f"CREATE TABLE {name} (id int, CONSTRAINT {name}_u UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)")
    yield name, conn
    await conn.execute(f"DROP TABLE {name}")
    await conn.close()


@pytest.fixture
async def app(infra, table):
    name, _ = table
    engine = make_engine(infra.pg.url_for("postgres"), pool_size=2)
    app = FastAPI()
    install_error_handlers(app)
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.engine = engine

    @app.post("/rows/{row}")
    async def insert(row: int, session: SessionDep, twice: bool = False, refuse: bool = False) -> dict:
        await notify_after_commit(session, "stack_test", str(row))
        await session.execute(text(f"INSERT INTO {name} (id) VALUES (:id)"), {"id": row})
        if twice:
            await session.execute(text(f"INSERT INTO {name} (id) VALUES (:id)"), {"id": row})
        if refuse:
            raise Conflict("the row was written, then the request refused")
        return {"row": row}

    @app.get("/nothing")
    async def nothing(session: SessionDep) -> dict:
        return {"in_transaction": session.in_transaction()}

    yield app
    await engine.dispose()


async def _call(app: FastAPI, method: str, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, path)


async def test_request_session_commits_before_the_answer_and_rolls_back_a_refusal(app, table):
    name, conn = table
    ok = await _call(app, "POST", "/rows/1")
    assert ok.status_code == 200
    assert await conn.fetchval(f"SELECT count(*) FROM {name} WHERE id = 1") == 1  # committed when answered

    refused = await _call(app, "POST", "/rows/2?refuse=true")
    assert refused.status_code == 409 and refused.json()["code"] == "conflict"
    assert await conn.fetchval(f"SELECT count(*) FROM {name} WHERE id = 2") == 0

    # COMMIT itself fails (the deferred constraint): the answer is not a success.
    failed = await _call(app, "POST", "/rows/3?twice=true")
    assert failed.status_code == 500 and failed.headers["content-type"] == "application/problem+json"
    assert await conn.fetchval(f"SELECT count(*) FROM {name} WHERE id = 3") == 0

    # A request that runs no statement opens no transaction, and every connection is back.
    assert (await _call(app, "GET", "/nothing")).json() == {"in_transaction": False}
    assert app.state.engine.sync_engine.pool.checkedout() == 0


POLICY = Policy("demo", {"thing.read": (Rule("clerk", scopes=("demo:read",)),)})
Can, Caller, Public = route_helpers(POLICY)


async def test_caller_is_one_dependency_answering_the_principal(token_issuer):
    from tongban.shared.auth import Principal, TokenVerifier

    app = FastAPI()
    install_error_handlers(app)
    app.state.token_verifier = TokenVerifier("demo", "tongban-gateway", jwks_json=token_issuer.jwks_json)

    @app.get("/things")
    async def things(actor: Caller("thing.read")) -> dict:
        assert isinstance(actor, Principal)
        return {"sub": actor.sub}

    route = next(r for r in app.routes if getattr(r, "path", None) == "/things")
    assert [type(d.call) for d in route.dependant.dependencies] == [AuthorizeCaller]
    assert declared_permission(route) == "thing.read"
    good = token_issuer.mint("clerk", "demo:read", ["demo"], sub="clerk-1")
    bad = token_issuer.mint("clerk", "demo:other", ["demo"], sub="clerk-2")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/things", headers={"Authorization": f"Bearer {good}"})).json() == {"sub": "clerk-1"}
        refused = await client.get("/things", headers={"Authorization": f"Bearer {bad}"})
        assert refused.status_code == 403 and refused.json()["code"] == "insufficient_scope"
        assert (await client.get("/things")).status_code == 401


def test_request_metrics_keep_each_route_and_status_apart():
    metrics = Metrics()
    for status in (200, 200, 404, 200):
        metrics.observe("GET", "/a/{id}", status, 0.01)
    metrics.observe("POST", "/a/{id}", 200, 0.02)
    count = lambda m, s: metrics.registry.get_sample_value(  # noqa: E731
        "http_requests_total", {"method": m, "route": "/a/{id}", "status": s})
    assert (count("GET", "200"), count("GET", "404"), count("POST", "200")) == (3.0, 1.0, 1.0)
    assert metrics.registry.get_sample_value("http_request_duration_seconds_count",
                                             {"method": "GET", "route": "/a/{id}"}) == 4.0


def test_the_tracer_made_once_reaches_a_processor_added_later():
    with tracing.span("before", SpanKind.INTERNAL):
        pass
    exporter = InMemorySpanExporter()
    tracing.tracer_provider().add_span_processor(SimpleSpanProcessor(exporter))
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with tracing.span("after", SpanKind.SERVER, {"traceparent": parent}, "demo") as s:
        assert format(s.get_span_context().trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    got = [x for x in exporter.get_finished_spans() if x.name == "after"]
    assert len(got) == 1 and got[0].attributes["service.name"] == "demo"
    assert format(got[0].parent.span_id, "016x") == "b7ad6b7169203331"
    exporter.shutdown()
