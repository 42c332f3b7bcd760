"""Signed exchange between two cities, against the floor in the same run (svc-interop x2 and
Shenzhen's svc-cases, real PostgreSQL as deployed (fsync, synchronous_commit, full_page_writes on;
`--fast` turns them off) and NATS). Each service runs as deployed: its own uvicorn process (one
worker, its own protocol, its relay, consumers and deliverer inside), and so does the floor (one
worker, bench/_floor.py); the load generator (which signs as Zhongshan) and the token endpoint
(the partner gateway's, and the one svc-interop takes its service token from, by client
credentials) run in this process. Until 2026-12 everything ran in this one process and event
loop: the exchange (two services' work) then shared one core with the load generator while the
floor had the loop to itself, which is not how either is deployed.

1. Signed exchange calls/s: Zhongshan's key signs `POST /exchange/cases` straight to Shenzhen
   (token check, signature, nonce, grant, idempotency, the case opened in svc-cases, the ledger,
   a signed answer), closed loop with `--concurrency` in flight, against two floors in the same
   rounds (bench/_floor.py): an unsigned POST with one insert transaction (the goal's
   denominator), a signed POST without the business (signature checked, one insert, answer
   signed) and the two-service floor: that signed POST calling a second floor process's insert
   over HTTP before it answers, as svc-interop opens the case in svc-cases (two request stacks,
   two insert transactions, an HTTP client call: the least any synchronous exchange that opens
   its case in another service does). Three rounds back to back; the ratio is the median of the
   rounds' ratios. Beside it,
   machine CPU per call (the service processes' and PostgreSQL's, from /proc).
2. The forwarded case: submit in Zhongshan -> Shenzhen's case number stored in Zhongshan (seen
   as Zhongshan's `interop.outgoing_case.accepted` event); round trip latency (sequential) and
   cases/s with many in flight.
3. Statements per signed exchange in Shenzhen's svc-interop and svc-cases (counted inside their
   processes, bench/_counted.py), and, with py-spy in the venv, both processes' top frames
   during the exchanges.

    .venv/bin/python bench/interop.py [--n 200] [--concurrency 32] [--fast]

The last line is `interop_signed_ratio: <signed exchanges/s / unsigned-POST floor/s>`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import uvicorn
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tongban.cases.main import SERVICE as CASES
from tongban.interop import signing
from tongban.interop.config import DEV_PASSPHRASE
from tongban.interop.identity import service as identity
from tongban.interop.main import SERVICE
from tongban.interop.pairing import CITY_SERVICES
from tongban.shared.contracts.catalog import ITEM_PUBLISHED, ItemPublishedV1
from tongban.shared.contracts.interop import OUTGOING_CASE_ACCEPTED
from tongban.shared.db import make_engine, make_sessionmaker
from tongban.shared.events import bus
from tongban.shared.events.envelope import make_event
from tongban.shared.ids import credit_code_check_char
from tongban.shared.localinfra import ServiceProcess, free_port
from tongban.shared.testing.plugin import TokenIssuer, service_env

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
from _floor import Http, Profile, closed_loop, disk_cost, disk_line, durability, pct, prepare_floor_table, print_profile
from _floor import infra as durable_infra

ZS, SZ, ITEM, SECRET = "442000", "440300", "440300000100", "bench-secret"
CLIENTS = {"zs-at-sz": ZS, "sz-at-zs": SZ}
SERVICE_CLIENT, SERVICE_SECRET = "svc-interop", "bench-service-secret"
DEPT = "11440300MB2C3D4E5" + credit_code_check_char("11440300MB2C3D4E5")
EXCHANGE = "/api/v1/interop/exchange/cases"
FLOOR_UNSIGNED = "floor: unsigned POST, one insert (goal's denominator)"
FLOOR_SIGNED = "floor: signed POST, one insert, signed answer"
FLOOR_FORWARD = "floor: signed POST + a POST to a 2nd service"
SIGNED = "signed exchange A->B (POST /exchange/cases)"


async def serve(app, port):
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    return server, task


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children (uvicorn's workers, PostgreSQL's
    backends), from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for p in [pid, *map(int, children)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a backend that just ended
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def counted(name: str, app: str, port: int, env: dict[str, str], root: Path, protocol: str) -> ServiceProcess:
    """A service in its own uvicorn process (one worker, as deployed), its statements counted."""
    env = {**env, "BENCH_APP": app, "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), os.environ.get("PYTHONPATH", "")])}
    return ServiceProcess(name, "_counted:create_app", port, env, log_file=root / f"{name}.log", http=protocol)


async def main(args: argparse.Namespace) -> None:
    os.environ.setdefault("TONGBAN_ENV", "development")  # the services' development secrets (key passphrase)
    n = args.n
    root = Path(tempfile.mkdtemp(prefix="bench-interop-"))
    infra = durable_infra(root, fast=args.fast)
    print(f"PostgreSQL: {await durability(infra.pg.url)}" + (" (--fast: not a deployment's figure)" if args.fast else ""))
    print(disk_line(await disk_cost(infra.pg.url)))
    issuer = TokenIssuer()

    async def token(request: Request) -> JSONResponse:
        """The gateway's client-credentials endpoint: partners' clients and svc-interop's own."""
        cid, _, _ = base64.b64decode(request.headers["authorization"].split()[1]).decode().partition(":")
        if cid == SERVICE_CLIENT:
            value = issuer.mint("service", "cases:read cases:forward", ["cases"], sub="service:interop",
                                service="interop")
        else:
            value = issuer.mint("partner", "interop:exchange", ["interop"], sub=cid, partner=CLIENTS[cid])
        return JSONResponse({"access_token": value, "expires_in": 600})

    ports = {ZS: free_port(), SZ: free_port(), "gw": free_port(), "cases": free_port(), "floor": free_port(),
             "floor-fwd": free_port()}
    urls = {k: f"http://127.0.0.1:{p}" for k, p in ports.items()}
    servers = [await serve(Starlette(routes=[Route("/auth/token", token, methods=["POST"])]), ports["gw"])]
    procs: dict[str, ServiceProcess] = {}
    nc = None
    http = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100))
    try:
        procs["cases"] = counted("cases", "tongban.cases.main:create_app", ports["cases"], service_env(
            CASES, infra.fresh_database(CASES), infra, issuer, log_level="ERROR", default_city_code=SZ),
            root, CASES.server_protocol)
        databases = {r: infra.fresh_database(SERVICE) for r in (ZS, SZ)}
        for r in (ZS, SZ):
            extra = {"cases_url": urls["cases"], "token_url": urls["gw"] + "/auth/token",
                     "service_client_id": SERVICE_CLIENT, "service_client_secret": SERVICE_SECRET} if r == SZ else {}
            procs[r] = counted(f"interop-{r}", "tongban.interop.main:create_app", ports[r], service_env(
                SERVICE, databases[r], infra, issuer, log_level="ERROR", region_code=r, public_url=urls[r],
                partner_secrets=json.dumps({(SZ if r == ZS else ZS): SECRET}), delivery_poll_seconds=0.5, **extra),
                root, SERVICE.server_protocol)
        floor_db = "bench_floor"
        infra.pg.create_database(floor_db)
        await prepare_floor_table(infra.pg.url_for(floor_db))
        for proc in procs.values():
            proc.start()
        await asyncio.gather(*(asyncio.to_thread(proc.wait_ready) for proc in procs.values()))
        # Zhongshan's signing key, as its svc-interop keeps it (the load generator signs as Zhongshan).
        engine = make_engine(databases[ZS], 1)
        ring = await identity.load_ring(make_sessionmaker(engine), ZS, "中山市", DEV_PASSPHRASE.encode())
        await engine.dispose()
        public = ring.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
        # The floors: one process as a service's (the unsigned and the signed POST), and a second
        # one whose /floor/forward calls the first's /floor/insert as svc-interop calls svc-cases.
        for name, forward in (("floor", {}), ("floor-fwd", {
                "FLOOR_FORWARD_URL": urls["floor"],
                "FLOOR_FORWARD_TOKEN": issuer.mint("service", "cases:forward", ["interop"], sub=SERVICE_CLIENT,
                                                   ttl=3600)})):
            procs[name] = ServiceProcess(name, "_floor:create_app", ports[name], {
                "FLOOR_DATABASE_URL": infra.pg.url_for(floor_db), "FLOOR_JWKS_JSON": issuer.jwks_json,
                "FLOOR_AUDIENCE": "interop", "FLOOR_SIGNER_PUBLIC_KEY": public, "FLOOR_PUBLIC_URL": urls[name],
                "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), os.environ.get("PYTHONPATH", "")]), **forward},
                log_file=root / f"{name}.log").start()
        for name in ("floor", "floor-fwd"):
            await asyncio.to_thread(procs[name].wait_ready)

        # Shenzhen's catalogue publishes the item: its svc-cases takes it into its catalogue copy.
        item = ItemPublishedV1(item_id=uuid.uuid4(), basic_code=ITEM, name="bench", item_type="20", version=1,
                               case_type="promised", promised_limit=15, promised_limit_unit="working_day",
                               status="published", record={"implementing_body_credit_code": DEPT})
        nc = await bus.connect(infra.nats.url, "bench")
        await bus.ensure_stream(nc.jetstream(), "catalog")
        await nc.jetstream().publish(ITEM_PUBLISHED, make_event("catalog", ITEM_PUBLISHED, item).model_dump_json().encode())
        # The end of a round trip: Zhongshan committed Shenzhen's case number (its event says so).
        accepted: set[str] = set()
        resent_forwards = [0]  # clerks' submissions resent after a 503
        waiting: dict[str, asyncio.Future[None]] = {}

        async def on_accepted(msg) -> None:
            case_id = json.loads(msg.data)["data"]["case_id"]
            accepted.add(case_id)
            if (done := waiting.get(case_id)) is not None and not done.done():
                done.set_result(None)

        await nc.subscribe(OUTGOING_CASE_ACCEPTED, cb=on_accepted)

        admin = {"Authorization": "Bearer " + issuer.mint("admin", "interop:admin cases:read cases:process", ["interop"])}
        ids = {r: (await http.get(f"{urls[r]}/api/v1/interop/identity")).json() for r in (ZS, SZ)}
        # Each city grants the other every exchange service, as the cross-city agreement does.
        for me, other, client, services, items in ((ZS, SZ, "zs-at-sz", CITY_SERVICES, []),
                                                   (SZ, ZS, "sz-at-zs", CITY_SERVICES, [ITEM])):
            r = await http.post(f"{urls[me]}/api/v1/interop/partners", headers=admin, json={
                "region_code": other, "name": other, "base_url": urls[other], "token_url": urls["gw"] + "/auth/token",
                "client_id": client, "services": services, "items": items, "keys": ids[other]["keys"]})
            r.raise_for_status()

        # A clerk accepts the case here for Shenzhen's item (异地受理).
        clerk = {"Authorization": "Bearer " + issuer.mint("clerk", "cases:read cases:process", ["interop"], ttl=3600)}

        async def forward() -> float:
            started = time.perf_counter()
            key = {"Idempotency-Key": str(uuid.uuid4())}
            while True:  # as a counter's client does: a 503 (busy) is resent with the same key
                r = await http.post(f"{urls[ZS]}/api/v1/interop/outgoing-cases", headers={**clerk, **key}, json={
                    "partner": SZ, "item_code": ITEM, "applicant": {"id_number": "11010519491231002X", "name": "张三"}})
                if r.status_code != 503:
                    break
                resent_forwards[0] += 1
            assert r.status_code == 201, r.text
            case_id = r.json()["id"]
            done = waiting[case_id] = asyncio.get_running_loop().create_future()
            try:
                if case_id not in accepted:
                    await asyncio.wait_for(done, timeout=600)
                return time.perf_counter() - started
            finally:
                waiting.pop(case_id, None)
                accepted.discard(case_id)

        tok = issuer.mint("partner", "interop:exchange", ["interop"], partner=ZS, ttl=3600)
        bearer = {"authorization": f"Bearer {tok}", "content-type": "application/json"}
        to_sz, to_floor, to_fwd = Http(ports[SZ], bearer), Http(ports["floor"], bearer), Http(ports["floor-fwd"], bearer)
        resent = [0]

        def case_body() -> tuple[str, bytes]:
            mid = str(uuid.uuid4())
            return mid, (f'{{"case_ref":"{uuid.uuid4()}","case_number":"B{mid[:8]}","item_code":"{ITEM}",'
                         '"applicant":{"id_number":"11010519491231002X","name":"x"}}').encode()

        async def send_signed(client: Http, base: str, path: str) -> tuple[int, bytes]:
            """Zhongshan's key signs one call (as a partner does: a 503 is resent with the same id)."""
            mid, body = case_body()
            hdrs = {signing.SENDER: ZS, signing.MESSAGE_ID: mid, signing.IDEMPOTENCY_KEY: mid}
            while True:
                signed = signing.sign_request(ring.private, ring.kid, "POST", base + path, hdrs, body)
                status, answer = await client.request("POST", path, body, {**hdrs, **signed.headers})
                if status != 503:
                    return status, answer
                resent[0] += 1

        async def signed_call(client: Http, base: str, path: str, expect: int) -> int:
            status, answer = await send_signed(client, base, path)
            assert status == expect, answer
            return status

        exchange = lambda _k: signed_call(to_sz, urls[SZ], EXCHANGE, 202)
        floor_signed = lambda _k: signed_call(to_floor, urls["floor"], "/floor/signed", 202)
        floor_forward = lambda _k: signed_call(to_fwd, urls["floor-fwd"], "/floor/forward", 202)

        async def floor_insert(_k: int) -> int:
            status, answer = await to_floor.request("POST", "/floor/insert", case_body()[1])
            assert status == 201, answer
            return status

        deadline = time.monotonic() + 60  # until svc-cases has taken the item into its catalogue copy
        while (status := (await send_signed(to_sz, urls[SZ], EXCHANGE))[0]) != 202 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert status == 202, "svc-cases never took the bench item"
        for _ in range(10):  # warm-up: connections, plans, token caches
            await forward()
            await exchange(0)
            await floor_signed(0)
            await floor_forward(0)
            await floor_insert(0)

        pg_pid = infra.pg.proc.pid
        busy = {FLOOR_UNSIGNED: ("floor",), FLOOR_SIGNED: ("floor",), FLOOR_FORWARD: ("floor-fwd", "floor"),
                SIGNED: (SZ, "cases")}
        cpu: dict[str, list[float]] = {label: [] for label in busy}
        pids = {**{p: procs[p].proc.pid for p in ("floor", "floor-fwd", SZ, "cases", ZS)}, "postgres": pg_pid}
        split: list[dict[str, float]] = []  # each process's CPU per signed exchange, by round
        split_floor: list[dict[str, float]] = []  # and per two-service floor call
        statements: dict[str, dict[str, int]] = {}
        profiles = {SZ: Profile(procs[SZ].proc.pid, root / "interop.pyspy"),
                    "cases": Profile(procs["cases"].proc.pid, root / "cases.pyspy")}
        rounds = []
        for i in range(3):
            figures = {}
            for label, call in ((FLOOR_UNSIGNED, floor_insert), (FLOOR_SIGNED, floor_signed),
                                (FLOOR_FORWARD, floor_forward), (SIGNED, exchange)):
                count = i == 0 and label == SIGNED
                if count:
                    for name in (SZ, "cases"):
                        await http.delete(urls[name] + "/bench/statements")
                sampling = [profiles[SZ], profiles["cases"]] if i == 1 and label == SIGNED and not args.cprofile else []
                deterministic = i == 1 and label == SIGNED and args.cprofile
                if deterministic:
                    for name in (SZ, "cases"):
                        await http.delete(urls[name] + "/bench/cprofile")
                for profile in sampling:
                    profile.__enter__()
                before = {p: cpu_seconds(pid) for p, pid in pids.items()}
                figures[label] = await closed_loop(call, n, args.concurrency)
                used = {p: (cpu_seconds(pid) - before[p]) * 1000 / n for p, pid in pids.items()}
                cpu[label].append(sum(used[p] for p in (*busy[label], "postgres")))
                if label == SIGNED:
                    split.append(used)
                if label == FLOOR_FORWARD:
                    split_floor.append(used)
                for profile in sampling:
                    profile.__exit__(None, None, None)
                if deterministic:
                    for name in (SZ, "cases"):
                        text = (await http.get(urls[name] + "/bench/cprofile")).text
                        Path(args.cprofile, f"{name}.cprofile.txt").write_text(text)
                if count:
                    for name, label_ in ((SZ, "svc-interop (Shenzhen)"), ("cases", "svc-cases (Shenzhen)")):
                        statements[label_] = (await http.get(urls[name] + "/bench/statements")).json()
            rounds.append(figures)
        trip = [await forward() for _ in range(n)]
        t0 = time.perf_counter()
        await asyncio.gather(*(forward() for _ in range(n)))
        forward_rate = n / (time.perf_counter() - t0)

        print(f"\nclosed loop, {args.concurrency} in flight, {n} calls each, 3 rounds back to back; each service "
              f"and the floor in its own uvicorn process (1 worker), PostgreSQL "
              f"{'fast (fsync off)' if args.fast else 'durable'}; load {os.getloadavg()[0]:.2f}")
        print(f"{'measure':52} {'calls/s by round':>26} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6} {'CPU ms':>7}")
        ratios = {}
        for label in (FLOOR_UNSIGNED, FLOOR_SIGNED, FLOOR_FORWARD, SIGNED):
            per_round = [r[label][0] for r in rounds]
            ratios[label] = statistics.median(r[label][0] / r[FLOOR_UNSIGNED][0] for r in rounds)
            lat = [x for r in rounds for x in r[label][1]]
            print(f"{label:52} {' '.join(f'{v:8.0f}' for v in per_round):>26} {pct(lat, 50):7.1f} {pct(lat, 99):7.1f} "
                  f"{ratios[label]:6.2f} {statistics.median(cpu[label]):7.2f}")
        print("(CPU ms: machine CPU per call, median of the rounds: the serving processes' and PostgreSQL's)")
        forward_split = {p: statistics.median(u[p] for u in split_floor) for p in ("floor-fwd", "floor", "postgres")}
        print("CPU ms per two-service floor call by process (median of the rounds): the signed POST's "
              f"{forward_split['floor-fwd']:.2f} (with its client call), the second service's "
              f"{forward_split['floor']:.2f}, PostgreSQL {forward_split['postgres']:.2f}")
        names = {SZ: "svc-interop Shenzhen", "cases": "svc-cases Shenzhen", "postgres": "PostgreSQL",
                 ZS: "svc-interop Zhongshan (the status messages back)", "floor": "floor (idle)"}
        print("CPU ms per signed exchange by process (median of the rounds): " + ", ".join(
            f"{names[p]} {statistics.median(u[p] for u in split):.2f}" for p in (SZ, "cases", "postgres", ZS, "floor")))
        signed_floor = statistics.median(r[SIGNED][0] / r[FLOOR_SIGNED][0] for r in rounds)
        print(f"signed exchange / signed-POST floor: {signed_floor:.2f}")
        print(f"signed exchange / the two-service floor: "
              f"{statistics.median(r[SIGNED][0] / r[FLOOR_FORWARD][0] for r in rounds):.2f}; the two-service floor "
              f"itself reaches {ratios[FLOOR_FORWARD]:.2f} of the unsigned floor: no synchronous exchange that opens "
              f"its case in a second service can reach more")
        print(f"\nforwarded case, submit in A -> B's case number in A: p50 {pct(trip, 50) * 1000:.1f} ms, "
              f"p99 {pct(trip, 99) * 1000:.1f} ms (n={n} sequential); {forward_rate:.1f} cases/s with {n} in flight")
        print(f"(calls resent after a 503: {resent[0]}; clerks' submissions resent after a 503: {resent_forwards[0]})")
        print("\nSQL statements per signed exchange (SQLAlchemy's; BEGIN/COMMIT are not statements here):")
        for label, counter in statements.items():
            gc_ = {k: v for k, v in counter.items() if k.startswith("(gc ")}
            counter = {k: v for k, v in counter.items() if k not in gc_}
            print(f"  {label}: {sum(counter.values()) / n:.1f}; garbage collector per call: " + ", ".join(
                f"{k[4:-1]} {v / n:.2f}" for k, v in sorted(gc_.items())))
            for statement, k in sorted(counter.items(), key=lambda kv: -kv[1])[:12]:
                print(f"    {k / n:5.2f}  {statement}")
        if not args.cprofile:
            print_profile("Shenzhen's svc-interop during signed exchanges", profiles[SZ].top(10))
            print_profile("Shenzhen's svc-cases during signed exchanges", profiles["cases"].top(10))
        print(f"interop_roundtrip_p99_ms: {pct(trip, 99) * 1000:.0f}")
        print(f"interop_signed_ratio: {ratios[SIGNED]:.2f}")
    finally:
        await http.aclose()
        if nc is not None:
            await nc.close()
        for proc in procs.values():
            proc.stop()
        for server, task in reversed(servers):
            server.should_exit = True
            await task
        infra.stop()
        if args.keep_profiles:
            for name in ("interop.pyspy", "cases.pyspy"):
                if (root / name).exists():
                    shutil.copy(root / name, Path(args.keep_profiles) / name)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--keep-profiles", metavar="DIR", help="copy the raw py-spy profiles into DIR")
    ap.add_argument("--cprofile", metavar="DIR", help="profile round 2's signed exchanges with cProfile (instead of "
                    "py-spy) inside Shenzhen's svc-interop and svc-cases; pstats text into DIR")
    ap.add_argument("--fast", action="store_true", help="PostgreSQL without fsync (not the goal figure)")
    asyncio.run(main(ap.parse_args()))
