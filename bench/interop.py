"""Forwarded cases between two cities (svc-interop ×2, real PostgreSQL and NATS, uvicorn on real
ports, one process): the round trip from submit in Zhongshan to Shenzhen's case number being
stored in Zhongshan, and forwarded cases/s with many in flight.

Baseline, measured in the same run: one signed partner call straight to Shenzhen's exchange
endpoint (the cost of the hop itself, without the outbox, deliverer and ledger of city A).

    .venv/bin/python bench/interop.py [N]
"""

from __future__ import annotations

import asyncio
import base64
import statistics
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

from tongban.interop import signing
from tongban.interop.config import Settings
from tongban.interop.forwarding.models import OutgoingCase
from tongban.interop.main import SERVICE, create_app
from tongban.shared.localinfra import free_port
from tongban.shared.testing.plugin import Infra, TokenIssuer

ZS, SZ, ITEM, SECRET = "442000", "440300", "440300000100", "bench-secret"
CLIENTS = {"zs-at-sz": ZS, "sz-at-zs": SZ}


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

    ports = {ZS: free_port(), SZ: free_port(), "gw": free_port()}
    urls = {k: f"http://127.0.0.1:{p}" for k, p in ports.items()}
    apps = {r: create_app(Settings(database_url=infra.fresh_database(SERVICE), nats_url=infra.nats.url,
                                   jwks_json=issuer.jwks_json, log_level="ERROR", region_code=r, public_url=urls[r],
                                   partner_secrets={(SZ if r == ZS else ZS): SECRET}, delivery_poll_seconds=0.5))
            for r in (ZS, SZ)}
    servers = [await serve(Starlette(routes=[Route("/auth/token", token, methods=["POST"])]), ports["gw"])]
    servers += [await serve(apps[r], ports[r]) for r in (ZS, SZ)]
    admin = {"Authorization": "Bearer " + issuer.mint("admin", "interop:admin cases:read cases:process", ["interop"])}
    http = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100))
    try:
        ids = {r: (await http.get(f"{urls[r]}/api/v1/interop/identity")).json() for r in (ZS, SZ)}
        for me, other, client, services, items in ((ZS, SZ, "zs-at-sz", ["case.status"], []),
                                                   (SZ, ZS, "sz-at-zs", ["case.forward"], [ITEM])):
            r = await http.post(f"{urls[me]}/api/v1/interop/partners", headers=admin, json={
                "region_code": other, "name": other, "base_url": urls[other], "token_url": urls["gw"] + "/auth/token",
                "client_id": client, "services": services, "items": items, "keys": ids[other]["keys"]})
            r.raise_for_status()
        sessionmaker = apps[ZS].state.sessionmaker

        async def forward() -> float:
            started = time.perf_counter()
            r = await http.post(f"{urls[ZS]}/api/v1/interop/outgoing-cases", headers=admin, json={
                "partner": SZ, "item_code": ITEM, "applicant": {"id_number": "11010519491231002X", "name": "张三"}})
            case_id = uuid.UUID(r.json()["id"])
            while True:
                async with sessionmaker() as s:
                    number = (await s.execute(select(OutgoingCase.remote_case_number)
                                              .where(OutgoingCase.id == case_id))).scalar()
                if number:
                    return time.perf_counter() - started
                await asyncio.sleep(0.002)

        # Baseline: Zhongshan's own key signs one call straight to Shenzhen.
        ring = apps[ZS].state.keyring
        tok = issuer.mint("partner", "interop:exchange", ["interop"], partner=ZS)

        async def direct() -> float:
            mid = str(uuid.uuid4())
            url = f"{urls[SZ]}/api/v1/interop/exchange/cases"
            body = (f'{{"case_ref":"{uuid.uuid4()}","case_number":"B{mid[:8]}","item_code":"{ITEM}",'
                    '"applicant":{"id_number":"11010519491231002X","name":"x"}}').encode()
            hdrs = {signing.SENDER: ZS, signing.MESSAGE_ID: mid, signing.IDEMPOTENCY_KEY: mid}
            signed = signing.sign_request(ring.private, ring.kid, "POST", url, hdrs, body)
            started = time.perf_counter()
            r = await http.post(url, content=body, headers={**hdrs, **signed.headers, "authorization": f"Bearer {tok}",
                                                            "content-type": "application/json"})
            assert r.status_code == 202, r.text
            return time.perf_counter() - started

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
        print(f"(n={n} sequential for latency, n={n} concurrent for per-second; ratio = per-second vs baseline)")
        print(f"interop_roundtrip_p99_ms: {pct(trip, 99):.0f}")
    finally:
        await http.aclose()
        for server, task in reversed(servers):
            server.should_exit = True
            await task
        infra.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
