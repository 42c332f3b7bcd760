"""svc-interop test helpers: an instance of the service (the real app, migrations, PostgreSQL and
NATS from the platform plugin), a partner city's signing key, and signed requests."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tongban.interop import signing
from tongban.shared.contracts.catalog import ITEM_PUBLISHED, ItemPublishedV1
from tongban.shared.events import bus
from tongban.shared.events.envelope import make_event
from tongban.shared.ids import credit_code_check_char
from tongban.shared.service_auth import StaticToken
from tongban.interop.config import Settings
from tongban.interop.identity.service import public_from_b64url
from tongban.interop.main import SERVICE, create_app
from tongban.shared.localinfra import free_port

ZHONGSHAN, SHENZHEN = "442000", "440300"
DEPT = "11442000MB2C3D4E5" + credit_code_check_char("11442000MB2C3D4E5")
INTEROP_SCOPES = "catalog:read cases:forward credentials:read credentials:trust credentials:present"


def service_token(issuer) -> StaticToken:
    """svc-interop's service token, as the gateway would issue it (SERVICE_SCOPES)."""
    return StaticToken(issuer.mint("service", INTEROP_SCOPES, ["cases", "catalog", "credentials"],
                                   sub="service:interop", service="interop"))


def build(infra, issuer, database_url: str | None = None, nats_url: str | None = None, **settings: Any):
    values = {"database_url": database_url or infra.fresh_database(SERVICE), "nats_url": nats_url or infra.nats.url,
              "jwks_json": issuer.jwks_json, "log_level": "WARNING", "delivery_poll_seconds": 0.2,
              # The test's partner cities serve on loopback.
              "allow_private_partner_urls": True, **settings}
    app = create_app(Settings(**values))
    app.state.service_token = service_token(issuer)
    return app


async def publish_items(nats_url: str, *codes: str, cross_city: bool = True) -> None:
    """svc-catalog's `catalog.item.published` for each basic code (read by svc-cases and svc-interop)."""
    nc = await bus.connect(nats_url, "test-catalog")
    try:
        await bus.ensure_stream(nc.jetstream(), "catalog")
        for code in codes:
            data = ItemPublishedV1(item_id=uuid.uuid4(), basic_code=code, name=f"事项{code}", item_type="20", version=1,
                                   case_type="promised", promised_limit=15, promised_limit_unit="working_day",
                                   status="published", record={"implementing_body_credit_code": DEPT,
                                                               "flags": {"cross_city": cross_city}})
            event = make_event("catalog", ITEM_PUBLISHED, data, subject=str(data.item_id))
            await nc.jetstream().publish(event.type, event.model_dump_json().encode(),
                                         headers={"Nats-Msg-Id": str(event.id)})
    finally:
        await nc.close()


def token_endpoint(issuer, clients: dict[str, str], secret: str):
    """Stands in for the cities' gateways (outside svc-interop): client credentials → partner token.
    `clients`: our OAuth client id at the other city's gateway → the partner region it is."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def token(request: Request) -> JSONResponse:
        client_id, _, given = base64.b64decode(request.headers["authorization"].split()[1]).decode().partition(":")
        if client_id not in clients or given != secret:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        return JSONResponse({"access_token": issuer.mint("partner", "interop:exchange", ["interop"], sub=client_id,
                                                         partner=clients[client_id]),
                             "token_type": "Bearer", "expires_in": 600})
    return Starlette(routes=[Route("/auth/token", token, methods=["POST"])])


async def when(awaitable, predicate):
    """For wait_for: the awaited value if it satisfies `predicate`, else None (poll again)."""
    value = await awaitable
    return value if predicate(value) else None


async def true(value):
    return value


def handled(app: Any) -> int:
    return sum(c.handled for c in app.state.runtime.consumers)


async def start_cases(infra, issuer, region: str, nats_url: str | None = None, items: tuple[str, ...] = ()) -> Served:
    """A real svc-cases for `region` on a real port, with `items` in its catalogue copy."""
    from tongban.cases.config import Settings as CasesSettings
    from tongban.cases.main import SERVICE as CASES
    from tongban.cases.main import create_app as cases_app

    nats_url = nats_url or infra.nats.url
    app = cases_app(CasesSettings(database_url=infra.fresh_database(CASES), nats_url=nats_url,
                                  jwks_json=issuer.jwks_json, log_level="WARNING", default_city_code=region))
    served = await Served(app).start()
    if items:
        before = handled(app)
        await publish_items(nats_url, *items)
        deadline = time.monotonic() + 15
        while handled(app) < before + len(items):
            assert time.monotonic() < deadline, "svc-cases did not take the items"
            await asyncio.sleep(0.05)
    return served


@asynccontextmanager
async def cases_service(infra, issuer, region: str, nats_url: str | None = None, items: tuple[str, ...] = ()):
    served = await start_cases(infra, issuer, region, nats_url, items)
    try:
        yield served
    finally:
        await served.stop()


@asynccontextmanager
async def interop(infra, issuer, **settings: Any):
    """The service in-process (lifespan run), with an ASGI client at its public URL."""
    settings.setdefault("public_url", "http://zs.test")
    app = build(infra, issuer, **settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(headers={"Accept-Language": "en"}, transport=httpx.ASGITransport(app=app), base_url=settings["public_url"]) as c:
            c.app = app  # type: ignore[attr-defined]
            yield c


class Served:
    """An ASGI app served by uvicorn on a real port, inside the test's event loop."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> "Served":
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.task = asyncio.create_task(self.server.serve())
        deadline = time.monotonic() + 20
        while not self.server.started:
            if self.task.done():
                self.task.result()
            assert time.monotonic() < deadline, "server did not start"
            await asyncio.sleep(0.02)
        return self

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            await self.task


class PartnerCity:
    """A partner's side of the contract in a test: its key pair, token and signed requests."""

    def __init__(self, region: str, issuer: Any) -> None:
        self.region = region
        self.key = Ed25519PrivateKey.generate()
        x = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.x = base64.urlsafe_b64encode(x).rstrip(b"=").decode()
        self.kid = f"{region}-test-1"
        self.token = issuer.mint("partner", "interop:exchange", ["interop"], sub=f"client-{region}", partner=region)

    def jwk(self) -> dict[str, str]:
        return {"kid": self.kid, "kty": "OKP", "crv": "Ed25519", "x": self.x}

    def request(self, method: str, url: str, body: Any = None, message_id: str | None = None,
                created: int | None = None, kid: str | None = None, key: Ed25519PrivateKey | None = None,
                sender: str | None = None, **extra: str) -> tuple[dict[str, str], bytes, signing.Signed]:
        raw = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        message_id = message_id or str(uuid.uuid4())
        headers = {signing.SENDER: sender or self.region, signing.MESSAGE_ID: message_id, **extra}
        if method != "GET":
            headers[signing.IDEMPOTENCY_KEY] = message_id
        signed = signing.sign_request(key or self.key, kid or self.kid, method, url, headers, raw, created=created)
        return ({**headers, **signed.headers, "content-type": "application/json",
                 "authorization": f"Bearer {self.token}"}, raw, signed)


def verify_answer(resp: httpx.Response, identity: dict[str, Any], signed: signing.Signed) -> signing.Verified:
    """Check that our service's answer is signed with a published key and bound to `signed`."""
    keys = {k["kid"]: public_from_b64url(k["x"]) for k in identity["keys"]}
    return signing.verify_response(resp.status_code, resp.headers, resp.content, signed.request_hash, keys.get)


@pytest.fixture
def admin(token_issuer) -> dict[str, str]:
    token = token_issuer.mint("admin", "interop:admin audit:read cases:read cases:process", ["interop"])
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def clerk(token_issuer) -> dict[str, str]:
    token = token_issuer.mint("clerk", "cases:read cases:process", ["interop"])
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def kit():
    """The helpers above for test modules (conftest is not importable under --import-mode=importlib)."""
    from types import SimpleNamespace

    return SimpleNamespace(ZHONGSHAN=ZHONGSHAN, SHENZHEN=SHENZHEN, DEPT=DEPT, PartnerCity=PartnerCity, interop=interop,
                           verify_answer=verify_answer, Served=Served, build=build, cases_service=cases_service, start_cases=start_cases,
                           publish_items=publish_items, handled=handled, service_token=service_token,
                           token_endpoint=token_endpoint, when=when, true=true)
