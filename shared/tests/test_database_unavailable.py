"""A full connection pool or an unreachable database is load, not a bug: 503 + Retry-After."""

import asyncio
import socket

import asyncpg
import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tongban.shared.db import async_url
from tongban.shared.errors import PROBLEM_JSON, install_error_handlers


def _app(engine) -> FastAPI:  # noqa: ANN001
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/one")
    async def one() -> dict:
        async with engine.connect() as conn:
            return {"one": (await conn.execute(text("SELECT 1"))).scalar()}

    return app


async def _get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(headers={"Accept-Language": "en"}, transport=transport, base_url="http://t") as client:
        return await client.get(path)


async def test_exhausted_pool_answers_503_with_retry_after(infra):
    engine = create_async_engine(async_url(infra.pg.url_for("postgres")), pool_size=1, max_overflow=0,
                                 pool_timeout=0.2)
    try:
        app = _app(engine)
        assert (await _get(app, "/one")).json() == {"one": 1}
        async with engine.connect():  # hold the only connection
            resp = await _get(app, "/one")
        assert resp.status_code == 503
        assert resp.headers["content-type"] == PROBLEM_JSON
        assert resp.headers["retry-after"] == "1"
        assert resp.json()["code"] == "database_busy"
        assert (await _get(app, "/one")).status_code == 200  # and it recovers
    finally:
        await engine.dispose()


async def test_unreachable_database_answers_503():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    engine = create_async_engine(f"postgresql+asyncpg://u:p@127.0.0.1:{port}/x", pool_size=1)
    try:
        resp = await asyncio.wait_for(_get(_app(engine), "/one"), 10)
        assert resp.status_code == 503
        assert resp.json()["code"] == "database_unavailable"
        assert resp.headers["retry-after"] == "1"
    finally:
        await engine.dispose()


async def test_connections_dropped_by_the_server_cost_one_503_then_recover(infra):
    """No pre-ping: a pooled connection the server closed fails once (503), the pool drops its
    stale connections and the next request is served."""
    url = infra.pg.url_for("postgres")
    engine = create_async_engine(async_url(url), pool_size=2, max_overflow=0)
    try:
        app = _app(engine)
        assert (await _get(app, "/one")).status_code == 200
        admin = await asyncpg.connect(url, server_settings={"application_name": "test-admin"})
        try:  # the server drops the pooled connection (as a restart or an idle timeout would)
            killed = await admin.fetchval("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                          "WHERE application_name = '' AND datname = 'postgres' "
                                          "AND backend_type = 'client backend'")
        finally:
            await admin.close()
        assert killed == 1
        statuses = [(await _get(app, "/one")).status_code for _ in range(3)]
        assert statuses[0] == 503 and statuses[-1] == 200, statuses
    finally:
        await engine.dispose()
