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
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

from tongban.gateway.protection.limits import TokenBuckets
from tongban.gateway.proxy.breaker import CircuitBreaker
from tongban.gateway.proxy.callers import Caller, VerifiedTokens
from tongban.gateway.proxy.headers import RequestHeaders, response_headers
from tongban.gateway.proxy.pool import (
    ConnectFailed, Connection, StaleConnection, UpstreamError, UpstreamPool, UpstreamTimeout,
    request_head, send_body,
)
from tongban.gateway.token.errors import bearer_challenge
from tongban.gateway.token.keys import KeyRing
from tongban.gateway.token.scopes import PEOPLE_INTEROP_ROUTES
from tongban.shared import framing
from tongban.shared.auth import REVOKED_DETAIL, InsufficientScope, InvalidToken, TokenRevoked
from tongban.shared.errors import problem_response
from tongban.shared.messages import language_of
from tongban.shared.logging import AccessLog, request_id_var, trace_id_var
from tongban.shared.metrics import Metrics
from tongban.shared.revocation import DenyList

log = logging.getLogger("tongban.gateway.proxy")
ACCESS = AccessLog()
Scope = dict[str, Any]
# A request without a body that met a closed idle connection may be sent again (RFC 9110 §9.2.2).
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
BREAKER_STATUSES = frozenset({502, 503, 504})
PEOPLE_ROLES = frozenset({"citizen", "company"})
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


def upstream_failing(status: int, headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether an answer counts against the service's breaker: a 502/503/504 that did not come
    from the service's own error handler. Its problem+json (`database_unavailable` during a
    database blip, say) is the service answering as it should: opening the breaker for it would
    turn a one-second blip into a cool-down of refusals."""
    if status not in BREAKER_STATUSES:
        return False
    for name, value in headers:
        if name == b"content-type":
            return not value.startswith(b"application/problem+json")
    return True


class Refusal(NamedTuple):
    """A request the gateway answers itself, as problem+json."""

    status: int
    code: str
    title: str
    detail: str
    headers: dict[str, str] | None = None


# What is left of a request once the gateway's own protocol has checked it (see `Proxy.__call__`).
Step = Callable[[dict[str, Any], Any, Any, RequestHeaders], Awaitable[int]]


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


def _trace_id(traceparent: bytes) -> str | None:
    parts = traceparent.split(b"-")
    return parts[1].decode("latin-1") if len(parts) == 4 else None


def _has_dot_segment(path: str) -> bool:
    return "/." in path and any(seg in (".", "..") for seg in path.split("/"))


class Upstream:
    """One service behind the gateway: where it is, its connections, its breaker and the tokens
    already verified for it."""

    def __init__(self, name: str, url: str, connect_timeout: float, breaker: CircuitBreaker, ring: KeyRing) -> None:
        parts = urlsplit(url.rstrip("/"))
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the {name} upstream must be an http:// URL, not {url!r}")
        self.name = name
        self.host = parts.netloc.encode("ascii")
        self.prefix = parts.path.encode("ascii")
        self.pool = UpstreamPool(parts.hostname, parts.port or 80, connect_timeout)
        self.breaker = breaker
        self.callers = VerifiedTokens(ring, name)
        self.route = f"/api/v1/{name}/*"
        # svc-interop is for staff and partner systems; people reach only these routes of it.
        self.people_routes = tuple(f"/api/v1/{name}{r}" for r in PEOPLE_INTEROP_ROUTES) if name == "interop" else None

    def refuses_people_at(self, path: str) -> bool:
        routes = self.people_routes
        if routes is None:
            return False
        return not any(path == r or path.startswith(r + "/") for r in routes)


class RequestMetrics:
    """Proxied requests in the edge's Prometheus metrics, one series per method, service and
    status. The labelled children are looked up once and kept: `labels()` costs more than the
    increment itself. Methods outside the standard ones count as OTHER (a client must not be
    able to mint series)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        series = self._series.get((method, route, status))
        if series is None:
            label = method if method in KNOWN_METHODS else "OTHER"
            series = (self.metrics.requests.labels(label, route, str(status)),
                      self.metrics.latency.labels(label, route))
            if len(self._series) < 10_000:
                self._series[(method, route, status)] = series
        series[0].inc()
        series[1].observe(seconds)


class Proxy:
    """Forwards to the services by name; built in the lifespan with the keys and the settings."""

    def __init__(self, upstreams: dict[str, str], ring: KeyRing, max_body: int, timeout: float, *,
                 connect_timeout: float = 2.0, limiter: TokenBuckets | None = None, breaker_failures: int = 5,
                 breaker_cooldown: float = 10.0, metrics: Metrics | None = None,
                 denylist: DenyList | None = None) -> None:
        self.upstreams = {name: Upstream(name, url, connect_timeout, CircuitBreaker(breaker_failures, breaker_cooldown),
                                         ring)
                          for name, url in upstreams.items()}
        self.ring = ring
        self.max_body = max_body
        self.timeout = timeout
        self.limiter = limiter
        self.metrics = RequestMetrics(metrics) if metrics is not None else None
        self.denylist = denylist if denylist is not None else DenyList()

    def close(self) -> None:
        for upstream in self.upstreams.values():
            upstream.pool.close()

    async def __call__(self, scope: Scope, receive: Any, send: Any, service: str,
                       headers: RequestHeaders | None = None, step: Step | None = None,
                       started: float | None = None) -> None:
        """Serve one request to `service`. The gateway's own protocol (`proxy.server`) passes the
        headers it read, when it started and, when it has made the checks already, the `step`
        that is left (an exchange, a relay or a refusal)."""
        if headers is None:
            headers = RequestHeaders(scope)
        rtoken = request_id_var.set(headers.request_id)
        traceparent = headers.traceparent
        ttoken = trace_id_var.set(_trace_id(traceparent)) if traceparent is not None else None
        if started is None:
            started = time.perf_counter()
        status = 0
        try:
            if step is None:
                status = await self._forward(scope, receive, send, service, headers)
            else:
                status = await step(scope, receive, send, headers)
        except UpstreamBrokeOff:
            status = 502
            raise
        finally:
            self.observe(scope, service, status, started, headers.request_id)
            request_id_var.reset(rtoken)
            if ttoken is not None:
                trace_id_var.reset(ttoken)

    def observe(self, scope: Scope, service: str, status: int, started: float, request_id: str | None) -> None:
        """Metrics and the access-log line of one proxied request (either way through the gateway)."""
        # One series per service, never per raw path (that would be unbounded).
        upstream = self.upstreams.get(service)
        route = upstream.route if upstream is not None else "/api/v1/unknown/*"
        seconds = time.perf_counter() - started
        if self.metrics is not None:
            self.metrics.observe(scope["method"], route, status or 499, seconds)
        ACCESS.proxied(scope["method"], route, status or 499, seconds, scope.get("tongban.subject"), request_id)

    async def refuse(self, scope: Scope, receive: Any, send: Any, refusal: Refusal) -> int:
        # In the caller's language (both paths come here, neither through the edge middleware).
        response = problem_response(refusal.status, refusal.code, refusal.title, refusal.detail, scope["path"],
                                    headers={"x-request-id": request_id_var.get() or "", **(refusal.headers or {})},
                                    language=language_of(scope.get("headers")))
        await response(scope, receive, send)
        return refusal.status

    async def _problem(self, scope: Scope, receive: Any, send: Any, status: int, code: str, title: str,
                       detail: str, headers: dict[str, str] | None = None) -> int:
        return await self.refuse(scope, receive, send, Refusal(status, code, title, detail, headers))

    def refusing(self, refusal: Refusal) -> Step:
        async def step(scope: Scope, receive: Any, send: Any, headers: RequestHeaders) -> int:
            return await self.refuse(scope, receive, send, refusal)
        return step

    def failing(self, service: str, exc: UpstreamError) -> Step:
        async def step(scope: Scope, receive: Any, send: Any, headers: RequestHeaders) -> int:
            return await self.refuse(scope, receive, send, self.failure(service, exc))
        return step

    def precheck(self, scope: Scope, headers: RequestHeaders, service: str) -> Upstream | Refusal:
        """The checks that need neither the caller nor any state: the service, the path, the length."""
        upstream = self.upstreams.get(service)
        if upstream is None:
            return Refusal(404, "unknown_service", "No such service",
                           f"there is no service {service[:50]!r} under /api/v1/")
        if headers.invalid is not None:
            # Framing two parsers could read differently: refused, and the connection closed after.
            return Refusal(400, framing.CODE, framing.TITLE, headers.invalid, {"Connection": "close"})
        if _has_dot_segment(scope["path"]):
            return Refusal(400, "invalid_path", "Invalid path", "a path may not contain '.' or '..' segments")
        length = headers.content_length
        if length is not None and int(length) > self.max_body:
            return Refusal(413, "payload_too_large", "Request body too large", f"the limit is {self.max_body} bytes")
        return upstream

    def admit(self, scope: Scope, upstream: Upstream, caller: Caller | None) -> Refusal | None:
        """The checks on a verified caller (None: anonymous): revocation, people on interop, the
        rate limit and the breaker. None admits the request; the breaker then waits for its outcome."""
        key: str | None = None
        if caller is not None:
            if self.denylist.refuses(caller):
                return Refusal(401, TokenRevoked.code, TokenRevoked.title, REVOKED_DETAIL,
                               {"WWW-Authenticate": bearer_challenge(TokenRevoked.code)})
            if caller.role in PEOPLE_ROLES and upstream.refuses_people_at(scope["path"]):
                return Refusal(403, InsufficientScope.code, InsufficientScope.title,
                               f"people reach only {', '.join(PEOPLE_INTEROP_ROUTES)} of {upstream.name}")
            key = caller.sub
            scope["tongban.subject"] = caller.sub     # for the access log line (masked there)
        if self.limiter is not None:
            if key is None:
                client = scope.get("client")
                key = f"ip:{client[0] if client else 'unknown'}"
            if (wait := self.limiter.take(key)) > 0:
                return Refusal(429, "too_many_requests", "Too many requests",
                               "slow down: this caller's request rate is over the limit",
                               {"Retry-After": str(max(1, round(wait + 0.5)))})
        if (wait := upstream.breaker.allow()) > 0:
            return Refusal(503, "circuit_open", "Service unavailable",
                           f"{upstream.name} is failing; the gateway is not sending it requests for now",
                           {"Retry-After": str(max(1, round(wait + 0.5)))})
        return None

    async def _forward(self, scope: Scope, receive: Any, send: Any, service: str, headers: RequestHeaders) -> int:
        """Check the request, then exchange it with the service; returns the status sent (0: none)."""
        checked = self.precheck(scope, headers, service)
        if isinstance(checked, Refusal):
            return await self.refuse(scope, receive, send, checked)
        upstream = checked
        caller: Caller | None = None
        if (authorization := headers.authorization) is not None:
            caller = upstream.callers.get(authorization)
            if caller is None:
                try:
                    caller = await upstream.callers.verify(authorization)
                except InvalidToken as exc:
                    return await self._problem(scope, receive, send, 401, exc.code, exc.title, exc.detail,
                                               {"WWW-Authenticate": bearer_challenge(exc.code)})
        if (refusal := self.admit(scope, upstream, caller)) is not None:
            return await self.refuse(scope, receive, send, refusal)
        return await self.exchange(scope, receive, send, headers, upstream)

    async def exchange(self, scope: Scope, receive: Any, send: Any, headers: RequestHeaders, upstream: Upstream,
                       conn: Connection | None = None) -> int:
        """An admitted request: exchange it with the upstream (or, given `conn` whose response
        headers are in, relay that response) and tell the breaker how it went."""
        breaker = upstream.breaker
        outcome: bool | None = None
        try:
            if conn is None:
                outcome, status = await self._exchange(scope, receive, send, upstream, headers)
            else:
                outcome, status = await self._respond(conn, receive, send, upstream, headers, watch=True)
        finally:
            if outcome is True:
                breaker.succeeded()
            elif outcome is False:
                breaker.failed()
            else:
                breaker.abandoned()
        return status

    async def _exchange(self, scope: Scope, receive: Any, send: Any, upstream: Upstream,
                        headers: RequestHeaders) -> tuple[bool | None, int]:
        """Send the request and relay the answer. Returns whether the upstream looked healthy
        (True/False, for the breaker; None: it cannot be told, the client left, say) and the
        status sent to the client (0: none)."""
        service = upstream.name
        method = scope["method"]
        body = RequestBody(receive, self.max_body) if headers.has_body else None
        head = self.request_head(scope, headers, upstream, body is not None)
        conn: Connection | None = None
        try:
            for attempt in (1, 2):
                conn = upstream.pool.idle() if attempt == 1 else None
                if conn is None:
                    conn = await upstream.pool.acquire(fresh=True)
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
            return None, await self._problem(scope, receive, send, 413, "payload_too_large",
                                             "Request body too large", f"the limit is {self.max_body} bytes")
        except ClientGone:
            return None, 0
        except UpstreamError as exc:
            return False, await self.refuse(scope, receive, send, self.failure(service, exc))
        finally:
            if conn is not None and not conn.headers_done:
                conn.close()
        assert conn is not None
        return await self._respond(conn, receive, send, upstream, headers, watch=body is None or body.done)

    def request_head(self, scope: Scope, headers: RequestHeaders, upstream: Upstream, has_body: bool) -> bytes:
        """The request line and headers as the upstream gets them."""
        raw_path = scope.get("raw_path") or quote(scope["path"]).encode("ascii")
        query = scope.get("query_string", b"")
        target = upstream.prefix + raw_path + (b"?" + query if query else b"")
        method = scope["method"]
        # The gateway's own framing, never the client's header: the length it checked, else chunked.
        if headers.content_length is not None:
            frame = b"content-length: %d\r\n" % int(headers.content_length)
        elif has_body:
            frame = b"transfer-encoding: chunked\r\n"
        else:
            frame = b"content-length: 0\r\n" if method in ("POST", "PUT", "PATCH") else b""
        return request_head(method, target, upstream.host, headers.forward, frame)

    @staticmethod
    def failure(service: str, exc: UpstreamError) -> Refusal:
        """What the client is told when the hop failed before any answer came back."""
        if isinstance(exc, ConnectFailed):
            log.warning("%s unavailable: %s", service, exc)
            return Refusal(503, "upstream_unavailable", "Service unavailable",
                           f"{service} cannot be reached; try again later", {"Retry-After": "1"})
        if isinstance(exc, UpstreamTimeout):
            log.warning("%s timed out: %s", service, exc)
            return Refusal(504, "upstream_timeout", "Service timed out", f"{service} did not answer in time")
        log.warning("%s failed: %s", service, exc)
        return Refusal(502, "bad_gateway", "Bad gateway", f"{service} gave no valid answer")

    async def _respond(self, conn: Connection, receive: Any, send: Any, upstream: Upstream,
                       headers: RequestHeaders, watch: bool) -> tuple[bool | None, int]:
        status = conn.status           # read now: a connection back in the pool forgets its response
        try:
            await self._relay(conn, receive, send, headers.request_id, watch=watch)
        finally:
            upstream.pool.release(conn)
        return not upstream_failing(status, conn.response_headers), status

    async def _relay(self, conn: Connection, receive: Any, send: Any, rid: str, watch: bool) -> None:
        await send({"type": "http.response.start", "status": conn.status,
                    "headers": response_headers(conn.response_headers, rid.encode("latin-1"))})
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
