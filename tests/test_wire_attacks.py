"""Attacks on the wire, sent on raw sockets: request smuggling through the gateway (a body that is
itself a request), ambiguous framing (repeated Content-Length, Content-Length beside
Transfer-Encoding, codings other than chunked) and repeated Host or Authorization, against the
gateway's short way, its ASGI way and a service called directly; and malformed or expired
tokens at a service, which are 401 problem+json, never 500.

The gateway runs in this process in front of a recording service (every request that reaches it
is written down); svc-catalog runs as its own process, under uvicorn as in production."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tongban.catalog.main import SERVICE as CATALOG
from tongban.gateway.config import Settings as GatewaySettings
from tongban.gateway.main import SERVICE as GATEWAY
from tongban.gateway.main import create_app as create_gateway
from tongban.gateway.proxy.server import GatewayProtocol
from tongban.interop.main import SERVICE as INTEROP
from tongban.shared.framing import FramingCheck
from tongban.shared.localinfra import ServiceProcess, free_port
from tongban.shared.testing.plugin import running_service, service_env, wait_for

pytestmark = pytest.mark.usefixtures("clean_nats")
SMUGGLED = b"GET /api/v1/catalog/record/smuggled HTTP/1.1\r\nHost: catalog\r\n\r\n"
# Each is refused whole: 400, nothing reaches the service, the connection is closed.
AMBIGUOUS = {
    "repeated content-length": b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    "two content-lengths": b"Content-Length: 5\r\nContent-Length: 0\r\n\r\nhello",
    "content-length and chunked": b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "gzip, chunked": b"Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "gzip": b"Transfer-Encoding: gzip\r\n\r\nhello",
    "repeated transfer-encoding": b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "repeated host": b"Host: elsewhere\r\nContent-Length: 0\r\n\r\n",
    "repeated authorization": b"Authorization: Bearer a.b.c\r\nAuthorization: Bearer d.e.f\r\nContent-Length: 0\r\n\r\n",
}
# Refused by our own check (problem+json everywhere); the others llhttp already refuses itself.
OURS = {"gzip, chunked", "repeated host", "repeated authorization"}
MALFORMED_TOKENS = ["WzFd.e30.x", "W10.e30.x", "bnVsbA.e30.x", "e30.W10.x", "not-a-token", "..", "\u00e9.e30.x"]


@asynccontextmanager
async def serve(app: Any, http: Any = "httptools") -> AsyncIterator[int]:
    """An ASGI app under uvicorn on a free port of this event loop; believes no X-Forwarded-*."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, http=http, log_config=None, log_level="warning", access_log=False,
                                           proxy_headers=False, timeout_graceful_shutdown=2))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                raise RuntimeError("the server did not start") from task.exception()
            await asyncio.sleep(0.01)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()


class Recorder:
    """The service behind the gateway: writes down every request that reaches it, as the shared
    framing check lets it through."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bytes]] = []

    def app(self) -> Any:
        async def record(request: Request) -> JSONResponse:
            body = await request.body()
            self.seen.append((request.method, request.url.path, body))
            return JSONResponse({"path": request.url.path, "body": body.decode("latin-1")})
        return FramingCheck(Starlette(routes=[
            Route("/api/v1/catalog/record/{rest:path}", record, methods=["GET", "POST"])]))

    @property
    def paths(self) -> list[str]:
        return [path for _, path, _ in self.seen]


async def exchange(port: int, raw: bytes, responses: int = 1) -> tuple[list[tuple[int, dict[str, str], bytes]], bool]:
    """Send raw bytes; read `responses` answers (framed by Content-Length) and whether the server
    then closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers = []
    try:
        writer.write(raw)
        await writer.drain()
        for _ in range(responses):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), 10)
            answers.append((status, headers, body))
        closed = headers.get("connection", "").lower() == "close" and await asyncio.wait_for(reader.read(), 10) == b""
        return answers, closed
    finally:
        writer.close()


def problem(answer: tuple[int, dict[str, str], bytes], status: int, code: str) -> dict[str, Any]:
    got, headers, body = answer
    assert got == status, body
    assert headers["content-type"] == "application/problem+json", headers
    doc = json.loads(body)
    assert doc["status"] == status and doc["code"] == code, doc
    return doc


@pytest.fixture(params=["own protocol", "uvicorn's protocol"])
async def gateway(request, infra) -> AsyncIterator[tuple[int, Recorder, bool]]:
    """The gateway in front of the recorder, served with its own protocol as in production (a
    bodiless request takes the short way, one with a body the ASGI way) or with uvicorn's (every
    request the ASGI way; llhttp's own refusals are then uvicorn's plain-text 400)."""
    recorder = Recorder()
    async with serve(recorder.app()) as upstream_port:
        settings = GatewaySettings(database_url=infra.fresh_database(GATEWAY), nats_url=infra.nats.url,
                                   log_level="WARNING", catalog_url=f"http://127.0.0.1:{upstream_port}")
        own = request.param == "own protocol"
        async with serve(create_gateway(settings), http=GatewayProtocol if own else "httptools") as port:
            yield port, recorder, own


@pytest.mark.parametrize("connection", [b"content-length", b"keep-alive, Content-Length", b"close, content-length, host"])
async def test_a_body_that_is_a_request_never_reaches_the_service_as_one(gateway, connection):
    """`Connection: content-length` once made the gateway drop the framing and send the body on
    bare: the service read it as a second request, past every check of the gateway."""
    port, recorder, _ = gateway
    raw = (b"POST /api/v1/catalog/record/first HTTP/1.1\r\nHost: gw\r\nConnection: " + connection +
           b"\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED) + SMUGGLED)
    [(status, _, body)], _ = await exchange(port, raw)
    assert status == 200 and json.loads(body)["body"] == SMUGGLED.decode()
    # A request after it on a kept-alive upstream connection would come after the smuggled one.
    async with httpx.AsyncClient(headers={"Accept-Language": "en"}, base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(3):
            assert (await client.get("/api/v1/catalog/record/after")).status_code == 200

    async def all_after() -> bool:
        return recorder.paths.count("/api/v1/catalog/record/after") == 3
    await wait_for(all_after)
    assert "/api/v1/catalog/record/smuggled" not in recorder.paths
    assert recorder.seen[0] == ("POST", "/api/v1/catalog/record/first", SMUGGLED)


async def test_a_chunked_body_that_is_a_request_stays_a_body(gateway):
    port, recorder, _ = gateway
    raw = (b"POST /api/v1/catalog/record/first HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n"
           b"Connection: transfer-encoding\r\n\r\n%x\r\n" % len(SMUGGLED) + SMUGGLED + b"\r\n0\r\n\r\n")
    [(status, _, _)], _ = await exchange(port, raw)
    assert status == 200
    assert recorder.seen == [("POST", "/api/v1/catalog/record/first", SMUGGLED)]


@pytest.mark.parametrize("case", list(AMBIGUOUS))
@pytest.mark.parametrize("method", [b"GET", b"POST"])
async def test_ambiguous_requests_are_refused_at_the_gateway(gateway, case, method):
    port, recorder, own = gateway
    raw = method + b" /api/v1/catalog/record/x HTTP/1.1\r\nHost: gw\r\n" + AMBIGUOUS[case]
    # A second request right behind it is never served: the connection closes after the 400.
    [answer], closed = await exchange(port, raw + b"GET /api/v1/catalog/record/behind HTTP/1.1\r\nHost: gw\r\n\r\n")
    if own or case in OURS:
        problem(answer, 400, "invalid_headers")
    else:
        assert answer[0] == 400, answer
    assert closed
    assert recorder.seen == []


async def test_the_gateway_s_own_routes_refuse_a_repeated_authorization(gateway):
    port, _, _ = gateway
    raw = (b"GET /auth/userinfo HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer a.b.c\r\n"
           b"Authorization: Bearer d.e.f\r\n\r\n")
    [answer], closed = await exchange(port, raw)
    problem(answer, 400, "invalid_headers")
    assert closed


@pytest.fixture
async def catalog(infra, token_issuer, tmp_path) -> AsyncIterator[int]:
    """svc-catalog as its own process, as `make run` and the images start it."""
    port = free_port()
    env = service_env(CATALOG, infra.fresh_database(CATALOG), infra, token_issuer)
    proc = ServiceProcess("catalog", "tongban.catalog.main:create_app", port, env, log_file=tmp_path / "catalog.log",
                          http=CATALOG.server_protocol).start()
    try:
        await asyncio.to_thread(proc.wait_ready)
        yield port
    finally:
        proc.stop()


async def test_a_service_called_directly_refuses_the_same(catalog):
    for case, rest in AMBIGUOUS.items():
        raw = b"POST /api/v1/catalog/items HTTP/1.1\r\nHost: catalog\r\n" + rest
        [answer], closed = await exchange(catalog, raw + b"GET /healthz HTTP/1.1\r\nHost: catalog\r\n\r\n")
        if case in OURS:
            problem(answer, 400, "invalid_headers")
        else:                          # llhttp's own refusal, before any application code
            assert answer[0] == 400, (case, answer)
        assert closed, case


async def test_a_service_answers_malformed_and_expired_tokens_401(catalog, token_issuer):
    audit = "/api/v1/catalog/audit-events"
    async with httpx.AsyncClient(headers={"Accept-Language": "en"}, base_url=f"http://127.0.0.1:{catalog}") as client:
        for token in MALFORMED_TOKENS:
            r = await client.get(audit, headers={"Authorization": f"Bearer {token}".encode()})
            assert r.status_code == 401, (token, r.text)
            assert r.headers["content-type"] == "application/problem+json" and r.json()["code"] == "invalid_token"
        expired = token_issuer.mint("auditor", "audit:read", ["catalog"], ttl=-120)
        r = await client.get(audit, headers={"Authorization": f"Bearer {expired}"})
        assert r.status_code == 401 and r.json()["code"] == "token_expired"
        good = token_issuer.mint("auditor", "audit:read", ["catalog"])
        assert (await client.get(audit, headers={"Authorization": f"Bearer {good}"})).status_code == 200


async def test_people_tokens_reach_only_the_people_routes_of_interop_directly(infra, token_issuer):
    """People's tokens carry `interop:people`, never `interop`: svc-interop called directly (not
    through the gateway) holds them to the routes that show people their own business."""
    async with running_service(INTEROP, infra, token_issuer) as client:
        citizen = token_issuer.mint("citizen", "cases:read cases:apply", ["cases", "interop:people"],
                                    id_number="11010519491231002X")
        headers = {"Authorization": f"Bearer {citizen}"}
        # The referrals list (callers' names and phone numbers) was open to a citizen's token sent here.
        for path in ("/api/v1/interop/referrals", "/api/v1/interop/outbound-messages", "/api/v1/interop/partners",
                     "/api/v1/interop/outgoing-cases/../referrals"):
            r = await client.get(path, headers=headers)
            assert r.status_code == 403 and r.json()["code"] == "insufficient_scope", (path, r.text)
        # A people route: the token is accepted, and the route's own rules decide (here: whose cases).
        r = await client.get("/api/v1/interop/outgoing-cases", headers=headers)
        assert r.status_code != 401 and r.json().get("code") not in ("insufficient_scope", "invalid_token"), r.text
