import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from starlette.middleware import Middleware

from tongban.interop.config import Settings
from tongban.interop.consumers.catalog import SUBSCRIPTIONS as CATALOG_SUBSCRIPTIONS
from tongban.interop.db import Base, platform
from tongban.interop.delivery.router import router as delivery_router
from tongban.interop.delivery.tokens import PartnerTokens
from tongban.interop.delivery.worker import Deliverer
from tongban.interop.discovery.router import router as discovery_router
from tongban.interop.exchange.middleware import SignedExchange
from tongban.interop.forwarding import service as forwarding
from tongban.interop.forwarding.router import router as forwarding_router
from tongban.interop.identity import service as identity
from tongban.interop.identity.router import router as identity_router
from tongban.interop.ledger.router import router as ledger_router
from tongban.interop.partner.router import router as partner_router
from tongban.shared.service import Runtime, ServiceDefinition, build_app

# What to do when a partner accepts a message of each type (the partner's answer in hand).
ON_DELIVERED = {"case.forward": forwarding.on_forward_delivered}


@asynccontextmanager
async def lifespan(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
    settings: Settings = runtime.settings  # type: ignore[assignment]
    if hasattr(app, "user_middleware") and not any(m.cls is SignedExchange for m in app.user_middleware):
        raise RuntimeError("build svc-interop with tongban.interop.main:create_app (responses must be signed)")
    passphrase = settings.key_passphrase.get_secret_value().encode()
    app.state.keyring = await identity.load_ring(runtime.sessionmaker, settings.region_code, settings.city_name,
                                                 passphrase)
    async with httpx.AsyncClient(timeout=settings.delivery_timeout_seconds) as http:
        if settings.run_worker:
            dsn = runtime.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            deliverer = Deliverer(runtime.sessionmaker, lambda: app.state.keyring, http,
                                  PartnerTokens(http, settings.partner_secrets), ON_DELIVERED, dsn,
                                  poll=settings.delivery_poll_seconds, timeout=settings.delivery_timeout_seconds,
                                  max_attempts=settings.delivery_max_attempts, skew=settings.clock_skew_seconds)
            app.state.deliverer = deliverer
            runtime.tasks.append(asyncio.create_task(deliverer.run(runtime.stop), name="interop-delivery"))
        yield


SERVICE = ServiceDefinition(
    name="interop", title="Tongban svc-interop", settings=Settings, root=Path(__file__).resolve().parents[3],
    metadata=Base.metadata, tables=platform,
    routers=[identity_router, partner_router, discovery_router, forwarding_router, delivery_router, ledger_router],
    subscriptions=[*CATALOG_SUBSCRIPTIONS], lifespan=lifespan,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    app = build_app(SERVICE, settings)
    # Innermost of the platform's middleware: inside the edge (request id, body limit), outside
    # FastAPI's error handlers, so refusals are signed and logged like any other answer.
    app.user_middleware.append(Middleware(SignedExchange, prefix=f"{SERVICE.prefix}/exchange/"))
    return app
