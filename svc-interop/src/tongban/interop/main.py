import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

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
from tongban.interop.exchange.service import PartnerDirectory
from tongban.interop.exchange.wire import Wire
from tongban.interop.exchange.middleware import SignedExchange
from tongban.interop.forwarding import service as forwarding
from tongban.interop.forwarding.router import router as forwarding_router
from tongban.interop.identity import service as identity
from tongban.interop.identity.router import router as identity_router
from tongban.interop.ledger import service as ledger
from tongban.interop.ledger.router import router as ledger_router
from tongban.interop.partner.router import router as partner_router
from tongban.interop.partner_item import service as partner_sync
from tongban.interop.partner_item.router import router as partner_item_router
from tongban.interop.partner_licence.router import router as partner_licence_router
from tongban.interop.referral import service as referrals
from tongban.interop.referral.router import router as referral_router
from tongban.interop.trust.router import router as trust_router
from tongban.shared.db import make_sessionmaker
from tongban.shared.periodic import PeriodicTask, run_periodic
from tongban.shared.service import BackgroundTask, Runtime, ServiceDefinition, build_app
from tongban.shared.service_auth import service_client, token_source

# What to do when a partner accepts a message of each type (the partner's answer in hand).
ON_DELIVERED = {"case.forward": forwarding.on_forward_delivered, "company.migrate": forwarding.on_forward_delivered,
                "hotline.refer": referrals.on_referral_delivered}
# What to do when a partner refuses a message for good (or we gave up on it).
ON_FAILED = {"case.forward": forwarding.on_forward_failed, "company.migrate": forwarding.on_forward_failed,
             "hotline.refer": referrals.on_referral_failed}



@asynccontextmanager
async def lifespan(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
    """Our key ring, the clients of our own services and the partner wire (what the exchange
    endpoints, the deliverer and the partner pulls use); entered by the worker process too."""
    settings: Settings = runtime.settings  # type: ignore[assignment]
    assert settings.key_passphrase is not None  # the settings refuse to start without one
    passphrase = settings.key_passphrase.get_secret_value().encode()
    # The exchange edge's log appends, batched while the log's lock is held (ledger.LedgerWriter).
    app.state.ledger = ledger.LedgerWriter(runtime.sessionmaker)
    # Reads that need no transaction (the exchange edge's look-up of the sender and its keys: one
    # statement): no BEGIN and ROLLBACK round trips around it. The same pool.
    # Partners and their parsed keys as last read (exchange.service.PartnerDirectory).
    app.state.partners = PartnerDirectory()
    app.state.reads = make_sessionmaker(runtime.engine.execution_options(isolation_level="AUTOCOMMIT"))
    app.state.keyring = await identity.load_ring(runtime.sessionmaker, settings.region_code, settings.city_name,
                                                 passphrase)
    # Our own services, called as svc-interop (tests put a StaticToken on app.state.service_token).
    source = getattr(app.state, "service_token", None) or token_source(settings)
    timeout = settings.service_call_timeout_seconds
    app.state.cases = service_client(settings.cases_url, source, timeout) if settings.cases_url else None
    app.state.cases_slots = asyncio.Semaphore(settings.cases_concurrency)
    app.state.credentials = (service_client(settings.credentials_url, source, timeout)
                             if settings.credentials_url else None)
    try:
        # English problem words from partner cities (their default is Chinese): they go into logs
        # and into details this city passes on, which the edge puts into Chinese by code.
        async with httpx.AsyncClient(timeout=settings.delivery_timeout_seconds, follow_redirects=False,
                                     headers={"Accept-Language": "en"}) as http:
            tokens = PartnerTokens(http, settings.partner_secrets)
            app.state.wire = Wire(app.state.reads, lambda: app.state.keyring, http, tokens,
                                  timeout=settings.delivery_timeout_seconds, skew=settings.clock_skew_seconds,
                                  directory=app.state.partners)
            app.state.partner_client = PartnerClient(app.state.wire)
            yield
    finally:
        for client in (app.state.cases, app.state.credentials):
            if client is not None:
                await client.aclose()


async def _deliver(state: Any, runtime: Runtime) -> None:
    """Queued messages to partners (LISTEN/NOTIFY + poll)."""
    settings: Settings = runtime.settings  # type: ignore[assignment]
    dsn = runtime.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    deliverer = state.deliverer = Deliverer(
        runtime.sessionmaker, state.wire, ON_DELIVERED, dsn, poll=settings.delivery_poll_seconds,
        timeout=settings.delivery_timeout_seconds, max_attempts=settings.delivery_max_attempts, on_failed=ON_FAILED)
    await deliverer.run(runtime.stop)


async def _pull_partners(state: Any, runtime: Runtime) -> None:
    """Each partner's issuer keys and items, every INTEROP_PARTNER_SYNC_SECONDS."""
    settings: Settings = runtime.settings  # type: ignore[assignment]
    pull = PeriodicTask("partner-sync", settings.partner_sync_seconds,
                        lambda sm: partner_sync.pull_all(sm, state.partner_client, state.credentials,
                                                         settings.region_code, settings.allow_private_partner_urls,
                                                         settings.partner_url_bases))
    await run_periodic(pull, runtime.sessionmaker, runtime.stop)


SERVICE = ServiceDefinition(
    name="interop", title="Tongban svc-interop", settings=Settings, root=Path(__file__).resolve().parents[3],
    metadata=Base.metadata, tables=platform,
    routers=[identity_router, partner_router, partner_item_router, discovery_router, forwarding_router, trust_router,
             referral_router, partner_licence_router, delivery_router, ledger_router],
    subscriptions=[*CATALOG_SUBSCRIPTIONS, *CASES_SUBSCRIPTIONS], lifespan=lifespan, lifespan_in_worker=True,
    # Inside the edge (request id, body limit), outside FastAPI's error handlers: every answer on
    # the exchange is signed, and partners are authenticated before anything is stored.
    middleware=[Middleware(SignedExchange, prefix="/api/v1/interop/exchange/")],
    background=[BackgroundTask("interop-delivery", _deliver), BackgroundTask("partner-sync", _pull_partners)],
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SERVICE, settings)
