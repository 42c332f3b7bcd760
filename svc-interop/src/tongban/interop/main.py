import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from starlette.middleware import Middleware

from tongban.interop.config import Settings
from tongban.interop.consumers.cases import SUBSCRIPTIONS as CASES_SUBSCRIPTIONS
from tongban.interop.consumers.catalog import SUBSCRIPTIONS as CATALOG_SUBSCRIPTIONS
from tongban.interop.db import Base, platform
from tongban.interop.delivery.router import router as delivery_router
from tongban.interop.delivery.tokens import PartnerTokens
from tongban.interop.delivery.worker import Deliverer
from tongban.interop.discovery.router import router as discovery_router
from tongban.interop.exchange.client import PartnerClient
from tongban.interop.exchange.wire import Wire
from tongban.interop.exchange.middleware import SignedExchange
from tongban.interop.forwarding import service as forwarding
from tongban.interop.forwarding.router import router as forwarding_router
from tongban.interop.identity import service as identity
from tongban.interop.identity.router import router as identity_router
from tongban.interop.ledger.router import router as ledger_router
from tongban.interop.partner.router import router as partner_router
from tongban.interop.partner_item import service as partner_sync
from tongban.interop.partner_item.router import router as partner_item_router
from tongban.interop.partner_licence.router import router as partner_licence_router
from tongban.interop.referral import service as referrals
from tongban.interop.referral.router import router as referral_router
from tongban.interop.trust.router import router as trust_router
from tongban.shared.periodic import PeriodicTask, run_periodic
from tongban.shared.service import Runtime, ServiceDefinition, build_app
from tongban.shared.service_auth import service_client, token_source

# What to do when a partner accepts a message of each type (the partner's answer in hand).
ON_DELIVERED = {"case.forward": forwarding.on_forward_delivered, "company.migrate": forwarding.on_forward_delivered,
                "hotline.refer": referrals.on_referral_delivered}
# What to do when a partner refuses a message for good (or we gave up on it).
ON_FAILED = {"case.forward": forwarding.on_forward_failed, "company.migrate": forwarding.on_forward_failed,
             "hotline.refer": referrals.on_referral_failed}


@asynccontextmanager
async def lifespan(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
    settings: Settings = runtime.settings  # type: ignore[assignment]
    if hasattr(app, "user_middleware") and not any(m.cls is SignedExchange for m in app.user_middleware):
        raise RuntimeError("build svc-interop with tongban.interop.main:create_app (responses must be signed)")
    passphrase = settings.key_passphrase.get_secret_value().encode()
    app.state.keyring = await identity.load_ring(runtime.sessionmaker, settings.region_code, settings.city_name,
                                                 passphrase)
    # Our own services, called as svc-interop (tests put a StaticToken on app.state.service_token).
    source = getattr(app.state, "service_token", None) or token_source(settings)
    timeout = settings.service_call_timeout_seconds
    app.state.cases = service_client(settings.cases_url, source, timeout) if settings.cases_url else None
    app.state.credentials = (service_client(settings.credentials_url, source, timeout)
                             if settings.credentials_url else None)
    try:
        async with httpx.AsyncClient(timeout=settings.delivery_timeout_seconds) as http:
            tokens = PartnerTokens(http, settings.partner_secrets)
            wire = Wire(runtime.sessionmaker, lambda: app.state.keyring, http, tokens,
                        timeout=settings.delivery_timeout_seconds, skew=settings.clock_skew_seconds)
            app.state.partner_client = PartnerClient(wire)
            if settings.run_worker:
                dsn = runtime.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
                deliverer = Deliverer(runtime.sessionmaker, wire, ON_DELIVERED, dsn, poll=settings.delivery_poll_seconds,
                                      timeout=settings.delivery_timeout_seconds,
                                      max_attempts=settings.delivery_max_attempts, on_failed=ON_FAILED)
                app.state.deliverer = deliverer
                runtime.tasks.append(asyncio.create_task(deliverer.run(runtime.stop), name="interop-delivery"))
                # A shared periodic task, started here rather than in ServiceDefinition.periodic
                # because it needs this lifespan's clients (partners, svc-credentials).
                pull = PeriodicTask("partner-sync", settings.partner_sync_seconds,
                                    lambda sm: partner_sync.pull_all(sm, app.state.partner_client,
                                                                     app.state.credentials))
                runtime.tasks.append(asyncio.create_task(run_periodic(pull, runtime.sessionmaker, runtime.stop),
                                                         name="periodic-partner-sync"))
            yield
    finally:
        for client in (app.state.cases, app.state.credentials):
            if client is not None:
                await client.aclose()


SERVICE = ServiceDefinition(
    name="interop", title="Tongban svc-interop", settings=Settings, root=Path(__file__).resolve().parents[3],
    metadata=Base.metadata, tables=platform,
    routers=[identity_router, partner_router, partner_item_router, discovery_router, forwarding_router, trust_router,
             referral_router, partner_licence_router, delivery_router, ledger_router],
    subscriptions=[*CATALOG_SUBSCRIPTIONS, *CASES_SUBSCRIPTIONS], lifespan=lifespan,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    app = build_app(SERVICE, settings)
    # Innermost of the platform's middleware: inside the edge (request id, body limit), outside
    # FastAPI's error handlers, so refusals are signed and logged like any other answer.
    app.user_middleware.append(Middleware(SignedExchange, prefix=f"{SERVICE.prefix}/exchange/"))
    return app
