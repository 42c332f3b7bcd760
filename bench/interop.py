"""Forwarded cases between two cities (svc-interop ×2 and Shenzhen's svc-cases, real PostgreSQL
and NATS, uvicorn on real ports, one process): the round trip from submit in Zhongshan to
Shenzhen's case number (opened in Shenzhen's svc-cases) being stored in Zhongshan, and
forwarded cases/s with many in flight.

Baseline, measured in the same run: one signed partner call straight to Shenzhen's exchange
endpoint (the cost of the hop itself, without the outbox, deliverer and ledger of city A).

    .venv/bin/python bench/interop.py [N]
"""

from __future__ import annotations

import asyncio
import base64
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tongban.cases.config import Settings as CasesSettings
from tongban.cases.main import SERVICE as CASES
from tongban.cases.main import create_app as cases_app
from tongban.interop import signing
from tongban.interop.config import Settings
from tongban.interop.delivery.models import OutboundMessage
from tongban.interop.forwarding.models import OutgoingCase
from tongban.interop.main import SERVICE, create_app
from tongban.interop.pairing import CITY_SERVICES
from tongban.shared.contracts.catalog import ITEM_PUBLISHED, ItemPublishedV1
from tongban.shared.events import bus
from tongban.shared.events.envelope import make_event
from tongban.shared.ids import credit_code_check_char
from tongban.shared.localinfra import free_port
from tongban.shared.service_auth import StaticToken
from tongban.shared.testing.plugin import Infra, TokenIssuer

ZS, SZ, ITEM, SECRET = "442000", "440300", "440300000100", "bench-secret"
CLIENTS = {"zs-at-sz": ZS, "sz-at-zs": SZ}
DEPT = "11440300MB2C3D4E5" + credit_code_check_char("11440300MB2C3D4E5")


async def serve(app, port):
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    return server, task


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] * 1000


async def main(n: int) -> None:
    infra = Infra(Path(tempfile.mkdtemp(prefix="bench-interop-")))
    issuer = TokenIssuer()

    async def token(request: Request) -> JSONResponse:
        cid, _, _ = base64.b64decode(request.headers["authorization"].split()[1]).decode().partition(":")
        return JSONResponse({"access_token": issuer.mint("partner", "interop:exchange", ["interop"], sub=cid,
                                                         partner=CLIENTS[cid]), "expires_in": 600})

    ports = {ZS: free_port(), SZ: free_port(), "gw": free_port(), "cases": free_port()}
    urls = {k: f"http://127.0.0.1:{p}" for k, p in ports.items()}
    apps = {r: create_app(Settings(database_url=infra.fresh_database(SERVICE), nats_url=infra.nats.url,
                                   jwks_json=issuer.jwks_json, log_level="ERROR", region_code=r, public_url=urls[r],
                                   partner_secrets={(SZ if r == ZS else ZS): SECRET}, delivery_poll_seconds=0.5,
                                   cases_url=urls["cases"] if r == SZ else None))
            for r in (ZS, SZ)}
    apps[SZ].state.service_token = StaticToken(issuer.mint(
        "service", "cases:read cases:forward", ["cases"], sub="service:interop", service="interop"))
    cases = cases_app(CasesSettings(database_url=infra.fresh_database(CASES), nats_url=infra.nats.url,
                                    jwks_json=issuer.jwks_json, log_level="ERROR", default_city_code=SZ))
    servers = [await serve(Starlette(routes=[Route("/auth/token", token, methods=["POST"])]), ports["gw"])]
    servers += [await serve(cases, ports["cases"])]
    servers += [await serve(apps[r], ports[r]) for r in (ZS, SZ)]
    # Shenzhen's catalogue publishes the item: its svc-cases takes it into its catalogue copy.
    item = ItemPublishedV1(item_id=uuid.uuid4(), basic_code=ITEM, name="bench", item_type="20", version=1,
                           case_type="promised", promised_limit=15, promised_limit_unit="working_day",
                           status="published", record={"implementing_body_credit_code": DEPT})
    nc = await bus.connect(infra.nats.url, "bench")
    await bus.ensure_stream(nc.jetstream(), "catalog")
    await nc.jetstream().publish(ITEM_PUBLISHED, make_event("catalog", ITEM_PUBLISHED, item).model_dump_json().encode())
    await nc.close()
    while sum(c.handled for c in cases.state.runtime.consumers) < 1:
        await asyncio.sleep(0.05)
    admin = {"Authorization": "Bearer " + issuer.mint("admin", "interop:admin cases:read cases:process", ["interop"])}
    http = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100))
    try:
        ids = {r: (await http.get(f"{urls[r]}/api/v1/interop/identity")).json() for r in (ZS, SZ)}
        # Each city grants the other every exchange service, as the cross-city agreement does.
        for me, other, client, services, items in ((ZS, SZ, "zs-at-sz", CITY_SERVICES, []),
                                                   (SZ, ZS, "sz-at-zs", CITY_SERVICES, [ITEM])):
            r = await http.post(f"{urls[me]}/api/v1/interop/partners", headers=admin, json={
                "region_code": other, "name": other, "base_url": urls[other], "token_url": urls["gw"] + "/auth/token",
                "client_id": client, "services": services, "items": items, "keys": ids[other]["keys"]})
            r.raise_for_status()
        sessionmaker = apps[ZS].state.sessionmaker
        # The end of a round trip: Zhongshan's deliverer has committed Shenzhen's case number. Observed
        # by wrapping the deliverer's record step (after its commit) rather than by polling the
        # table every 2 ms: all four apps share this process's event loop, and the poll's own
        # queries were part of what it measured.
        deliverer = apps[ZS].state.deliverer
        recorded = deliverer._record
        waiting: dict[str, asyncio.Future[None]] = {}

        async def record_and_tell(message, attempt) -> None:
            await recorded(message, attempt)
            if attempt.outcome == "delivered" and (done := waiting.get(message.subject_id)) and not done.done():
                done.set_result(None)

        deliverer._record = record_and_tell

        async def forward() -> float:
            started = time.perf_counter()
            r = await http.post(f"{urls[ZS]}/api/v1/interop/outgoing-cases", headers=admin, json={
                "partner": SZ, "item_code": ITEM, "applicant": {"id_number": "11010519491231002X", "name": "张三"}})
            case_id = r.json()["id"]
            done = waiting[case_id] = asyncio.get_running_loop().create_future()
            try:
                async with sessionmaker() as s:  # delivered before we started waiting?
                    number = (await s.execute(select(OutgoingCase.remote_case_number)
                                              .where(OutgoingCase.id == uuid.UUID(case_id)))).scalar()
                if not number:
                    await asyncio.wait_for(done, timeout=600)
                return time.perf_counter() - started
            finally:
                waiting.pop(case_id, None)

        # Baseline: Zhongshan's own key signs one call straight to Shenzhen.
        ring = apps[ZS].state.keyring
        tok = issuer.mint("partner", "interop:exchange", ["interop"], partner=ZS)

        async def direct() -> float:
            mid = str(uuid.uuid4())
            url = f"{urls[SZ]}/api/v1/interop/exchange/cases"
            body = (f'{{"case_ref":"{uuid.uuid4()}","case_number":"B{mid[:8]}","item_code":"{ITEM}",'
                    '"applicant":{"id_number":"11010519491231002X","name":"x"}}').encode()
            hdrs = {signing.SENDER: ZS, signing.MESSAGE_ID: mid, signing.IDEMPOTENCY_KEY: mid}
            started = time.perf_counter()
            while True:  # as a partner does: a 503 (svc-cases did not answer in time) is resent, same id
                signed = signing.sign_request(ring.private, ring.kid, "POST", url, hdrs, body)
                r = await http.post(url, content=body, headers={**hdrs, **signed.headers,
                                                                "authorization": f"Bearer {tok}",
                                                                "content-type": "application/json"})
                if r.status_code != 503:
                    break
                resent[0] += 1
            assert r.status_code == 202, r.text
            return time.perf_counter() - started

        resent = [0]

        async def attempts() -> list[int]:
            async with sessionmaker() as s:
                return list((await s.execute(select(OutboundMessage.attempts))).scalars())

        for _ in range(10):
            await forward()
            await direct()
        base = [await direct() for _ in range(n)]
        trip = [await forward() for _ in range(n)]
        t0 = time.perf_counter()
        await asyncio.gather(*(forward() for _ in range(n)))
        rate = n / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        await asyncio.gather(*(direct() for _ in range(n)))
        base_rate = n / (time.perf_counter() - t0)

        print(f"{'measure':44} {'p50 ms':>8} {'p99 ms':>8} {'per s':>8} {'ratio':>7}")
        print(f"{'baseline: one signed call A→B (direct)':44} {pct(base, 50):8.1f} {pct(base, 99):8.1f} "
              f"{base_rate:8.1f} {1.0:7.2f}")
        print(f"{'forwarded case: submit A → B case no. in A':44} {pct(trip, 50):8.1f} {pct(trip, 99):8.1f} "
              f"{rate:8.1f} {rate / base_rate:7.2f}")
        print(f"(n={n} sequential for latency, n={n} concurrent for per-second; ratio = per-second vs baseline; "
              f"baseline calls resent after a 503: {resent[0]}; forwarded messages retried: "
              f"{sum(max(0, a - 1) for a in await attempts())})")
        print(f"interop_roundtrip_p99_ms: {pct(trip, 99):.0f}")
    finally:
        await http.aclose()
        for server, task in reversed(servers):
            server.should_exit = True
            await task
        infra.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
