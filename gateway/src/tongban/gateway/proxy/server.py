"""The gateway's HTTP protocol: uvicorn's httptools protocol with a short way through for the
usual proxied request.

Through ASGI a proxied request costs a task, a request/response cycle with its event, the
receive and send coroutines, uvicorn's checks of every header on send and two writes per
answer: more than the proxy's own work. Here the usual request (no body, a known service, a
bearer token already verified for it or none, an idle connection to the service at hand) is
sent on by callbacks the moment its headers are parsed, and the answer, when it comes back
whole and small, goes to the client in one write.

Everything else takes the ASGI path with the same code (`Proxy`): a body to stream, a token to
verify, a refusal, a failure, a large or streamed answer. A request already checked here hands
over only what is left of it (a `Step`), so no check runs twice: the rate limit and the
breaker count each request once.

Timers: uvicorn arms a keep-alive timer after every answer and cancels it at the next request,
and the short way would add an upstream timeout per request. Instead each connection has one
watchdog timer that stays armed while the connection is open and looks, when it fires, at the
deadlines of the moment (the exchange's answer, the keep-alive); per request only the deadline
is written down. It fires at the latest when the earliest deadline falls due (see `_watch`).

Serve the gateway with `--http tongban.gateway.proxy.server:GatewayProtocol`. Without it every
request takes the ASGI path, and only the cost changes.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
import urllib.parse
from typing import Any

import httptools
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from tongban.gateway.proxy.asgi import API_PREFIX, OWN_NAME, GatewayASGI
from tongban.gateway.proxy.forward import (
    IDEMPOTENT, Proxy, Refusal, Scope, Step, Upstream, upstream_failing,
)
from tongban.gateway.proxy.headers import RequestHeaders, response_headers
from tongban.gateway.proxy.pool import Connection, StaleConnection, UpstreamTimeout
from tongban.shared import framing

log = logging.getLogger("tongban.gateway.proxy")
# An answer announced up to this size is waited for whole and sent in one write; a larger or
# unannounced (chunked) one is streamed through the ASGI path as it arrives.
WHOLE_BELOW = 64 * 1024
_API_PREFIX = API_PREFIX.encode("ascii")


class _NoEvent:
    """uvicorn sets its cycle's `message_event` when the request is complete or the client has
    gone; the exchange learns of both otherwise (it sends at once; `connection_lost`)."""

    def set(self) -> None:
        pass


_NO_EVENT = _NoEvent()


async def _scope_only(scope: Scope, receive: Any, send: Any) -> None:
    return None


class _ForwardedHeaders:
    """What uvicorn's ProxyHeadersMiddleware does to the scope (client and scheme from the
    X-Forwarded-* headers of a trusted peer), applied here because the short way does not pass
    through the middleware. The middleware itself does it, run to its end at once: with an app
    that awaits nothing, its coroutine finishes on the first step."""

    def __init__(self, trusted_hosts: Any) -> None:
        self.middleware = ProxyHeadersMiddleware(_scope_only, trusted_hosts=trusted_hosts)

    def apply(self, scope: Scope) -> None:
        step = self.middleware(scope, None, None)  # type: ignore[arg-type]
        try:
            step.send(None)
        except StopIteration:
            return
        step.close()
        raise RuntimeError("ProxyHeadersMiddleware awaited something; the gateway's protocol cannot apply it")


def _find_gateway(app: Any) -> tuple[GatewayASGI | None, bool]:
    """The GatewayASGI under uvicorn's wrappers, and whether ProxyHeadersMiddleware is among them.
    Any other wrapper (uvicorn's message logger at trace level, say) turns the short way off."""
    forwarded = False
    while not isinstance(app, GatewayASGI):
        if isinstance(app, ProxyHeadersMiddleware):
            forwarded = True
        else:
            return None, False
        app = app.app
    return app, forwarded


def _front(gateway: GatewayASGI) -> tuple[Any, _ForwardedHeaders | None]:
    """What the protocol serves on both ways, built once per process: the gateway, behind the
    X-Forwarded-* rule of `GATEWAY_TRUSTED_PROXIES` alone. uvicorn's own `--forwarded-allow-ips`
    defaults to trusting loopback, where a client sending a new X-Forwarded-For each time would
    be a new address each time to every per-address limit; under this protocol it is not used."""
    state = gateway.app.state
    front = getattr(state, "protocol_front", None)
    if front is None:
        settings = getattr(state, "settings", None)
        trusted = getattr(settings, "trusted_proxies", "").strip()
        if trusted:
            front = (ProxyHeadersMiddleware(gateway, trusted_hosts=trusted), _ForwardedHeaders(trusted))
        else:
            front = (gateway, None)
        state.protocol_front = front
    return front


class GatewayProtocol(HttpToolsProtocol):
    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.gateway, _ = _find_gateway(self.app)
        self.forwarded: _ForwardedHeaders | None = None
        if self.gateway is not None:
            self.app, self.forwarded = _front(self.gateway)
        self.proxy: Proxy | None = None  # the gateway's, once its lifespan has built it
        self.exchange: FastExchange | None = None
        # The watchdog: idle since (loop time; None while a request is read or served) and its timer.
        self.idle_since: float | None = None
        self.watchdog: asyncio.TimerHandle | None = None

    def send_400_response(self, msg: str) -> None:
        """What llhttp refuses (a repeated Content-Length, one beside Transfer-Encoding, a coding
        other than chunked...) is answered in the platform's problem+json, then the connection closes."""
        body = json.dumps({"type": framing.TYPE, "title": framing.TITLE, "status": 400, "code": framing.CODE,
                           "detail": "the request is not valid HTTP/1.1: " + msg.rstrip(".")}).encode()
        out = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            out += [name, b": ", value, b"\r\n"]
        out += [b"content-type: application/problem+json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
                % len(body), body]
        self.transport.write(b"".join(out))
        self.transport.close()

    def _find_proxy(self) -> Proxy | None:
        # The lifespan has built it before the server accepts a connection.
        if self.proxy is None and self.gateway is not None:
            self.proxy = getattr(self.gateway.app.state, "proxy", None)
        return self.proxy

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._find_proxy()
        self.idle_since = self.loop.time()  # a connection that never asks is closed like an idle one
        self.watchdog = self.loop.call_at(self.idle_since + self._watch_interval(), self._watch)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.exchange is not None:
            self.exchange.client_gone()
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        super().connection_lost(exc)

    # The keep-alive, through the watchdog rather than a timer per answer.
    def _unset_keepalive_if_required(self) -> None:
        self.idle_since = None         # uvicorn calls this when a request begins to arrive

    def on_response_complete(self) -> None:
        # uvicorn's, but for the keep-alive timer: the connection is idle from now on.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self.idle_since = self.loop.time()

    def _watch_interval(self) -> float:
        proxy = self.proxy
        return min(self.timeout_keep_alive, proxy.timeout) if proxy is not None else self.timeout_keep_alive

    def _watch(self) -> None:
        """Act on a deadline that has passed, then look again at the earliest pending one, and at
        the latest after one interval. Any deadline set later lies at least one interval ahead
        of when it is set (the keep-alive and the upstream timeout are both that long at least),
        so none is ever looked at late."""
        now = self.loop.time()
        pending: float | None = None
        exchange = self.exchange
        if exchange is not None:
            if now >= exchange.deadline:
                exchange.on_timeout()
            else:
                pending = exchange.deadline
        elif self.idle_since is not None:
            pending = self.idle_since + self.timeout_keep_alive
            if now >= pending:
                self.watchdog = None
                self.timeout_keep_alive_handler()
                return
        if self.transport.is_closing():
            self.watchdog = None
            return
        at = now + self._watch_interval()
        self.watchdog = self.loop.call_at(pending if pending is not None and pending < at else at, self._watch)

    def on_headers_complete(self) -> None:
        proxy = self.proxy or self._find_proxy()
        if (proxy is None or self.root_path or self.limit_concurrency is not None or self.exchange is not None
                or (self.cycle is not None and not self.cycle.response_complete) or self.parser.should_upgrade()):
            return super().on_headers_complete()
        url = httptools.parse_url(self.url)
        raw_path = url.path
        if not raw_path.startswith(_API_PREFIX):
            return super().on_headers_complete()
        # The scope as uvicorn fills it.
        scope = self.scope
        http_version = self.parser.get_http_version()
        scope["method"] = method = self.parser.get_method().decode("ascii")
        if http_version != "1.1":
            scope["http_version"] = http_version
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        scope["path"] = path
        scope["raw_path"] = raw_path
        scope["query_string"] = url.query or b""
        service = path[len(API_PREFIX):].partition("/")[0]
        if service == OWN_NAME:
            return super().on_headers_complete()
        started = time.perf_counter()
        headers = RequestHeaders(scope)
        if headers.forwarded and self.forwarded is not None:
            self.forwarded.apply(scope)  # a trusted proxy in front may name the client
            headers = RequestHeaders(scope)
        keep_alive = http_version != "1.0" and self.parser.should_keep_alive()
        checked = proxy.precheck(scope, headers, service)
        caller = None
        if isinstance(checked, Upstream) and headers.authorization is not None:
            caller = checked.callers.get(headers.authorization)
        if isinstance(checked, Refusal) or headers.has_body or (headers.authorization is not None and caller is None):
            # The whole way through the proxy: it refuses, streams the body or verifies the token.
            self.cycle = self.start_cycle(scope, keep_alive, proxy, service, headers, None, started, False)
            return
        upstream = checked
        if (refusal := proxy.admit(scope, upstream, caller)) is not None:
            self.cycle = self.start_cycle(scope, keep_alive, proxy, service, headers, proxy.refusing(refusal),
                                          started, False)
            return
        conn = upstream.pool.idle()
        if conn is None:               # connecting takes an await: the ASGI path does it
            step = functools.partial(proxy.exchange, upstream=upstream)
            self.cycle = self.start_cycle(scope, keep_alive, proxy, service, headers, step, started, False)
            return
        self.cycle = self.exchange = FastExchange(self, proxy, upstream, scope, headers, keep_alive, started)
        self.exchange.begin(conn, method)

    def start_cycle(self, scope: Scope, keep_alive: bool, proxy: Proxy, service: str, headers: RequestHeaders,
                    step: Step | None, started: float, request_done: bool) -> RequestResponseCycle:
        """Serve the request through the proxy as an ASGI cycle, as uvicorn does (`step`: what is
        left of it once checked here; None: all of it). `request_done`: the request was read
        whole already (a bodiless request handed over after its last callback)."""
        cycle = RequestResponseCycle(
            scope=scope,  # type: ignore[arg-type]
            transport=self.transport, flow=self.flow, logger=self.logger, access_logger=self.access_logger,
            access_log=self.access_log, default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(), expect_100_continue=self.expect_100_continue and not request_done,
            keep_alive=keep_alive, on_response=self.on_response_complete)
        if request_done:
            cycle.more_body = False
            cycle.message_event.set()
        app = functools.partial(proxy, service=service, headers=headers, step=step, started=started)
        self._start_asgi_task(cycle, app)  # type: ignore[arg-type]
        return cycle


class FastExchange:
    """One proxied request driven by callbacks. It stands in for uvicorn's cycle on the client
    connection until it answers or hands over: uvicorn reads `response_complete` and
    `keep_alive`, sets `more_body`, `disconnected` and `message_event`."""

    message_event = _NO_EVENT
    __slots__ = ("protocol", "proxy", "upstream", "scope", "headers", "keep_alive", "started", "response_complete",
                 "disconnected", "more_body", "conn", "deadline")

    def __init__(self, protocol: GatewayProtocol, proxy: Proxy, upstream: Upstream, scope: Scope,
                 headers: RequestHeaders, keep_alive: bool, started: float) -> None:
        self.protocol = protocol
        self.proxy = proxy
        self.upstream = upstream
        self.scope = scope
        self.headers = headers
        self.keep_alive = keep_alive
        self.started = started
        self.response_complete = False
        self.disconnected = False
        self.more_body = True
        self.conn: Connection | None = None
        self.deadline = 0.0            # loop time by which the answer must be here (the watchdog looks)

    def begin(self, conn: Connection, method: str) -> None:
        self.conn = conn
        conn.listener = self.on_upstream
        head = self.proxy.request_head(self.scope, self.headers, self.upstream, has_body=False)
        conn.start(head, method == "HEAD")
        self.deadline = self.protocol.loop.time() + self.proxy.timeout

    def _release_listener(self) -> Connection:
        conn = self.conn
        assert conn is not None
        conn.listener = None
        return conn

    def on_upstream(self) -> None:
        conn = self.conn
        if self.response_complete or conn is None:
            return
        if not conn.headers_done:
            if conn.error is None:
                return                 # more to come
            self._release_listener().close()
            error = conn.error
            if isinstance(error, StaleConnection) and self.scope["method"] in IDEMPOTENT:
                # Nothing reached the service: try again the ASGI way (an idle connection or a new one).
                log.info("%s: an idle connection had been closed; retrying once", self.upstream.name)
                self.hand_over(functools.partial(self.proxy.exchange, upstream=self.upstream))
                return
            self.upstream.breaker.failed()
            self.hand_over(self.proxy.failing(self.upstream.name, error))
            return
        if conn.complete:
            self._release_listener()
            self.answer(conn)
        elif conn.error is not None or conn.content_length is None or conn.content_length > WHOLE_BELOW:
            # A large or streamed answer (or one broken off): relayed as it comes, the ASGI way.
            self._release_listener()
            self.hand_over(functools.partial(self.proxy.exchange, upstream=self.upstream, conn=conn))

    def on_timeout(self) -> None:
        if self.response_complete or self.conn is None:
            return
        self._release_listener().close()
        self.upstream.breaker.failed()
        self.hand_over(self.proxy.failing(self.upstream.name, UpstreamTimeout("the upstream did not answer in time")))

    def client_gone(self) -> None:
        """The client closed its connection before the answer: the request is abandoned."""
        if self.response_complete:
            return
        self.disconnected = True
        if self.conn is not None:
            self._release_listener().close()
        self.upstream.breaker.abandoned()
        self._done(0)

    def answer(self, conn: Connection) -> None:
        """The whole answer is here: status line, headers and body in one write."""
        protocol = self.protocol
        status = conn.status
        body = conn.take_buffered()
        head_only = self.scope["method"] == "HEAD"
        out = [STATUS_LINE.get(status) or b"HTTP/1.1 %d \r\n" % status]
        for name, value in protocol.server_state.default_headers:
            out += [name, b": ", value, b"\r\n"]
        for name, value in response_headers(conn.response_headers, self.headers.request_id.encode("latin-1")):
            out += [name, b": ", value, b"\r\n"]
        if conn.content_length is None and not head_only and status not in (204, 304):
            out.append(b"content-length: %d\r\n" % len(body))   # it came chunked or close-delimited
        if not self.keep_alive:
            out.append(b"connection: close\r\n")
        out.append(b"\r\n")
        if not head_only:
            out.append(body)
        transport = protocol.transport
        if not transport.is_closing():
            transport.write(b"".join(out))
        failing = upstream_failing(status, conn.response_headers)
        self.upstream.pool.release(conn)
        if failing:
            self.upstream.breaker.failed()
        else:
            self.upstream.breaker.succeeded()
        if protocol.access_log:
            scope = self.scope
            protocol.access_logger.info('%s - "%s %s HTTP/%s" %d', get_client_addr(scope), scope["method"],  # type: ignore[arg-type]
                                        get_path_with_query_string(scope), scope["http_version"], status)  # type: ignore[arg-type]
        self._done(status)
        if not self.keep_alive:
            transport.close()
        protocol.on_response_complete()

    def hand_over(self, step: Step) -> None:
        """Let the ASGI path finish the request with `step`; it is read whole by now."""
        protocol = self.protocol
        self.response_complete = True
        protocol.exchange = None
        cycle = protocol.start_cycle(self.scope, self.keep_alive, self.proxy, self.upstream.name, self.headers,
                                     step, self.started, request_done=True)
        if protocol.cycle is self:     # else a pipelined request is queued behind this one and keeps its place
            protocol.cycle = cycle

    def _done(self, status: int) -> None:
        self.response_complete = True
        self.protocol.exchange = None
        self.proxy.observe(self.scope, self.upstream.name, status, self.started, self.headers.request_id)
