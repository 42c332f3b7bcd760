import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tongban.queue.appointment import service as appointments
from tongban.queue.appointment.router import router as appointment_router
from tongban.queue.config import Settings
from tongban.queue.consumers.cases import SUBSCRIPTIONS as CASES_SUBSCRIPTIONS
from tongban.queue.consumers.catalog import SUBSCRIPTIONS as CATALOG_SUBSCRIPTIONS
from tongban.queue.counter.router import router as counter_router
from tongban.queue.dashboard.router import router as dashboard_router
from tongban.queue.db import Base, audit, platform
from tongban.queue.hall.router import router as hall_router
from tongban.queue.live import service as live
from tongban.queue.live.hub import LiveHub
from tongban.queue.live.router import router as live_router
from tongban.queue.ticket.router import router as ticket_router
from tongban.queue.ticket.service import CounterShapes
from tongban.shared.auth import InsufficientScope, OutsideScope
from tongban.shared.periodic import PeriodicTask
from tongban.shared.policy import NotPermitted, audit_refusals
from tongban.shared.service import Runtime, ServiceDefinition, build_app

SWEEP_SECONDS = 60.0


async def _sweep(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Expire holds, record missed appointments, send reminders (replicas may overlap: rows are
    claimed with SKIP LOCKED); then, in a transaction of its own (so a failure there never
    undoes the sweep), publish the halls' changed statistics for dashboards."""
    settings = Settings.model_construct(**_sweep_settings())
    async with sessionmaker() as session, session.begin():
        await appointments.sweep(session, settings)
    async with sessionmaker() as session, session.begin():
        await live.publish_stats(session, settings)


def _sweep_settings() -> dict:
    """The worker gets no Settings object here; the sweep reads only these, from the environment
    like Settings would (QUEUE_ prefix), defaults otherwise."""
    names = ("timezone", "reminder_hours")
    return {n: type(Settings.model_fields[n].default)(os.environ.get(f"QUEUE_{n.upper()}",
                                                                     Settings.model_fields[n].default))
            for n in names}


@asynccontextmanager
async def lifespan(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
    """The live hub (LISTEN → SSE clients) runs in every web process, worker or not."""
    dsn = runtime.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    hub = LiveHub(dsn)
    app.state.live_hub = hub
    app.state.prefix = SERVICE.prefix
    app.state.counter_shapes = CounterShapes()  # call-next's statement shapes, this app's own
    task = asyncio.create_task(hub.run(runtime.stop), name="live-hub")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(hub.listening.wait(), timeout=10)
    try:
        yield
    finally:
        runtime.stop.set()
        await asyncio.gather(task, return_exceptions=True)


SERVICE = ServiceDefinition(
    name="queue", title="Tongban svc-queue", settings=Settings, root=Path(__file__).resolve().parents[3],
    metadata=Base.metadata, tables=platform,
    routers=[hall_router, counter_router, ticket_router, appointment_router, live_router,
             dashboard_router],
    subscriptions=[*CATALOG_SUBSCRIPTIONS, *CASES_SUBSCRIPTIONS], lifespan=lifespan,
    periodic=[PeriodicTask("appointment-sweep", SWEEP_SECONDS, _sweep)],
)


def create_app(settings: Settings | None = None) -> FastAPI:
    app = build_app(SERVICE, settings)
    inner = getattr(app, "app", app)
    audit_refusals(inner, audit)
    # Every refusal of staff is kept, a role's too (the shared handler covers the three questions).
    handler = inner.exception_handlers[OutsideScope]
    for kind in (NotPermitted, InsufficientScope):
        inner.add_exception_handler(kind, handler)
    return app
