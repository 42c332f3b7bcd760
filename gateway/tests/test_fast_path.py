"""The gateway's own protocol (`proxy.server`): the usual request takes the short way, and what
the short way does is what the ASGI path does (test_proxy runs every proxy test on both)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httptools
import pytest

from tongban.gateway.proxy.server import GatewayProtocol

ECHO = "/api/v1/catalog/echo"


@pytest.fixture
def cycles(monkeypatch) -> list[str]:
    """The paths of the requests that went through an ASGI cycle (the long way)."""
    seen: list[str] = []
    original = GatewayProtocol.start_cycle

    def start_cycle(self, scope, *args, **kwargs):  # noqa: ANN001, ANN202
        seen.append(scope["path"])
        return original(self, scope, *args, **kwargs)

    monkeypatch.setattr(GatewayProtocol, "start_cycle", start_cycle)
    return seen


class Answer:
    status = 0

    def __init__(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.body = b""


class RawClient:
    """One keep-alive connection to the gateway, written to by hand (pipelining, Connection:
    close), its answers read by httptools (one parser for the connection, as pipelining needs)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = httptools.HttpResponseParser(self)
        self.current = Answer()
        self.done: list[Answer] = []

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.current.headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self.current.body += body

    def on_message_complete(self) -> None:
        self.current.status = self.parser.get_status_code()
        self.done.append(self.current)
        self.current = Answer()

    def send(self, *requests: bytes) -> None:
        """Pipelined: every request goes out before any answer is read."""
        self.writer.write(b"".join(requests))

    async def answer(self) -> Answer:
        while not self.done:
            data = await asyncio.wait_for(self.reader.read(65536), 10)
            if not data:
                raise ConnectionError("the gateway closed the connection")
            self.parser.feed_data(data)
        return self.done.pop(0)

    async def closed_by_gateway(self) -> bool:
        return await asyncio.wait_for(self.reader.read(1), 10) == b""


@asynccontextmanager
async def raw(url: str) -> AsyncIterator[RawClient]:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        yield RawClient(reader, writer)
    finally:
        writer.close()


def request(path: str, *headers: str, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nhost: gateway\r\n{''.join(h + chr(13) + chr(10) for h in headers)}\r\n".encode()


async def test_the_usual_request_takes_the_short_way_and_arrives_the_same(gateway, upstream, cycles):
    headers = await gateway.bearer("citizen")
    first = await gateway.client.get(f"{ECHO}/one?x=1", headers=headers)
    assert first.status_code == 200
    assert cycles == [f"{ECHO}/one"]  # the token was verified (and the upstream connected) the long way
    second = await gateway.client.get(f"{ECHO}/two?x=2", headers={**headers, "traceparent": "00-" + "a" * 32 + "-"
                                                                  + "b" * 16 + "-01"})
    assert cycles == [f"{ECHO}/one"]  # cached token, idle connection: the short way
    assert second.status_code == 200
    seen, before = dict(second.json()["headers"]), dict(first.json()["headers"])
    assert second.json()["raw_path"] == f"{ECHO}/two" and second.json()["query"] == "x=2"
    assert set(seen) == set(before) | {"traceparent"}
    assert seen["authorization"] == headers["Authorization"] and seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-request-id"] == second.headers["x-request-id"] != first.headers["x-request-id"]
    # The answer's own headers are those of the long way: the server's date and name, the length.
    assert set(second.headers) == set(first.headers)
    assert int(second.headers["content-length"]) == len(second.content)
    # An anonymous request takes it too; the service decides what an anonymous caller may see.
    r = await gateway.client.get(f"{ECHO}/anonymous")
    assert r.status_code == 200 and "authorization" not in dict(r.json()["headers"])
    assert cycles == [f"{ECHO}/one"]


async def test_what_is_not_usual_takes_the_long_way(gateway, upstream, cycles):
    headers = await gateway.bearer("citizen")
    await gateway.client.get(f"{ECHO}/warm", headers=headers)
    cycles.clear()
    assert (await gateway.client.post(f"{ECHO}/body", content=b"abc", headers=headers)).json()["body_length"] == 3
    other = await gateway.bearer("company")
    assert (await gateway.client.get(f"{ECHO}/new-token", headers=other)).status_code == 200
    r = await gateway.client.get(f"{ECHO}/bad", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert (await gateway.client.get("/api/v1/catalog/%2E%2E/x")).status_code == 400
    assert cycles == [f"{ECHO}/body", f"{ECHO}/new-token", f"{ECHO}/bad", "/api/v1/catalog/../x"]
    # The gateway's own routes are never proxied.
    assert (await gateway.client.get("/readyz")).status_code == 200


async def test_refusals_on_the_short_way_count_once(start_gateway, upstream, cycles):
    async with start_gateway(rate_limit_per_second=0.001, rate_limit_burst=2) as gw:
        assert (await gw.client.get(f"{ECHO}/1")).status_code == 200
        assert (await gw.client.get(f"{ECHO}/2")).status_code == 200
        r = await gw.client.get(f"{ECHO}/3")
        assert r.status_code == 429 and r.headers["retry-after"]
        assert r.headers["content-type"] == "application/problem+json"
        assert upstream.hits == 2


async def test_pipelined_requests_are_answered_in_order(gateway, upstream):
    async with raw(gateway.url) as client:
        client.send(request(f"{ECHO}/warm"))
        await client.answer()
        # A short-way request, one with a body (the long way) and two more short ones, in one write.
        client.send(request(f"{ECHO}/1"), request(f"{ECHO}/2", "content-length: 3", method="POST") + b"abc",
                    request(f"{ECHO}/3"), request("/api/v1/catalog/small-chunked"))
        answers = [await client.answer() for _ in range(4)]
        assert [a.status for a in answers] == [200] * 4
        assert [json.loads(a.body)["raw_path"] for a in answers[:3]] == [f"{ECHO}/{n}" for n in (1, 2, 3)]
        assert json.loads(answers[1].body)["body_length"] == 3
        assert answers[3].body == b"one,two"


async def test_connection_close(gateway, upstream):
    async with raw(gateway.url) as client:
        client.send(request(f"{ECHO}/warm"))
        await client.answer()
        client.send(request(f"{ECHO}/last", "connection: close"))
        last = await client.answer()
        assert last.status == 200 and b"/last" in last.body
        assert last.headers[b"connection"] == b"close"
        assert await client.closed_by_gateway()


async def test_idle_connections_are_closed_after_the_keep_alive_and_busy_ones_are_not(start_gateway, upstream):
    async with start_gateway(timeout_keep_alive=0.5) as gw, \
            raw(gw.url) as busy, raw(gw.url) as idle, raw(gw.url) as silent:
        idle.send(request(f"{ECHO}/once"))
        assert (await idle.answer()).status == 200
        for n in range(8):             # 1.2 s of requests (over twice the keep-alive), mostly the short way
            busy.send(request(f"{ECHO}/{n}"))
            assert (await busy.answer()).status == 200
            await asyncio.sleep(0.15)
        # One idle since its answer, one that never asked: both closed by the gateway by now.
        assert await idle.closed_by_gateway() and await silent.closed_by_gateway()
        busy.send(request(f"{ECHO}/still-open"))
        assert (await busy.answer()).status == 200


async def test_head(gateway, upstream, cycles):
    warm = await gateway.client.get(f"{ECHO}/warm")
    cycles.clear()
    head = await gateway.client.head(f"{ECHO}/warm")
    assert head.status_code == 200 and head.content == b""
    # The echo's length for HEAD (its body would name the method): announced, never sent.
    assert int(head.headers["content-length"]) == len(warm.content) + 1
    # No body followed the head: the next answer on the same connection reads cleanly.
    assert (await gateway.client.get(f"{ECHO}/next")).json()["raw_path"] == f"{ECHO}/next"
    # HEAD took the short way; its upstream connection is not kept (the parser would wait for
    # the announced body), so the next request connects anew, the long way.
    assert cycles == [f"{ECHO}/next"]


async def test_a_small_chunked_answer_arrives_whole(gateway, upstream):
    await gateway.client.get(f"{ECHO}/warm")
    for _ in range(3):
        r = await gateway.client.get("/api/v1/catalog/small-chunked")
        assert r.status_code == 200 and r.content == b"one,two"


async def test_a_client_that_leaves_abandons_the_request(gateway, upstream):
    await gateway.client.get(f"{ECHO}/warm")
    async with raw(gateway.url) as client:
        client.send(request("/api/v1/catalog/slow"))
        await asyncio.sleep(0.2)
    upstream.release.set()
    breaker = gateway.state.proxy.upstreams["catalog"].breaker
    for _ in range(3):
        assert (await gateway.client.get(f"{ECHO}/after")).status_code == 200
    assert breaker.state == "closed" and breaker.failures == 0 and not breaker.trial_running


async def test_a_slow_answer_on_the_short_way_gives_504(start_gateway, upstream, cycles):
    async with start_gateway(upstream_timeout=0.3) as gw:
        await gw.client.get(f"{ECHO}/warm")
        cycles.clear()
        r = await gw.client.get("/api/v1/catalog/slow")
        assert r.status_code == 504 and r.json()["code"] == "upstream_timeout"
        assert r.json()["request_id"] == r.headers["x-request-id"]
        assert cycles == ["/api/v1/catalog/slow"]  # the refusal is written the long way, once
        assert gw.state.proxy.upstreams["catalog"].breaker.failures == 1


async def test_a_trusted_proxy_in_front_names_the_client_on_both_ways(start_gateway, upstream, cycles):
    async with start_gateway(forwarded_allow_ips="127.0.0.1") as gw:
        for n in range(2):
            r = await gw.client.get(f"{ECHO}/{n}", headers={"X-Forwarded-For": "203.0.113.9"})
            assert dict(r.json()["headers"])["x-forwarded-for"] == "203.0.113.9"
        assert cycles == [f"{ECHO}/0"]


class OneAnswerPerConnection:
    """A service that answers the first request on each connection and drops the connection at
    the second without a word, as a service restarted behind a kept-alive connection would."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.server: asyncio.base_events.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = True
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                self.requests.append(head.split(b" ", 2)[0])
                if not first:
                    break
                first = False
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        try:
            yield f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        finally:
            self.server.close()


async def test_a_dropped_idle_connection_is_retried_only_when_that_is_safe(start_gateway, cycles):
    service = OneAnswerPerConnection()
    async with service.running() as url, start_gateway(catalog_url=url) as gw:
        assert (await gw.client.get("/api/v1/catalog/x")).status_code == 200
        # The idle connection is dropped at the next request: a GET is sent again on a new one.
        r = await gw.client.get("/api/v1/catalog/x")
        assert r.status_code == 200 and r.text == "ok"
        assert service.requests == [b"GET", b"GET", b"GET"]
        # A POST is not (it may have been acted on): 502.
        r = await gw.client.post("/api/v1/catalog/x")
        assert r.status_code == 502 and r.json()["code"] == "bad_gateway"
        assert service.requests[-1] == b"POST" and service.requests.count(b"POST") == 1
