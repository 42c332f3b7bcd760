"""The pass-through to `/api/v1/<service>/...`, against a real upstream over real HTTP."""

import asyncio
import hashlib
import os

import httpx
import pytest

from tongban.gateway.proxy.server import GatewayProtocol


@pytest.fixture(params=["gateway-protocol", "asgi-only"])
def gateway_protocol(request):
    """Every test here runs on the gateway's protocol (as deployed) and on uvicorn's own, where
    every request takes the ASGI path: the two ways must behave the same."""
    return GatewayProtocol if request.param == "gateway-protocol" else "httptools"


@pytest.fixture
async def gateway(start_gateway, upstream):
    """A gateway with a kept-alive connection to the service already (so the requests of these
    tests can take the short way), the service's count of requests back at zero."""
    async with start_gateway() as gw:
        assert (await gw.client.get("/api/v1/catalog/echo/warm")).status_code == 200
        upstream.hits = 0
        yield gw


def problem(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == code and body["status"] == status
    return body


async def test_path_and_query_reach_the_service_unchanged_with_a_request_id(gateway, upstream):
    r = await gateway.client.get("/api/v1/catalog/echo/a%20b/%E4%B8%AD?x=1&y=%E4%B8%AD&x=2&empty=")
    assert r.status_code == 200, r.text
    seen = r.json()
    assert seen["method"] == "GET" and seen["raw_path"] == "/api/v1/catalog/echo/a%20b/%E4%B8%AD"
    assert seen["query"] == "x=1&y=%E4%B8%AD&x=2&empty="
    headers = dict(seen["headers"])
    assert len(headers["x-request-id"]) == 32 and r.headers["x-request-id"] == headers["x-request-id"]
    assert "authorization" not in headers  # anonymous in, anonymous out: the service decides
    assert headers["host"] == upstream.url.removeprefix("http://")
    assert headers["x-forwarded-for"] == "127.0.0.1" and headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == gateway.url.removeprefix("http://")


async def test_identity_and_hop_by_hop_headers_from_the_client_never_reach_the_service(gateway, upstream):
    token = await gateway.token("citizen")
    sent = {
        "Authorization": f"Bearer {token}", "X-Request-ID": "req-from-client-1",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": "tb=1",
        "X-Principal-Id": "admin", "X-Principal-Role": "admin", "X-User-Id": "1", "X-User-Scopes": "all",
        "X-Forwarded-User": "admin", "Proxy-Authorization": "Basic eA==", "Keep-Alive": "timeout=5",
        "Connection": "keep-alive, X-Hop-Secret", "X-Hop-Secret": "hop", "TE": "trailers",
        "X-Forwarded-For": "203.0.113.7", "Accept": "application/json", "X-Custom": "kept",
    }
    r = await gateway.client.get("/api/v1/catalog/echo/x", headers=sent)
    assert r.status_code == 200, r.text
    seen = dict(r.json()["headers"])
    assert seen["authorization"] == f"Bearer {token}"
    assert seen["x-request-id"] == "req-from-client-1" and r.headers["x-request-id"] == "req-from-client-1"
    assert seen["traceparent"] == sent["traceparent"] and seen["tracestate"] == "tb=1"
    assert seen["x-custom"] == "kept" and seen["accept"] == "application/json"
    assert seen["x-forwarded-for"] == "127.0.0.1"
    for name in ("x-principal-id", "x-principal-role", "x-user-id", "x-user-scopes", "x-forwarded-user",
                 "proxy-authorization", "keep-alive", "x-hop-secret", "te", "expect"):
        assert name not in seen, name
    assert seen.get("connection", "keep-alive") == "keep-alive"  # the gateway's own hop, if any


async def test_an_expect_header_is_not_forwarded(gateway, upstream):
    r = await gateway.client.post("/api/v1/catalog/echo/x", content=b"hello",
                                  headers={"Expect": "100-continue", "content-type": "text/plain"})
    assert r.status_code == 200
    seen = dict(r.json()["headers"])
    assert "expect" not in seen and r.json()["body_length"] == 5


async def test_upstream_problems_pass_through_unchanged(gateway, upstream):
    r = await gateway.client.get("/api/v1/catalog/problem", headers={"X-Request-ID": "mine"})
    assert r.status_code == 404
    assert r.content == upstream.problem_body
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["x-upstream"] == "catalog" and r.headers["cache-control"] == "no-cache"
    assert r.headers["content-length"] == str(len(upstream.problem_body))
    assert r.headers.get_list("date") and len(r.headers.get_list("server")) == 1


async def test_bodies_arrive_whole(gateway, upstream):
    data = os.urandom(3 * 1024 * 1024 + 17)
    r = await gateway.client.put("/api/v1/catalog/echo/blob", content=data,
                                 headers={"content-type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    assert r.json()["method"] == "PUT" and r.json()["body_length"] == len(data)
    assert r.json()["body_sha256"] == hashlib.sha256(data).hexdigest()


async def test_the_request_body_is_streamed_not_buffered(gateway, upstream):
    async def body():
        yield b"a" * 1000
        # The rest is sent only once the service has the first part: a buffering gateway would hang here.
        await asyncio.wait_for(upstream.first_chunk_in.wait(), 10)
        yield b"b" * 1000

    r = await gateway.client.post("/api/v1/catalog/stream-in", content=body())
    assert r.status_code == 200 and r.json() == {"received": 2000}


async def test_the_response_body_is_streamed_not_buffered(gateway, upstream):
    async with gateway.client.stream("GET", "/api/v1/catalog/stream-out") as r:
        assert r.status_code == 200
        chunks = r.aiter_raw()
        first = await asyncio.wait_for(anext(chunks), 10)  # the service waits for us before the rest
        upstream.first_chunk_out_seen.set()
        rest = b"".join([c async for c in chunks])
    assert first + rest == b"first\nsecond\n"


async def test_when_the_client_leaves_the_gateway_stops_reading_the_service(gateway, upstream):
    async with gateway.client.stream("GET", "/api/v1/catalog/endless") as r:
        assert r.status_code == 200
        await anext(r.aiter_raw())
    # httpx closes the connection of an unfinished streamed response; the upstream must see it too.
    await asyncio.wait_for(upstream.endless_stopped.wait(), 10)


async def test_a_declared_oversized_body_is_refused_before_anything_is_forwarded(start_gateway, upstream):
    async with start_gateway(max_body_bytes=64 * 1024) as gw:
        r = await gw.client.post("/api/v1/catalog/echo/x", content=b"x" * (64 * 1024 + 1))
        problem(r, 413, "payload_too_large")
        assert upstream.hits == 0
        ok = await gw.client.post("/api/v1/catalog/echo/x", content=b"x" * (64 * 1024))
        assert ok.status_code == 200 and ok.json()["body_length"] == 64 * 1024


async def test_a_streamed_oversized_body_is_cut_off(start_gateway, upstream):
    async def body():
        for _ in range(20):
            yield b"y" * 8192

    async with start_gateway(max_body_bytes=64 * 1024) as gw:
        r = await gw.client.post("/api/v1/catalog/echo/x", content=body())
        problem(r, 413, "payload_too_large")
        # The gateway's own endpoints keep the same limit.
        r = await gw.client.post("/auth/token", content=b"a" * (64 * 1024 + 1),
                                 headers={"content-type": "application/x-www-form-urlencoded"})
        problem(r, 413, "payload_too_large")


async def test_unknown_services_and_dot_segments_are_refused(gateway, upstream):
    problem(await gateway.client.get("/api/v1/payments/x"), 404, "unknown_service")
    problem(await gateway.client.get("/api/v1//x"), 404, "unknown_service")
    problem(await gateway.client.get("/api/v1/catalog/%2E%2E/cases/x"), 400, "invalid_path")
    assert upstream.hits == 0
    # The gateway's own API is not proxied.
    assert (await gateway.client.get("/api/v1/gateway/openapi.json")).status_code == 200
    problem(await gateway.client.get("/api/v1/gateway/nothing"), 404, "not_found")


async def test_a_service_that_is_down_gives_503_at_once(gateway):
    # cases_url points at a closed port; the 10 s upstream timeout must not be waited for.
    async with asyncio.timeout(5):
        r = await gateway.client.get("/api/v1/cases/items")
    body = problem(r, 503, "upstream_unavailable")
    assert body["request_id"] == r.headers["x-request-id"]


async def test_a_slow_service_gives_504(start_gateway, upstream):
    async with start_gateway(upstream_timeout=0.3) as gw:
        r = await gw.client.get("/api/v1/catalog/slow")
        problem(r, 504, "upstream_timeout")


async def test_a_service_that_breaks_off_mid_body_aborts_the_response(gateway, upstream):
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        async with gateway.client.stream("GET", "/api/v1/catalog/broken") as r:
            assert r.status_code == 200
            await r.aread()
    # The gateway itself is fine afterwards.
    assert (await gateway.client.get("/api/v1/catalog/echo/after")).status_code == 200


async def test_each_proxied_request_writes_one_access_log_line(gateway, upstream):
    """Either way through the gateway: method, the service's route (never the raw path), status,
    duration and the request id the service saw."""
    import logging

    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    access = logging.getLogger("tongban.access")
    handler, level = Keep(), access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        r = await gateway.client.get("/api/v1/catalog/echo/4420001990010112X3")
        assert r.status_code == 200
        await asyncio.sleep(0.05)
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    lines = [rec.fields for rec in seen if getattr(rec, "fields", {}).get("route", "").startswith("/api/v1/catalog")]
    assert len(lines) == 1, seen
    line = lines[0]
    assert (line["method"], line["status"], line["request_id"]) == ("GET", 200, r.headers["x-request-id"])
    assert "4420001990010112X3" not in line["route"] and line["duration_ms"] >= 0
