"""The gateway under test runs for real: uvicorn on a free port, in front of a real upstream (a
small echo service, also under uvicorn), against the session's PostgreSQL and NATS.

Every test gets its own copy of a database that was migrated and seeded with the demo accounts
once (argon2 hashing is deliberately slow, so it is not repeated per test).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import socket
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from tongban.gateway.main import SERVICE, create_app
from tongban.gateway.proxy.asgi import GatewayASGI
from tongban.gateway.proxy.server import GatewayProtocol
from tongban.gateway.seed import seed
from tongban.shared.db import make_engine, make_sessionmaker
from tongban.shared.localinfra import free_port

PASSWORDS = {"citizen": "Citizen#2026", "company": "Company#2026", "clerk": "Clerk#2026",
             "approver": "Approver#2026", "admin": "Admin#2026"}
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
UPSTREAM_PROBLEM = (b'{"type":"https://tongban.gov.cn/problems/item_not_found","title":"No such item",'
                    b'"status":404,"code":"item_not_found","detail":"upstream says so","request_id":"up-1"}')
_db_counter = itertools.count()


@asynccontextmanager
async def serve(app: Any, lifespan: str = "on", http: Any = "httptools",
                forwarded_allow_ips: str | None = None, timeout_keep_alive: float = 5) -> AsyncIterator[str]:
    """Run an ASGI app under uvicorn on a free port in this event loop; yields its base URL.
    `http`: uvicorn's protocol (the gateway runs with its own, `GatewayProtocol`).

    As the platform's edge, it believes no X-Forwarded-* header (there is no proxy in front),
    unless `forwarded_allow_ips` names the proxies to believe."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan=lifespan, http=http, log_config=None, log_level="warning", access_log=False,
                            proxy_headers=forwarded_allow_ips is not None, forwarded_allow_ips=forwarded_allow_ips,
                            timeout_keep_alive=timeout_keep_alive, timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                raise RuntimeError("the server did not start") from task.exception()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass
class Upstream:
    """A stand-in service behind the gateway: echoes what reached it and streams on cue."""

    url: str = ""
    hits: int = 0
    problem_body: bytes = UPSTREAM_PROBLEM
    first_chunk_in: asyncio.Event = field(default_factory=asyncio.Event)
    first_chunk_out_seen: asyncio.Event = field(default_factory=asyncio.Event)
    endless_stopped: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> Starlette:
        async def echo(request: Request) -> Response:
            self.hits += 1
            body = b"".join([chunk async for chunk in request.stream()])
            return JSONResponse({
                "method": request.method, "raw_path": request.scope["raw_path"].decode(),
                "query": request.scope["query_string"].decode(),
                "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.scope["headers"]],
                "body_length": len(body), "body_sha256": hashlib.sha256(body).hexdigest(),
            })

        async def stream_in(request: Request) -> Response:
            self.hits += 1
            total = 0
            async for chunk in request.stream():
                total += len(chunk)
                if total:
                    self.first_chunk_in.set()
            return JSONResponse({"received": total})

        async def stream_out(request: Request) -> Response:
            async def body() -> AsyncIterator[bytes]:
                yield b"first\n"
                await asyncio.wait_for(self.first_chunk_out_seen.wait(), 10)
                yield b"second\n"
            return StreamingResponse(body(), media_type="text/plain")

        async def endless(request: Request) -> Response:
            async def body() -> AsyncIterator[bytes]:
                try:
                    while True:
                        yield b"tick\n"
                        await asyncio.sleep(0.01)
                finally:
                    self.endless_stopped.set()
            return StreamingResponse(body(), media_type="text/plain")

        async def small_chunked(request: Request) -> Response:
            async def body() -> AsyncIterator[bytes]:
                yield b"one,"
                yield b"two"
            return StreamingResponse(body(), media_type="text/plain")

        async def problem(request: Request) -> Response:
            return Response(self.problem_body, status_code=404, media_type="application/problem+json",
                            headers={"x-upstream": "catalog", "cache-control": "no-cache"})

        async def unavailable(request: Request) -> Response:
            # Not the service's own problem+json: what a dying process or a proxy in front says.
            self.hits += 1
            return Response(b'{"status":503}', status_code=503, media_type="application/json")

        async def database_blip(request: Request) -> Response:
            # What a service's error handler answers while its database is away for a moment.
            self.hits += 1
            return Response(b'{"status":503,"code":"database_unavailable"}', status_code=503,
                            media_type="application/problem+json", headers={"retry-after": "1"})

        async def slow(request: Request) -> Response:
            await asyncio.wait_for(self.release.wait(), 10)
            return PlainTextResponse("late")

        async def broken(request: Request) -> Response:
            async def body() -> AsyncIterator[bytes]:
                yield b"partial "
                raise RuntimeError("the upstream crashed mid-body (on purpose)")
            return StreamingResponse(body(), media_type="text/plain")

        p = "/api/v1/catalog"
        return Starlette(routes=[
            Route(p + "/echo/{rest:path}", echo, methods=METHODS), Route(p + "/stream-in", stream_in, methods=["POST"]),
            Route(p + "/stream-out", stream_out), Route(p + "/endless", endless), Route(p + "/problem", problem),
            Route(p + "/small-chunked", small_chunked),
            Route(p + "/slow", slow), Route(p + "/broken", broken), Route(p + "/unavailable", unavailable),
            Route(p + "/database-blip", database_blip, methods=["GET", "POST"]),
        ])


@dataclass
class Gateway:
    asgi: GatewayASGI
    url: str
    client: httpx.AsyncClient

    @property
    def state(self) -> Any:
        return self.asgi.app.state

    async def login(self, username: str, password: str | None = None, **form: str) -> httpx.Response:
        """POST /auth/token with the password grant (the demo password unless one is given)."""
        return await self.client.post("/auth/token", data={"grant_type": "password", "username": username,
                                                           "password": password or PASSWORDS[username], **form})

    async def token(self, username: str) -> str:
        r = await self.login(username)
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    async def token_for(self, username: str, password: str) -> str:
        r = await self.login(username, password)
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    async def bearer(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token(username)}"}


def _seed_database(url: str) -> None:
    async def run() -> None:
        engine = make_engine(url, 2)
        try:
            await seed(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    asyncio.run(run())


@pytest.fixture(scope="session")
def seeded_template(infra) -> str:
    """A migrated gateway database holding the demo accounts, used as a template (never opened by tests)."""
    url = infra.fresh_database(SERVICE)
    with ThreadPoolExecutor(1) as pool:  # keep asyncio.run off the test's event loop
        pool.submit(_seed_database, url).result()
    return url.rsplit("/", 1)[1]


@pytest.fixture
def gateway_db(infra, seeded_template) -> str:
    name = f"t_gateway_seeded_{next(_db_counter)}"
    infra.pg.create_database(name, template=seeded_template)
    return infra.pg.url_for(name)


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    up = Upstream()
    async with serve(up.app(), lifespan="off") as url:
        up.url = url
        yield up
        up.release.set()


@pytest.fixture
def gateway_protocol() -> Any:
    """The protocol the gateway is served with, as in production; test_proxy also runs every test
    with uvicorn's own, so the ASGI path alone is known to do everything too."""
    return GatewayProtocol


@pytest.fixture
def start_gateway(infra, gateway_db, upstream, monkeypatch, gateway_protocol):
    """Start the gateway (configured through its GATEWAY_* environment, as in production)."""

    @asynccontextmanager
    async def start(forwarded_allow_ips: str | None = None, timeout_keep_alive: float = 5,
                    **settings: Any) -> AsyncIterator[Gateway]:
        env = {"database_url": gateway_db, "nats_url": infra.nats.url, "log_level": "WARNING",
               "catalog_url": upstream.url, "cases_url": f"http://127.0.0.1:{free_port()}",
               "upstream_timeout": 10, "trusted_proxies": forwarded_allow_ips or "", **settings}
        for name, value in env.items():
            monkeypatch.setenv(f"GATEWAY_{name.upper()}", str(value))
        asgi = create_app()
        async with serve(asgi, http=gateway_protocol, forwarded_allow_ips=forwarded_allow_ips,
                         timeout_keep_alive=timeout_keep_alive) as url, httpx.AsyncClient(
                             base_url=url, timeout=20, headers={"Accept-Language": "en"}) as client:
            yield Gateway(asgi, url, client)

    return start


@pytest.fixture
async def gateway(start_gateway) -> AsyncIterator[Gateway]:
    async with start_gateway() as gw:
        yield gw


@pytest.fixture
def fresh_db(infra) -> Iterator[str]:
    """A migrated gateway database with nothing in it."""
    yield infra.fresh_database(SERVICE)


@pytest.fixture
def serve_app() -> Any:
    """`serve` for tests that run an app of their own (e.g. a stand-in service with an OpenAPI document)."""
    return serve
