import base64
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tongban.gateway.account.router import router as account_router
from tongban.gateway.config import Settings
from tongban.gateway.db import Base, platform
from tongban.gateway.delegation import models as _delegation_models  # noqa: F401 - registers the table
from tongban.gateway.delegation.router import router as delegation_router
from tongban.gateway.docs.router import router as docs_router
from tongban.gateway.docs.service import OpenApiAggregator
from tongban.gateway.notify.consumers import SUBSCRIPTIONS as NOTIFY_SUBSCRIPTIONS
from tongban.gateway.notify.dispatch import DISPATCHER as NOTIFY_DISPATCHER
from tongban.gateway.notify.dispatch import LICENCE_REMINDERS
from tongban.gateway.notify.router import router as notify_router
from tongban.gateway.protection import hashing
from tongban.gateway.protection.gossip import LimitGossip
from tongban.gateway.protection.limits import LoginThrottle, RateLimited, TokenBuckets
from tongban.gateway.proxy.asgi import GatewayASGI
from tongban.gateway.realname import models as _realname_models  # noqa: F401 - registers the table
from tongban.gateway.realname.provider import LocalProvider, RealNameProvider, SignedAnswerProvider
from tongban.gateway.realname.router import router as realname_router
from tongban.gateway.proxy.forward import Proxy
from tongban.gateway.revocation import service as revocations
from tongban.gateway.revocation.feed import DenyListFeed
from tongban.gateway.revocation.verifier import CheckedVerifier
from tongban.gateway.token import service as token_service
from tongban.gateway.token.errors import bearer_challenge
from tongban.gateway.token.router import router as token_router
from tongban.gateway.wechat import models as _wechat_models  # noqa: F401 - registers the table
from tongban.gateway.wechat.client import WeChatClient
from tongban.gateway.wechat.router import router as wechat_router
from tongban.gateway.wechat.service import Tickets
from tongban.shared.errors import Unauthorized, problem_response
from tongban.shared.revocation import DenyList
from tongban.shared.service import Runtime, ServiceDefinition
from tongban.shared.service import create_app as create_service_app

log = logging.getLogger("tongban.gateway")


def realname_providers(settings: Settings) -> dict[str, RealNameProvider]:
    """The real-name providers whose signed answers this gateway accepts."""
    known: dict[str, RealNameProvider] = {
        name: SignedAnswerProvider(name, Ed25519PublicKey.from_public_bytes(base64.b64decode(key)))
        for name, key in settings.realname_provider_keys.items()}
    if settings.realname_local_provider:
        known["local"] = LocalProvider(settings.realname_local_seed.get_secret_value())
    return known


@asynccontextmanager
async def gateway_lifespan(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
    """Signing keys (one is created if none is active), the proxy with its connection pools,
    the limits at the door and the OpenAPI aggregator."""
    settings = cast(Settings, runtime.settings)
    ring = await token_service.open_key_ring(runtime.sessionmaker, settings.token_issuer,
                                             settings.key_passphrase.get_secret_value().encode())
    app.state.keyring = ring
    app.state.realname_providers = realname_providers(settings)
    # Revoked access tokens: every session can record one (applied here at commit), the feed
    # brings in those of other processes, and both the proxy and the gateway's routes ask.
    denylist = app.state.denylist = DenyList()
    revocations.configure(runtime.sessionmaker, denylist, settings.access_token_ttl)
    feed = app.state.denylist_feed = DenyListFeed(denylist, runtime.sessionmaker, runtime.js,
                                                  settings.revocation_resync_seconds)
    await feed.start()
    app.state.token_verifier = CheckedVerifier(ring, SERVICE.name, denylist)
    app.state.login_throttle = LoginThrottle(
        runtime.sessionmaker, settings.login_max_failures_per_account, settings.login_max_failures_per_ip,
        settings.login_failure_window_seconds, settings.login_lockout_seconds,
        free_per_address=settings.login_free_failures_per_address, backoff=settings.login_backoff_seconds,
        account_lockout=settings.login_account_lockout_seconds, registrations_per_ip=settings.registrations_per_ip,
        registration_window=settings.registration_window_seconds)
    hashing.configure(settings.password_hash_slots, settings.password_hash_queue)
    limiter = app.state.limiter = TokenBuckets(settings.rate_limit_per_second, settings.rate_limit_burst)
    gossip = app.state.limit_gossip = LimitGossip(limiter, runtime.nc, settings.rate_limit_share_seconds)
    await gossip.start()
    proxy = Proxy(settings.upstreams, ring, settings.max_body_bytes, settings.upstream_timeout,
                  connect_timeout=settings.connect_timeout, limiter=limiter,
                  breaker_failures=settings.breaker_failures, breaker_cooldown=settings.breaker_cooldown_seconds,
                  metrics=app.state.metrics, denylist=denylist)
    app.state.proxy = proxy
    wechat = app.state.wechat = WeChatClient(settings.wechat_api_url, settings.wechat_apps, settings.wechat_timeout)
    app.state.wechat_tickets = Tickets.from_passphrase(settings.key_passphrase.get_secret_value().encode())
    app.state.openapi_aggregator = OpenApiAggregator(settings.upstreams, settings.openapi_cache_seconds,
                                                     settings.connect_timeout)
    try:
        yield
    finally:
        proxy.close()
        await wechat.close()
        await gossip.stop()
        await feed.stop()


async def _unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
    # A 401 names the scheme to authenticate with (RFC 9110 §11.6.1).
    return problem_response(exc.status, exc.code, exc.title, exc.detail, request.url.path,
                            headers={"WWW-Authenticate": bearer_challenge(exc.code)}, **exc.extra)


async def _rate_limited(request: Request, exc: RateLimited) -> JSONResponse:
    extra: dict[str, Any] = dict(exc.extra)
    return problem_response(exc.status, exc.code, exc.title, exc.detail, request.url.path,
                            headers={"Retry-After": str(exc.retry_after)}, **extra)


SERVICE = ServiceDefinition(
    name="gateway", title="Tongban gateway", settings=Settings, root=Path(__file__).resolve().parents[3],
    metadata=Base.metadata, tables=platform, publishes=True, lifespan=gateway_lifespan,
    server_protocol="tongban.gateway.proxy.server:GatewayProtocol", follows_revocations=False,
    # Revocations only: none refuses anything once its tokens have expired (minutes), and services
    # replay the last hour at start. A day, so the stream does not grow for ever.
    stream_max_age=86_400.0,
    root_routers=[token_router, account_router, delegation_router, realname_router, wechat_router, docs_router],
    # Notifications (notify/): events in, messages and deliveries out, the inbox under /api/v1/gateway/notify.
    routers=[notify_router], subscriptions=NOTIFY_SUBSCRIPTIONS, background=[NOTIFY_DISPATCHER],
    periodic=[LICENCE_REMINDERS],
    exception_handlers={Unauthorized: _unauthorized, RateLimited: _rate_limited},
    # `/api/v1/<service>/...` goes straight to the proxy, around the FastAPI app.
    outer=GatewayASGI,
)


def create_app(settings: Settings | None = None) -> GatewayASGI:
    return cast(GatewayASGI, create_service_app(SERVICE, settings))
