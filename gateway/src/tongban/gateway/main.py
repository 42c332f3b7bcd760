import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse

from tongban.gateway.account.router import router as account_router
from tongban.gateway.config import Settings
from tongban.gateway.db import Base, platform
from tongban.gateway.proxy.asgi import GatewayASGI
from tongban.gateway.proxy.forward import Proxy
from tongban.gateway.token import service as token_service
from tongban.gateway.token.errors import bearer_challenge
from tongban.gateway.token.router import router as token_router
from tongban.shared.errors import Unauthorized, problem_response
from tongban.shared.service import Runtime, ServiceDefinition, build_app


@asynccontextmanager
async def gateway_lifespan(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
    """Signing keys (one is created if none is active) and the client every proxied request shares."""
    settings = cast(Settings, runtime.settings)
    ring = await token_service.open_key_ring(runtime.sessionmaker, settings.token_issuer,
                                             settings.key_passphrase.get_secret_value().encode())
    app.state.keyring = ring
    app.state.token_verifier = ring.for_audience(SERVICE.name)
    # httpx logs every request at INFO: one line per proxied request is noise, not information.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=settings.upstream_timeout, limits=limits, trust_env=False) as client:
        app.state.http = client
        app.state.proxy = Proxy(settings.upstreams, client, ring, settings.max_body_bytes, settings.upstream_timeout)
        yield


SERVICE = ServiceDefinition(
    name="gateway", title="Tongban gateway", settings=Settings, root=Path(__file__).resolve().parents[3],
    metadata=Base.metadata, tables=platform, publishes=False, lifespan=gateway_lifespan,
)


async def _unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
    # A 401 names the scheme to authenticate with (RFC 9110 §11.6.1).
    return problem_response(exc.status, exc.code, exc.title, exc.detail, request.url.path,
                            headers={"WWW-Authenticate": bearer_challenge(exc.code)}, **exc.extra)


def create_app(settings: Settings | None = None) -> GatewayASGI:
    app = build_app(SERVICE, settings)
    app.include_router(token_router)
    app.include_router(account_router)
    app.add_exception_handler(Unauthorized, _unauthorized)  # type: ignore[arg-type]

    @app.get("/docs", include_in_schema=False)
    async def docs() -> RedirectResponse:
        return RedirectResponse(f"{SERVICE.prefix}/docs")

    return GatewayASGI(app)
