"""One shape for every service: `ServiceDefinition` says what a service is (its settings, tables,
routers, middleware, event subscriptions, background tasks); `build_app` and `run_worker` wire it
the same way everywhere, so no service wires itself by hand.

The lifespan opens the engine, the NATS connection and the token verifier, provisions the
service's own stream, and (unless `RUN_WORKER=false`) runs the outbox relay, the event consumers,
the periodic tasks and the definition's background tasks in the web process. A service that holds
more than that (the gateway's signing keys, svc-interop's key ring and partner clients) gives its
own `lifespan`, entered once the runtime has started and left before it closes; with
`lifespan_in_worker` the worker process enters it too (its `app` is then a bare holder of `state`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from starlette.middleware import Middleware
from nats.aio.client import Client as NATS
from opentelemetry.trace import SpanKind
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tongban.shared.apidocs import docs_router, install_openapi
from tongban.shared.audit import audit_router
from tongban.shared.auth import TokenVerifier
from tongban.shared.config import ServiceSettings, load_settings
from tongban.shared.db import make_engine, make_sessionmaker
from tongban.shared.errors import (AppError, PayloadTooLarge, install_error_handlers, problem_response,
                                   unexpected_response)
from tongban.shared.events import bus
from tongban.shared.events.inbox import Consumer, Subscription
from tongban.shared.events.outbox import Outbox, OutboxRelay
from tongban.shared.framing import FramingCheck
from tongban.shared.inputs import InputCheck
from tongban.shared.logging import AccessLog, configure_logging, request_id_var
from tongban.shared.messages import language_var, negotiate
from tongban.shared.metrics import Metrics, Probe, install_metrics_endpoint, route_template
from tongban.shared.periodic import PeriodicTask, run_periodic
from tongban.shared.revocation import DenyList, RevocationFollower
from tongban.shared.tables import PlatformTables
from tongban.shared.tracing import span

log = logging.getLogger("tongban.service")


@dataclass(frozen=True)
class BackgroundTask:
    """A long-running coroutine of the worker that needs what the service's lifespan opened:
    `start(state, runtime)` returns it; it ends when `runtime.stop` is set. Run wherever the
    relay and consumers run (the web process unless RUN_WORKER=false, and `run_worker`)."""

    name: str
    start: Callable[[Any, "Runtime"], Coroutine[Any, Any, None]]


@dataclass
class ServiceDefinition:
    name: str                                    # "catalog": schema, stream, audience, URL prefix
    title: str
    settings: type[ServiceSettings]              # reads <NAME>_* environment variables
    root: Path                                   # the distribution's folder (alembic.ini, migrations/)
    metadata: MetaData
    tables: PlatformTables
    routers: list[APIRouter] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    publishes: bool = True
    # The service's own startup and shutdown around the shared ones: called with the app and the
    # started runtime; what it puts on app.state is there before the first request.
    lifespan: Callable[[FastAPI, Runtime], AbstractAsyncContextManager[None]] | None = None
    # Run by the worker beside the relay and the consumers (see tongban.shared.periodic).
    periodic: list[PeriodicTask] = field(default_factory=list)
    # Gauges read from the database on each scrape of /metrics (see tongban.shared.metrics.Probe).
    probes: list[Probe] = field(default_factory=list)
    # uvicorn's `--http`: its own protocol, or a class of the service's (the gateway's proxy path).
    server_protocol: str = "httptools"
    # Refuse revoked access tokens (tongban.shared.revocation); the gateway keeps its own list.
    follows_revocations: bool = True
    # Seconds the service's stream keeps an event (None: for ever, the default for business events).
    stream_max_age: float | None = None
    # Routers mounted at the root, not under /api/v1/<name> (the gateway's /auth, /.well-known).
    root_routers: list[APIRouter] = field(default_factory=list)
    # The service's own ASGI middleware, outermost first, inside the platform's edge (request id,
    # body limit, access log, metrics) and outside FastAPI's error handlers.
    middleware: list[Middleware] = field(default_factory=list)
    # Exception handlers beyond the platform's problem+json ones (exception class -> handler).
    exception_handlers: dict[type[Exception], Callable[..., Any]] = field(default_factory=dict)
    # Worker tasks that need the lifespan's state (svc-interop's deliverer and partner pulls).
    background: list[BackgroundTask] = field(default_factory=list)
    # Enter `lifespan` in `run_worker` too (its background tasks or consumers need what it opens).
    lifespan_in_worker: bool = False
    # What the server runs: the FastAPI app, or this wrapped around it (the gateway's proxy path).
    outer: Callable[[FastAPI], Any] | None = None

    @property
    def prefix(self) -> str:
        return f"/api/v1/{self.name}"

    @property
    def env_prefix(self) -> str:
        return self.name.upper() + "_"



class Runtime:
    """What a running service holds: engine, sessions, NATS, and its background workers."""

    def __init__(self, definition: ServiceDefinition, settings: ServiceSettings) -> None:
        self.definition = definition
        self.settings = settings
        self.engine: AsyncEngine = make_engine(settings.database_url, settings.db_pool_size)
        self.sessionmaker: async_sessionmaker[AsyncSession] = make_sessionmaker(self.engine)
        self.nc: NATS | None = None
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.relay: OutboxRelay | None = None
        self.consumers: list[Consumer] = []

    def js(self):  # noqa: ANN201
        assert self.nc is not None
        return self.nc.jetstream()

    async def start(self, with_worker: bool) -> None:
        s = self.settings
        self.nc = await _connect_with_retry(s.nats_url, f"tongban-{self.definition.name}", s.nats_user,
                                            s.nats_password.get_secret_value() or None)
        if self.definition.publishes:
            await bus.ensure_stream(self.js(), self.definition.name, self.settings.stream_replicas,
                                    max_age=self.definition.stream_max_age)
        if not with_worker:
            return
        d = self.definition
        if d.publishes:
            dsn = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            self.relay = OutboxRelay(Outbox(d.tables.outbox), self.sessionmaker, self.js, dsn)
            self.tasks.append(asyncio.create_task(self.relay.run(self.stop), name="outbox-relay"))
        for sub in d.subscriptions:
            consumer = Consumer(sub, self.sessionmaker, d.tables, self.js)
            self.consumers.append(consumer)
            self.tasks.append(asyncio.create_task(consumer.run(self.stop), name=f"consumer-{sub.durable}"))
        for task in d.periodic:
            self.tasks.append(asyncio.create_task(run_periodic(task, self.sessionmaker, self.stop),
                                                  name=f"periodic-{task.name}"))

    async def close(self) -> None:
        self.stop.set()
        if self.tasks:
            _, pending = await asyncio.wait(self.tasks, timeout=5)
            for t in pending:
                t.cancel()
        if self.nc is not None and not self.nc.is_closed:
            # close(), not drain(): a lingering pull request makes drain wait for its timeout.
            if self.nc.is_connected:
                with contextlib.suppress(Exception):
                    await self.nc.flush(timeout=2)
            await self.nc.close()
        await self.engine.dispose()

    async def ready(self) -> dict[str, str]:
        checks = {"database": "ok", "nats": "ok"}
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - readiness reports any failure as not ready
            checks["database"] = f"failed: {type(exc).__name__}"
        if self.nc is None or not self.nc.is_connected:
            checks["nats"] = "not connected"
        return checks


async def _connect_with_retry(url: str, name: str, user: str | None = None, password: str | None = None,
                              attempts: int = 40) -> NATS:
    for i in range(attempts):
        try:
            return await bus.connect(url, name, user, password)
        except Exception as exc:  # noqa: BLE001 - nats raises plain Exception subclasses here
            if i == attempts - 1:
                raise
            log.warning("NATS at %s not reachable yet (%s); retrying", url, exc)
            await asyncio.sleep(0.5)
    raise RuntimeError("unreachable")


class EdgeMiddleware:
    """Raw ASGI: request id and trace context (a server span) into the logs, the request body
    size limit, and request metrics by route template and status."""

    def __init__(self, app: Any, max_body: int, metrics: Metrics, service: str) -> None:
        self.app = app
        self.max_body = max_body
        self.metrics = metrics
        self.service = service
        self.access = AccessLog()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:100] or os.urandom(16).hex()
        carrier = {"traceparent": headers[b"traceparent"].decode("latin-1")} if b"traceparent" in headers else None
        rtoken = request_id_var.set(rid)
        ltoken = language_var.set(negotiate(headers.get(b"accept-language", b"").decode("latin-1")))
        record = self.access.begin()
        started = time.perf_counter()
        status = 500
        started_response = False
        received = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body:
                raise PayloadTooLarge(f"the limit is {self.max_body} bytes")
            return message

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status, started_response = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            with span(f"{scope['method']} {scope['path']}", SpanKind.SERVER, carrier, self.service):
                length = headers.get(b"content-length")
                if length is not None and length.isdigit() and int(length) > self.max_body:
                    resp = problem_response(413, PayloadTooLarge.code, PayloadTooLarge.title,
                                            f"the limit is {self.max_body} bytes", scope.get("path"))
                    return await resp(scope, receive, send_with_id)
                try:
                    await self.app(scope, limited_receive, send_with_id)
                except Exception as exc:  # noqa: BLE001 - answered here, inside the request id and metrics
                    # Whatever escaped FastAPI's handlers (a database outage in a dependency, a
                    # bug) is answered here, so the answer carries the request id and is counted
                    # with the status sent, and the traceback goes through the JSON formatter.
                    if started_response:
                        log.exception("error after the response started on %s %s", scope["method"], scope["path"])
                        return
                    if isinstance(exc, AppError):  # raised by raw middleware (a body over the limit)
                        resp = problem_response(exc.status, exc.code, exc.title, exc.detail, scope.get("path"),
                                                **exc.extra)
                    else:
                        resp = unexpected_response(exc, scope["method"], scope.get("path", ""))
                    await resp(scope, receive, send_with_id)
        finally:
            route, seconds = route_template(scope), time.perf_counter() - started
            self.metrics.observe(scope["method"], route, status, seconds)
            self.access.end(record, scope["method"], route, status, seconds)
            language_var.reset(ltoken)
            request_id_var.reset(rtoken)



_SETTLED: list[bool] = []


def settle_heap() -> bool:
    """Once started, everything built so far (modules, routes, models, schemas, key rings) lives as
    long as the process, so the garbage collector stops scanning it (gc.freeze). Measured in
    bench/interop.py (its garbage-collector line): without it each older-generation collection
    walked the whole start-up heap on some request's way (svc-cases: 3.6 ms of collection per call,
    0.55 ms frozen). Cyclic garbage made by requests is still collected as before. Once per process
    (the first start-up): a process that starts apps again and again (the test suite) does not pin
    each one's objects for good. True if this call froze the heap."""
    if _SETTLED:
        return False
    _SETTLED.append(True)
    gc.collect()
    gc.freeze()
    return True


def start_background(definition: ServiceDefinition, state: Any, runtime: Runtime) -> None:
    """The definition's background tasks, beside the relay and the consumers (worker only)."""
    for task in definition.background:
        runtime.tasks.append(asyncio.create_task(task.start(state, runtime), name=f"background-{task.name}"))


def build_app(definition: ServiceDefinition, settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or load_settings(definition.settings, definition.name)
    configure_logging(definition.name, settings.log_level)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(definition, settings)
        app.state.runtime = runtime
        app.state.settings = settings
        app.state.sessionmaker = runtime.sessionmaker
        app.state.platform_tables = definition.tables
        app.state.metrics = metrics
        denylist = DenyList() if definition.follows_revocations else None
        app.state.token_verifier = TokenVerifier(definition.name, settings.token_issuer, settings.jwks_url,
                                                 settings.jwks_json, denylist=denylist)
        follower: RevocationFollower | None = None
        try:
            await runtime.start(with_worker=settings.run_worker)
            if denylist is not None:
                follower = app.state.revocations = RevocationFollower(denylist, runtime.js,
                                                                      settings.revocation_replay_seconds)
                await follower.start()
            async with (definition.lifespan(app, runtime) if definition.lifespan else contextlib.nullcontext()):
                if settings.run_worker:
                    start_background(definition, app.state, runtime)
                settle_heap()
                yield
        finally:
            if follower is not None:
                await follower.stop()
            await runtime.close()

    # Swagger UI and ReDoc from the pinned package's files (tongban.shared.apidocs), not a CDN.
    # FastAPI's own OpenTelemetry layer is off: the edge already makes the request's server span
    # (tracing.span, the parent of everything the request causes) and its metrics (Prometheus), and
    # FastAPI's duplicated both, with a span per dependency, endpoint and serialisation on top, on
    # the SDK provider the platform installs (about 3% of svc-queue's CPU samples under load, py-spy).
    # Its logs too: the platform installs no OpenTelemetry log provider (errors are logged by
    # errors.install_error_handlers), yet with them on every request asked OpenTelemetry for the
    # provider, which reads the environment each time (os.environ: 3.9% of svc-queue's samples
    # during call-next, py-spy).
    app = FastAPI(title=definition.title, lifespan=lifespan, version="1.0.0",
                  openapi_url=f"{definition.prefix}/openapi.json", docs_url=None, redoc_url=None,
                  telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False})
    install_openapi(app)
    app.include_router(docs_router(definition.prefix, definition.title))
    install_error_handlers(app)
    for exc_class, handler in definition.exception_handlers.items():
        app.add_exception_handler(exc_class, handler)
    for router in [*definition.routers, audit_router(definition.tables)]:
        app.include_router(router, prefix=definition.prefix)
    for router in definition.root_routers:
        app.include_router(router)

    @app.get("/healthz", tags=["health"], include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], include_in_schema=False)
    async def readyz() -> JSONResponse:
        checks = await app.state.runtime.ready()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)

    install_metrics_endpoint(app, metrics)
    app.user_middleware.extend(definition.middleware)
    app.add_middleware(InputCheck)  # what no field may carry (NUL, lone surrogates, huge integers, deep JSON)
    app.add_middleware(FramingCheck)  # inside the edge: a refusal is counted and carries the request id
    app.add_middleware(EdgeMiddleware, max_body=settings.max_body_bytes, metrics=metrics, service=definition.name)
    return app


def create_app(definition: ServiceDefinition, settings: ServiceSettings | None = None) -> Any:
    """What a service's `create_app` returns: the app, wrapped as the definition says."""
    app = build_app(definition, settings)
    return definition.outer(app) if definition.outer else app


def run_worker(definition: ServiceDefinition) -> None:
    """Entry point of `python -m tongban.<svc>.worker`: relay, consumers, periodic and background
    tasks without the web API (and the service's lifespan, if `lifespan_in_worker`)."""
    settings = load_settings(definition.settings, definition.name, run_worker=True)
    configure_logging(f"{definition.name}-worker", settings.log_level)
    asyncio.run(serve_worker(definition, settings))


async def serve_worker(definition: ServiceDefinition, settings: ServiceSettings,
                       stop: asyncio.Event | None = None) -> None:
    """The worker until SIGINT/SIGTERM (or `stop`, for tests)."""
    runtime = Runtime(definition, settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, runtime.stop.set)
    # Without the web app, a bare holder keeps what the lifespan puts on `app.state`.
    holder = SimpleNamespace(state=SimpleNamespace(runtime=runtime, settings=settings,
                                                   sessionmaker=runtime.sessionmaker,
                                                   platform_tables=definition.tables))
    entered = definition.lifespan if definition.lifespan and definition.lifespan_in_worker else None
    try:
        await runtime.start(with_worker=True)
        async with (entered(holder, runtime) if entered else contextlib.nullcontext()):  # type: ignore[arg-type]
            start_background(definition, holder.state, runtime)
            settle_heap()
            waits = [asyncio.create_task(runtime.stop.wait())]
            if stop is not None:
                waits.append(asyncio.create_task(stop.wait()))
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()
            # The tasks end before the lifespan closes what they use (its clients).
            runtime.stop.set()
            if runtime.tasks:
                await asyncio.wait(runtime.tasks, timeout=5)
    finally:
        await runtime.close()
