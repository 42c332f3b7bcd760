"""Signed exchange between two cities, against the floor in the same run (svc-interop x2 and
Shenzhen's svc-cases, real PostgreSQL as deployed (fsync, synchronous_commit, full_page_writes on;
`--fast` turns them off) and NATS, uvicorn on real ports, all in this one process and event loop,
as is the floor app beside them).

1. Signed exchange calls/s: Zhongshan's key signs `POST /exchange/cases` straight to Shenzhen
   (token check, signature, nonce, grant, idempotency, the case opened in svc-cases, the ledger,
   a signed answer), closed loop with `--concurrency` in flight, against two floors in the same
   loop and rounds (bench/_floor.py): an unsigned POST with one insert transaction (the goal's
   denominator) and a signed POST without the business (signature checked, one insert, answer
   signed). Three rounds back to back; the ratio is the median of the rounds' ratios.
2. The forwarded case: submit in Zhongshan -> Shenzhen's case number stored in Zhongshan; round
   trip latency (sequential) and cases/s with many in flight.
3. Statements per signed exchange in Shenzhen's svc-interop and svc-cases (SQLAlchemy's
   cursor events), and, with py-spy installed, the process's top frames during the exchanges.

    .venv/bin/python bench/interop.py [--n 200] [--concurrency 32] [--fast]

The last line is `interop_signed_ratio: <signed exchanges/s / unsigned-POST floor/s>`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import event, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tongban.cases.config import Settings as CasesSettings
from tongban.cases.main import SERVICE as CASES
from tongban.cases.main import create_app as cases_app
from tongban.interop import signing
from tongban.interop.config import Settings
from tongban.interop.forwarding.models import OutgoingCase
from tongban.interop.main import SERVICE, create_app
from tongban.interop.pairing import CITY_SERVICES
from tongban.shared.contracts.catalog import ITEM_PUBLISHED, ItemPublishedV1
from tongban.shared.events import bus
from tongban.shared.events.envelope import make_event
from tongban.shared.ids import credit_code_check_char
from tongban.shared.localinfra import free_port
from tongban.shared.service_auth import StaticToken
from tongban.shared.testing.plugin import TokenIssuer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _floor import Http, Profile, closed_loop, disk_cost, disk_line, durability, pct, prepare_floor_table, print_profile
from _floor import create_app as create_floor
from _floor import infra as durable_infra

ZS, SZ, ITEM, SECRET = "442000", "440300", "440300000100", "bench-secret"
CLIENTS = {"zs-at-sz": ZS, "sz-at-zs": SZ}
DEPT = "11440300MB2C3D4E5" + credit_code_check_char("11440300MB2C3D4E5")
EXCHANGE = "/api/v1/interop/exchange/cases"
FLOOR_UNSIGNED = "floor: unsigned POST, one insert (goal's denominator)"
FLOOR_SIGNED = "floor: signed POST, one insert, signed answer"
SIGNED = "signed exchange A->B (POST /exchange/cases)"


async def serve(app, port):
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    return server, task


async def main(args: argparse.Namespace) -> None:
    os.environ.setdefault("TONGBAN_ENV", "development")  # the services' development secrets (key passphrase)
    n = args.n
    root = Path(tempfile.mkdtemp(prefix="bench-interop-"))
    infra = durable_infra(root, fast=args.fast)
    print(f"PostgreSQL: {await durability(infra.pg.url)}" + (" (--fast: not a deployment's figure)" if args.fast else ""))
    print(disk_line(await disk_cost(infra.pg.url)))
    issuer = TokenIssuer()

    async def token(request: Request) -> JSONResponse:
        cid, _, _ = base64.b64decode(request.headers["authorization"].split()[1]).decode().partition(":")
        return JSONResponse({"access_token": issuer.mint("partner", "interop:exchange", ["interop"], sub=cid,
                                                         partner=CLIENTS[cid]), "expires_in": 600})

    ports = {ZS: free_port(), SZ: free_port(), "gw": free_port(), "cases": free_port(), "floor": free_port()}
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
        ring = apps[ZS].state.keyring
        floor_db = "bench_floor"
        infra.pg.create_database(floor_db)
        await prepare_floor_table(infra.pg.url_for(floor_db))
        public = ring.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
        floor_app = create_floor({"FLOOR_DATABASE_URL": infra.pg.url_for(floor_db), "FLOOR_JWKS_JSON": issuer.jwks_json,
                                  "FLOOR_AUDIENCE": "interop", "FLOOR_SIGNER_PUBLIC_KEY": public,
                                  "FLOOR_PUBLIC_URL": urls["floor"]})
        servers += [await serve(floor_app, ports["floor"])]

        sessionmaker = apps[ZS].state.sessionmaker
        # The end of a round trip: Zhongshan's deliverer has committed Shenzhen's case number. Observed
        # by wrapping the deliverer's record step (after its commit) rather than by polling the
        # table every 2 ms: all the apps share this process's event loop, and the poll's own
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

        tok = issuer.mint("partner", "interop:exchange", ["interop"], partner=ZS, ttl=3600)
        bearer = {"authorization": f"Bearer {tok}", "content-type": "application/json"}
        to_sz, to_floor = Http(ports[SZ], bearer), Http(ports["floor"], bearer)
        resent = [0]

        def case_body() -> tuple[str, bytes]:
            mid = str(uuid.uuid4())
            return mid, (f'{{"case_ref":"{uuid.uuid4()}","case_number":"B{mid[:8]}","item_code":"{ITEM}",'
                         '"applicant":{"id_number":"11010519491231002X","name":"x"}}').encode()

        async def signed_call(client: Http, base: str, path: str, expect: int) -> int:
            """Zhongshan's key signs one call (as a partner does: a 503 is resent with the same id)."""
            mid, body = case_body()
            hdrs = {signing.SENDER: ZS, signing.MESSAGE_ID: mid, signing.IDEMPOTENCY_KEY: mid}
            while True:
                signed = signing.sign_request(ring.private, ring.kid, "POST", base + path, hdrs, body)
                status, answer = await client.request("POST", path, body, {**hdrs, **signed.headers})
                if status != 503:
                    break
                resent[0] += 1
            assert status == expect, answer
            return status

        exchange = lambda _k: signed_call(to_sz, urls[SZ], EXCHANGE, 202)
        floor_signed = lambda _k: signed_call(to_floor, urls["floor"], "/floor/signed", 202)

        async def floor_insert(_k: int) -> int:
            status, answer = await to_floor.request("POST", "/floor/insert", case_body()[1])
            assert status == 201, answer
            return status

        for _ in range(10):  # warm-up: connections, plans, token caches
            await forward()
            await exchange(0)
            await floor_signed(0)
            await floor_insert(0)

        statements = StatementCounter({"svc-interop (Shenzhen)": apps[SZ].state.sessionmaker,
                                       "svc-cases (Shenzhen)": cases.state.sessionmaker})
        rounds = []
        profile = Profile(os.getpid(), root / "interop.pyspy")
        for i in range(3):
            figures = {}
            for label, call in ((FLOOR_UNSIGNED, floor_insert), (FLOOR_SIGNED, floor_signed), (SIGNED, exchange)):
                with statements.counting(label, n) if i == 0 and label == SIGNED else contextlib.nullcontext(), \
                        profile if i == 1 and label == SIGNED else contextlib.nullcontext():
                    figures[label] = await closed_loop(call, n, args.concurrency)
            rounds.append(figures)
        trip = [await forward() for _ in range(n)]
        t0 = time.perf_counter()
        await asyncio.gather(*(forward() for _ in range(n)))
        forward_rate = n / (time.perf_counter() - t0)

        print(f"\nclosed loop, {args.concurrency} in flight, {n} calls each, 3 rounds back to back, all in one "
              f"process and event loop, PostgreSQL {'fast (fsync off)' if args.fast else 'durable'}")
        print(f"{'measure':52} {'calls/s by round':>26} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6}")
        ratios = {}
        for label in (FLOOR_UNSIGNED, FLOOR_SIGNED, SIGNED):
            per_round = [r[label][0] for r in rounds]
            ratios[label] = statistics.median(r[label][0] / r[FLOOR_UNSIGNED][0] for r in rounds)
            lat = [x for r in rounds for x in r[label][1]]
            print(f"{label:52} {' '.join(f'{v:8.0f}' for v in per_round):>26} {pct(lat, 50):7.1f} {pct(lat, 99):7.1f} "
                  f"{ratios[label]:6.2f}")
        signed_floor = statistics.median(r[SIGNED][0] / r[FLOOR_SIGNED][0] for r in rounds)
        print(f"signed exchange / signed-POST floor: {signed_floor:.2f}")
        print(f"\nforwarded case, submit in A -> B's case number in A: p50 {pct(trip, 50) * 1000:.1f} ms, "
              f"p99 {pct(trip, 99) * 1000:.1f} ms (n={n} sequential); {forward_rate:.1f} cases/s with {n} in flight")
        print(f"(calls resent after a 503: {resent[0]})")
        statements.print()
        print_profile("this process (all the apps) during signed exchanges", profile.top(10))
        print(f"interop_roundtrip_p99_ms: {pct(trip, 99) * 1000:.0f}")
        print(f"interop_signed_ratio: {ratios[SIGNED]:.2f}")
    finally:
        await http.aclose()
        for server, task in reversed(servers):
            server.should_exit = True
            await task
        infra.stop()
        shutil.rmtree(root, ignore_errors=True)


class StatementCounter:
    """SQL statements each app sends while a block runs (SQLAlchemy's cursor events), per call."""

    def __init__(self, sessionmakers: dict[str, Any]) -> None:
        self.engines = {label: sm.kw["bind"].sync_engine for label, sm in sessionmakers.items()}
        self.counts: dict[str, collections.Counter[str]] = {}
        self.calls = 1

    @contextlib.contextmanager
    def counting(self, _label: str, calls: int):
        self.calls = calls
        listeners = []
        for label, engine in self.engines.items():
            counter = self.counts.setdefault(label, collections.Counter())

            def on_execute(_conn, _cursor, statement, *_args, counter=counter) -> None:
                counter[" ".join(statement.split())[:90]] += 1

            event.listen(engine, "before_cursor_execute", on_execute)
            listeners.append((engine, on_execute))
        try:
            yield
        finally:
            for engine, fn in listeners:
                event.remove(engine, "before_cursor_execute", fn)

    def print(self) -> None:
        print("\nSQL statements per signed exchange (SQLAlchemy's; BEGIN/COMMIT are not statements here):")
        for label, counter in self.counts.items():
            print(f"  {label}: {sum(counter.values()) / self.calls:.1f}")
            for statement, k in counter.most_common(12):
                print(f"    {k / self.calls:5.2f}  {statement}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--fast", action="store_true", help="PostgreSQL without fsync (not the goal figure)")
    asyncio.run(main(ap.parse_args()))
