"""A full connection pool or an unreachable database is load, not a bug: 503 + Retry-After."""

import asyncio
import socket

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
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
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
