"""The pass-through: one request to `/api/v1/<service>/...` forwarded to that service, streamed
both ways, with the token checked for that service, a rate limit per caller, a circuit breaker
per service, the body size limited and the gateway's own failures mapped to problem+json
(502 bad gateway, 503 unavailable or circuit open, 504 timeout, 429 rate limited).

The upstream's answer, problem+json included, goes back unchanged but for hop-by-hop headers.
Once its headers are sent, an upstream that breaks off makes the gateway abort the client's
connection: ending the response cleanly would pass a truncated body off as whole.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlsplit

from tongban.gateway.protection.limits import TokenBuckets
from tongban.gateway.proxy.breaker import CircuitBreaker
from tongban.gateway.proxy.headers import RequestHeaders, request_id, response_headers
from tongban.gateway.proxy.pool import (
    ConnectFailed, Connection, StaleConnection, UpstreamClosed, UpstreamError, UpstreamPool, UpstreamTimeout,
    request_head, send_body,
)
from tongban.gateway.token.errors import bearer_challenge
from tongban.gateway.token.keys import KeyRing
from tongban.shared.auth import InvalidToken
from tongban.shared.errors import problem_response
from tongban.shared.logging import request_id_var, trace_id_var
from tongban.shared.metrics import Metrics

log = logging.getLogger("tongban.gateway.proxy")
Scope = dict[str, Any]
# A request without a body that met a closed idle connection may be sent again (RFC 9110 §9.2.2).
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
BREAKER_STATUSES = frozenset({502, 503, 504})


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


class UpstreamBrokeOff(Exception):
    """The upstream failed after the response had started: the client's connection is aborted."""


class RequestBody:
    """The client's body as an async iterator: counted against the limit, never buffered."""

    def __init__(self, receive: Any, limit: int) -> None:
        self.receive = receive
        self.limit = limit
        self.done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        received = 0
        while not self.done:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.limit:
                raise BodyTooLarge()
            self.done = not message.get("more_body", False)
            if chunk:
                yield chunk


async def _until_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _has_dot_segment(path: str) -> bool:
    return "/." in path and any(seg in (".", "..") for seg in path.split("/"))


class Upstream:
    """One service behind the gateway: where it is, its connections and its breaker."""

    def __init__(self, name: str, url: str, connect_timeout: float, breaker: CircuitBreaker) -> None:
        parts = urlsplit(url.rstrip("/"))
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the {name} upstream must be an http:// URL, not {url!r}")
        self.name = name
        self.host = parts.netloc.encode("ascii")
        self.prefix = parts.path.encode("ascii")
        self.pool = UpstreamPool(parts.hostname, parts.port or 80, connect_timeout)
        self.breaker = breaker
        self.route = f"/api/v1/{name}/*"


class Proxy:
    """Forwards to the services by name; built in the lifespan with the keys and the settings."""

    def __init__(self, upstreams: dict[str, str], ring: KeyRing, max_body: int, timeout: float, *,
                 connect_timeout: float = 2.0, limiter: TokenBuckets | None = None, breaker_failures: int = 5,
                 breaker_cooldown: float = 10.0, metrics: Metrics | None = None) -> None:
        self.upstreams = {name: Upstream(name, url, connect_timeout, CircuitBreaker(breaker_failures, breaker_cooldown))
                          for name, url in upstreams.items()}
        self.ring = ring
        self.max_body = max_body
        self.timeout = timeout
        self.limiter = limiter
        self.metrics = metrics

    def close(self) -> None:
        for upstream in self.upstreams.values():
            upstream.pool.close()

    async def __call__(self, scope: Scope, receive: Any, send: Any, service: str) -> None:
        rid = request_id(scope["headers"])
        traceparent = next((v for k, v in scope["headers"] if k == b"traceparent"), b"").decode("latin-1")
        rtoken = request_id_var.set(rid)
        ttoken = trace_id_var.set(traceparent.split("-")[1] if traceparent.count("-") == 3 else None)
        started = time.perf_counter()
        status = [0]

        async def counted_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self._forward(scope, receive, counted_send, service, rid)
        finally:
            upstream = self.upstreams.get(service)
            if self.metrics is not None:
                # One series per service, never per raw path (that would be unbounded).
                route = upstream.route if upstream is not None else "/api/v1/unknown/*"
                self.metrics.observe(scope["method"], route, status[0] or 499, time.perf_counter() - started)
            request_id_var.reset(rtoken)
            trace_id_var.reset(ttoken)

    async def _problem(self, scope: Scope, receive: Any, send: Any, status: int, code: str, title: str,
                       detail: str, headers: dict[str, str] | None = None) -> None:
        response = problem_response(status, code, title, detail, scope["path"],
                                    headers={"x-request-id": request_id_var.get() or "", **(headers or {})})
        await response(scope, receive, send)

    async def _forward(self, scope: Scope, receive: Any, send: Any, service: str, rid: str) -> None:
        upstream = self.upstreams.get(service)
        if upstream is None:
            return await self._problem(scope, receive, send, 404, "unknown_service", "No such service",
                                       f"there is no service {service[:50]!r} under /api/v1/")
        if _has_dot_segment(scope["path"]):
            return await self._problem(scope, receive, send, 400, "invalid_path", "Invalid path",
                                       "a path may not contain '.' or '..' segments")
        headers = RequestHeaders(scope, rid)
        if headers.content_length is not None and not headers.content_length.isdigit():
            return await self._problem(scope, receive, send, 400, "invalid_content_length", "Invalid Content-Length",
                                       "Content-Length must be a number of bytes")
        if headers.content_length is not None and int(headers.content_length) > self.max_body:
            return await self._problem(scope, receive, send, 413, "payload_too_large", "Request body too large",
                                       f"the limit is {self.max_body} bytes")
        caller = None
        if headers.authorization is not None:
            try:
                scheme, _, token = headers.authorization.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    raise InvalidToken("use 'Authorization: Bearer <token>'")
                caller = (await self.ring.verify(token.strip(), service)).sub
            except InvalidToken as exc:
                return await self._problem(scope, receive, send, 401, exc.code, exc.title, exc.detail,
                                           {"WWW-Authenticate": bearer_challenge(exc.code)})
        if self.limiter is not None:
            client = scope.get("client")
            wait = self.limiter.take(caller or f"ip:{client[0] if client else 'unknown'}")
            if wait > 0:
                return await self._problem(scope, receive, send, 429, "too_many_requests", "Too many requests",
                                           "slow down: this caller's request rate is over the limit",
                                           {"Retry-After": str(max(1, round(wait + 0.5)))})
        breaker = upstream.breaker
        if (wait := breaker.allow()) > 0:
            return await self._problem(scope, receive, send, 503, "circuit_open", "Service unavailable",
                                       f"{service} is failing; the gateway is not sending it requests for now",
                                       {"Retry-After": str(max(1, round(wait + 0.5)))})
        outcome: bool | None = None
        try:
            outcome = await self._exchange(scope, receive, send, upstream, headers)
        finally:
            if outcome is True:
                breaker.succeeded()
            elif outcome is False:
                breaker.failed()
            else:
                breaker.abandoned()

    async def _exchange(self, scope: Scope, receive: Any, send: Any, upstream: Upstream,
                        headers: RequestHeaders) -> bool | None:
        """Send the request and relay the answer; True/False say whether the upstream looked
        healthy (for the breaker), None that it cannot be told (the client left, say)."""
        service = upstream.name
        raw_path = scope.get("raw_path") or quote(scope["path"]).encode("ascii")
        query = scope.get("query_string", b"")
        target = upstream.prefix + raw_path + (b"?" + query if query else b"")
        method = scope["method"]
        body = RequestBody(receive, self.max_body) if headers.has_body else None
        # The client's Content-Length is forwarded as it is; a body of unknown length goes chunked.
        if headers.content_length is not None:
            framing = b""
        elif body is not None:
            framing = b"transfer-encoding: chunked\r\n"
        else:
            framing = b"content-length: 0\r\n" if method in ("POST", "PUT", "PATCH") else b""
        head = request_head(method, target, upstream.host, headers.forward, framing)
        conn: Connection | None = None
        try:
            for attempt in (1, 2):
                conn = await upstream.pool.acquire(fresh=attempt == 2)
                try:
                    conn.start(head, method == "HEAD")
                    if body is not None:
                        await send_body(conn, aiter(body), chunked=headers.content_length is None)
                    await conn.headers(self.timeout)
                    break
                except StaleConnection:
                    conn.close()
                    if attempt == 2 or body is not None or method not in IDEMPOTENT:
                        raise
                    log.info("%s: an idle connection had been closed; retrying once", service)
        except BodyTooLarge:
            await self._problem(scope, receive, send, 413, "payload_too_large", "Request body too large",
                                f"the limit is {self.max_body} bytes")
            return None
        except ClientGone:
            return None
        except ConnectFailed as exc:
            log.warning("%s unavailable: %s", service, exc)
            await self._problem(scope, receive, send, 503, "upstream_unavailable", "Service unavailable",
                                f"{service} cannot be reached; try again later", {"Retry-After": "1"})
            return False
        except UpstreamTimeout as exc:
            log.warning("%s timed out: %s", service, exc)
            await self._problem(scope, receive, send, 504, "upstream_timeout", "Service timed out",
                                f"{service} did not answer in time")
            return False
        except UpstreamClosed as exc:
            log.warning("%s failed: %s", service, exc)
            await self._problem(scope, receive, send, 502, "bad_gateway", "Bad gateway",
                                f"{service} gave no valid answer")
            return False
        finally:
            if conn is not None and not conn.headers_done:
                conn.close()
        assert conn is not None
        try:
            await self._relay(conn, receive, send, request_id_var.get() or "", watch=body is None or body.done)
        finally:
            upstream.pool.release(conn)
        return conn.status not in BREAKER_STATUSES

    async def _relay(self, conn: Connection, receive: Any, send: Any, rid: str, watch: bool) -> None:
        await send({"type": "http.response.start", "status": conn.status,
                    "headers": response_headers(conn.response_headers, rid)})
        if conn.complete:              # the usual small answer: already here whole, no waiting
            await send({"type": "http.response.body", "body": conn.take_buffered(), "more_body": False})
            return
        # Once the request body is read, the next receive() reports the client going away: stop
        # reading the upstream then (the server drops writes to a gone client silently).
        gone = asyncio.ensure_future(_until_disconnect(receive)) if watch else None
        try:
            try:
                async for chunk in conn.body(self.timeout):
                    if gone is not None and gone.done():
                        conn.close()
                        return
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except UpstreamError as exc:
                conn.close()
                raise UpstreamBrokeOff(f"the upstream broke off mid-response: {exc}") from exc
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if gone is not None:
                gone.cancel()
