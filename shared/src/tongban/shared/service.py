"""One shape for every service: `ServiceDefinition` says what a service is (its settings, tables,
routers, event subscriptions); `build_app` and `run_worker` wire it the same way everywhere.

The lifespan opens the engine, the NATS connection and the token verifier, provisions the
service's own stream, and (unless `RUN_WORKER=false`) runs the outbox relay and the event
consumers as background tasks of the web process. A service that holds more than that (the
gateway's signing keys and upstream client) gives its own `lifespan`, entered once the runtime
has started and left before it closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from nats.aio.client import Client as NATS
from opentelemetry.trace import SpanKind
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tongban.shared.audit import audit_router
from tongban.shared.auth import TokenVerifier
from tongban.shared.config import ServiceSettings
from tongban.shared.db import make_engine, make_sessionmaker
from tongban.shared.errors import PayloadTooLarge, install_error_handlers, problem_response
from tongban.shared.events import bus
from tongban.shared.events.inbox import Consumer, Subscription
from tongban.shared.events.outbox import Outbox, OutboxRelay
from tongban.shared.framing import FramingCheck
from tongban.shared.logging import configure_logging, request_id_var
from tongban.shared.metrics import Metrics, install_metrics_endpoint, route_template
from tongban.shared.periodic import PeriodicTask, run_periodic
from tongban.shared.revocation import DenyList, RevocationFollower
from tongban.shared.tables import PlatformTables
from tongban.shared.tracing import span

log = logging.getLogger("tongban.service")


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
    # uvicorn's `--http`: its own protocol, or a class of the service's (the gateway's proxy path).
    server_protocol: str = "httptools"
    # Refuse revoked access tokens (tongban.shared.revocation); the gateway keeps its own list.
    follows_revocations: bool = True
    # Seconds the service's stream keeps an event (None: for ever, the default for business events).
    stream_max_age: float | None = None

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
        self.nc = await _connect_with_retry(self.settings.nats_url, f"tongban-{self.definition.name}")
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


async def _connect_with_retry(url: str, name: str, attempts: int = 40) -> NATS:
    for i in range(attempts):
        try:
            return await bus.connect(url, name)
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

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:100] or uuid.uuid4().hex
        carrier = {"traceparent": headers[b"traceparent"].decode("latin-1")} if b"traceparent" in headers else None
        rtoken = request_id_var.set(rid)
        started = time.perf_counter()
        status = 500
        received = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body:
                raise PayloadTooLarge(f"the limit is {self.max_body} bytes")
            return message

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            with span(f"{scope['method']} {scope['path']}", SpanKind.SERVER, carrier, self.service):
                length = headers.get(b"content-length")
                if length is not None and length.isdigit() and int(length) > self.max_body:
                    resp = problem_response(413, PayloadTooLarge.code, PayloadTooLarge.title,
                                            f"the limit is {self.max_body} bytes", scope.get("path"))
                    return await resp(scope, receive, send_with_id)
                await self.app(scope, limited_receive, send_with_id)
        finally:
            self.metrics.observe(scope["method"], route_template(scope), status, time.perf_counter() - started)
            request_id_var.reset(rtoken)


def build_app(definition: ServiceDefinition, settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or definition.settings()
    configure_logging(definition.name, settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(definition, settings)
        app.state.runtime = runtime
        app.state.settings = settings
        app.state.sessionmaker = runtime.sessionmaker
        app.state.platform_tables = definition.tables
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
                yield
        finally:
            if follower is not None:
                await follower.stop()
            await runtime.close()

    app = FastAPI(title=definition.title, lifespan=lifespan, version="1.0.0",
                  openapi_url=f"{definition.prefix}/openapi.json", docs_url=f"{definition.prefix}/docs")
    install_error_handlers(app)
    for router in [*definition.routers, audit_router(definition.tables)]:
        app.include_router(router, prefix=definition.prefix)

    @app.get("/healthz", tags=["health"], include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], include_in_schema=False)
    async def readyz() -> JSONResponse:
        checks = await app.state.runtime.ready()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)

    metrics = Metrics()
    install_metrics_endpoint(app, metrics)
    app.add_middleware(FramingCheck)  # inside the edge: a refusal is counted and carries the request id
    app.add_middleware(EdgeMiddleware, max_body=settings.max_body_bytes, metrics=metrics, service=definition.name)
    return app


def run_worker(definition: ServiceDefinition) -> None:
    """Entry point of `python -m tongban.<svc>.worker`: relay and consumers without the web API."""
    settings = definition.settings()
    configure_logging(f"{definition.name}-worker", settings.log_level)

    async def main() -> None:
        runtime = Runtime(definition, settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, runtime.stop.set)
        await runtime.start(with_worker=True)
        await runtime.stop.wait()
        await runtime.close()

    asyncio.run(main())
