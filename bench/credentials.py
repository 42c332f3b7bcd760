"""svc-credentials benchmark: presentation verification vs the floor's select by key, and holder lookup p99.

    .venv/bin/python bench/credentials.py                 # 20,000 licences
    .venv/bin/python bench/credentials.py --large 20000000  # also the 20M-row table (slow: COPY + index)
    .venv/bin/python bench/credentials.py --issue-cost 500  # only: CPU per licence issued from an approval

Starts its own PostgreSQL and NATS (from the wheels), svc-credentials under uvicorn (one worker)
and the gateway in front of it (one worker: the machine has two cores). In each of three rounds,
back to back: verification through the gateway (what a verifier's app does), the raw
select-by-key endpoint called directly, and, for context, each of them the other way. The ratio
is the median over the rounds of (verify through the gateway) / (the floor's select by key):
  verify:   POST /verifications (decode, signature check, presentation + licence lookup, audit row)
  floor:    GET  /floor/rows/<licence id> (bench/_floor.py: a minimal FastAPI endpoint, one worker,
            one select by primary key of credentials.licence)
  for context: GET /licence-status/<identifier> (the service's own select by unique key)
PostgreSQL runs as deployed (fsync, synchronous_commit, full_page_writes on; `--fast`: off).
The client is a small raw HTTP/1.1 keep-alive client, so client cost stays low on both sides.
Prints tables; the last line is `verify_ratio: <value>`.

`--issue-cost N` measures the instant-approval chain's share in svc-credentials instead: N
`cases.case.approved` events wait in the stream, the service (one uvicorn worker, its consumers
and outbox relay in-process) issues N licences (consume, issue, sign, audit, outbox, publish),
and the CPU time of the service process over that run, less its idle CPU for as long, divided by N
is the figure (last line `issue_cpu_ms: <value>`). CPU time, not wall time: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
from tongban.credentials.main import SERVICE
from tongban.shared import migrations
from tongban.shared.ids import credit_code_check_char, resident_id_check_digit
from tongban.shared.localinfra import NatsProcess, PostgresProcess, ServiceProcess, free_port

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _floor import Profile, disk_cost, disk_line, durability, print_profile, start_floor, start_postgres
from tongban.shared.testing.plugin import TokenIssuer

API = "/api/v1/credentials"
DEPT = "11442000007234512" + credit_code_check_char("11442000007234512")
TYPE_CODE = DEPT + "001"


BIRTH0 = dt.date(1950, 1, 1)


def resident(n: int) -> str:
    """A distinct valid resident ID number for each n < 20,000,000 (20,000 birth dates x 1,000)."""
    born = BIRTH0 + dt.timedelta(days=n % 20_000)
    first17 = f"442000{born:%Y%m%d}{n // 20_000 % 1000:03d}"
    return first17 + resident_id_check_digit(first17)


class RawClient:
    """Keep-alive HTTP/1.1 over asyncio streams: one request at a time per connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
                      ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = (f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(body)}\r\n"
                f"Content-Type: application/json\r\n{extra}\r\n").encode()
        self.writer.write(head + body)
        assert self.reader is not None
        status_line = await self.reader.readuntil(b"\r\n")
        length = 0
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        return int(status_line.split()[1]), payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def throughput(port: int, make, seconds: float, concurrency: int = 16) -> float:
    """Requests per second for `seconds` with `concurrency` keep-alive connections."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        client = RawClient(port)
        while time.perf_counter() < deadline:
            method, path, body, headers = make()
            status, _ = await client.request(method, path, body, headers)
            if status >= 300:
                raise RuntimeError(f"{method} {path} answered {status}")
            done += 1
        await client.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


async def lookup_p99(port: int, tokens: list[str], n: int) -> tuple[float, float]:
    """(p50, p99) ms of GET /me/licences, one request at a time, random holders."""
    client = RawClient(port)
    times = []
    for _ in range(n):
        started = time.perf_counter()
        status, _ = await client.request("GET", f"{API}/me/licences?limit=20", headers={
            "Authorization": f"Bearer {random.choice(tokens)}"})
        times.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"wallet answered {status}")
    await client.close()
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99)]


async def load_licences(dsn: str, count: int, holders: int, kid: str) -> float:
    """COPY `count` licence rows spread over `holders` holders (bench fill: unsigned rows); returns
    the seconds it took. A large load drops the table's constraints and secondary indexes first and
    rebuilds them after (as a bulk import would), instead of maintaining them row by row."""
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    per_list = 65_536
    lists = count // per_list + 2
    await conn.execute("INSERT INTO credentials.status_list (id, size, allocated) "
                       "SELECT g, 131072, 65536 FROM generate_series(1000, 999 + $1) g", lists)
    rebuild: list[str] = []
    if count >= 1_000_000:
        constraints = await conn.fetch("SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint "
                                       "WHERE conrelid = 'credentials.licence'::regclass AND contype IN ('u', 'f')")
        indexes = await conn.fetch("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'credentials' "
                                   "AND tablename = 'licence' AND indexname NOT IN (SELECT conname FROM pg_constraint "
                                   "WHERE conrelid = 'credentials.licence'::regclass)")
        for c in constraints:
            await conn.execute(f'ALTER TABLE credentials.licence DROP CONSTRAINT "{c["conname"]}"')
            rebuild.append(f'ALTER TABLE credentials.licence ADD CONSTRAINT "{c["conname"]}" {c["def"]}')
        for i in indexes:
            await conn.execute(f'DROP INDEX credentials."{i["indexname"]}"')
            rebuild.insert(0, i["indexdef"])
    now = dt.datetime.now(dt.UTC)
    today = now.date()
    data = json.dumps({"business_scope": "x", "address": "y"})
    columns = ["id", "identifier", "type_code", "issuer_code", "serial", "version", "holder_type", "holder_id",
               "holder_name", "data", "valid_from", "issued_at", "status", "kid", "algorithm", "signature",
               "status_list_id", "status_index", "created_by"]
    batch = 200_000
    for start in range(0, count, batch):
        rows = [(uuid.uuid4(), f"bench.{i}", TYPE_CODE, DEPT, 900_000_000 + i, 1, "111", resident(i % holders),
                 "持证人", data, today, now - dt.timedelta(seconds=i), "valid", kid, "Ed25519", "bench",
                 1000 + i // per_list, i % per_list, "bench") for i in range(start, min(count, start + batch))]
        await conn.copy_records_to_table("licence", schema_name="credentials", columns=columns, records=rows)
    await conn.execute("SET maintenance_work_mem = '1GB'")
    for statement in rebuild:
        await conn.execute(statement)
    await conn.execute("ANALYZE credentials.licence")
    await conn.close()
    return time.perf_counter() - started


async def table_size(dsn: str) -> tuple[int, int]:
    conn = await asyncpg.connect(dsn)
    row = await conn.fetchrow("SELECT pg_table_size('credentials.licence'), pg_indexes_size('credentials.licence')")
    await conn.close()
    return int(row[0]), int(row[1])


def rss_mb(proc) -> float:
    import psutil

    return psutil.Process(proc.pid).memory_info().rss / 2 ** 20


def start_gateway(root: Path, pg: PostgresProcess, nats: NatsProcess, upstream_port: int) -> ServiceProcess:
    from tongban.gateway.main import SERVICE as GATEWAY

    pg.create_database("gateway")
    db = pg.url_for("gateway")
    migrations.upgrade(GATEWAY.root, db)
    gateway = ServiceProcess("gateway", "tongban.gateway.main:create_app", free_port(), {
        "GATEWAY_DATABASE_URL": db, "GATEWAY_NATS_URL": nats.url, "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_CREDENTIALS_URL": f"http://127.0.0.1:{upstream_port}",
        # One client makes all the load here; the per-caller limit is not what is measured.
        "GATEWAY_RATE_LIMIT_PER_SECOND": "1000000", "GATEWAY_RATE_LIMIT_BURST": "1000000"},
        log_file=root / "gateway.log").start()
    gateway.wait_ready()
    return gateway


async def scenario(root: Path, pg: PostgresProcess, nats: NatsProcess, issuer: TokenIssuer, rows: int,
                   verify_round: bool, seconds: float) -> dict:
    db = f"bench_{rows}"
    pg.create_database(db)
    dsn = pg.url_for(db)
    await asyncio.to_thread(migrations.upgrade, SERVICE.root, dsn)
    port = free_port()
    env = {"CREDENTIALS_DATABASE_URL": dsn, "CREDENTIALS_NATS_URL": nats.url, "CREDENTIALS_JWKS_JSON":
           issuer.jwks_json, "CREDENTIALS_LOG_LEVEL": "WARNING", "CREDENTIALS_KEY_DIR": str(root / f"keys-{rows}")}
    svc = ServiceProcess("credentials", "tongban.credentials.main:create_app", port, env,
                         log_file=root / f"svc-{rows}.log").start()
    await asyncio.to_thread(svc.wait_ready)
    out: dict = {"rows": rows}
    try:
        base = f"http://127.0.0.1:{port}{API}"
        admin = {"Authorization": "Bearer " + issuer.mint("admin", "credentials:admin", ["credentials"])}
        approver = {"Authorization": "Bearer " + issuer.mint("approver", "credentials:issue", ["credentials"],
                                                             department=DEPT)}
        holder = resident(10_000_019)
        citizen = {"Authorization": "Bearer " + issuer.mint("citizen", "credentials:read", ["credentials"],
                                                            id_number=holder, real_name_level="verified")}
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(f"{base}/licence-types", headers=admin, json={
                "code": TYPE_CODE, "name": "食品经营许可证", "issuer_code": DEPT, "issuer_name": "市场监督管理局",
                "holder_type": "111", "fields": [{"name": "business_scope"}, {"name": "address", "personal": True}]})
            r.raise_for_status()
            lic = (await http.post(f"{base}/licences", headers=approver, json={
                "type_code": TYPE_CODE, "holder_id": holder, "holder_name": "张三",
                "data": {"business_scope": "预包装食品销售", "address": "中山市东区"}})).json()
            r = await http.post(f"{base}/licences/{lic['id']}/presentations", headers=citizen,
                                json={"fields": ["business_scope"], "single_use": False})
            if r.status_code != 201:
                raise SystemExit(f"presentation refused: {r.status_code} {r.text}")
            qr = r.json()["qr"]
        out["load_seconds"] = await load_licences(dsn, rows, max(1, rows // 4), lic["kid"])
        out["table_bytes"], out["index_bytes"] = await table_size(dsn)
        if verify_round:
            gateway = await asyncio.to_thread(start_gateway, root, pg, nats, port)
            floor = await asyncio.to_thread(start_floor, root, dsn, 1, issuer.jwks_json, "credentials",
                                            "credentials.licence")
            profile = Profile(svc.proc.pid, root / "credentials.pyspy")
            try:
                body = json.dumps({"presentation": qr}).encode()
                verify = ("POST", f"{API}/verifications", body, None)
                raw = ("GET", f"{API}/licence-status/{lic['identifier']}", b"", None)
                runs = {"floor": (floor.port, ("GET", f"/floor/rows/{lic['id']}", b"", None)),
                        "verify_gw": (gateway.port, verify), "select_direct": (port, raw),
                        "verify_direct": (port, verify), "select_gw": (gateway.port, raw)}
                for target, request in runs.values():  # warm-up: connections, caches
                    await throughput(target, lambda request=request: request, 1.0)
                rounds = []
                for i in range(3):
                    rounds.append({})
                    for name, (target, request) in runs.items():
                        with profile if i == 1 and name == "verify_direct" else contextlib.nullcontext():
                            rounds[-1][name] = await throughput(target, lambda request=request: request, seconds)
                out["rounds"] = rounds
                out["profile"] = profile.top(10)
            finally:
                gateway.stop()
                floor.stop()
        tokens = [issuer.mint("citizen", "credentials:read", ["credentials"], ttl=3600,
                              id_number=resident(random.randrange(max(1, rows // 4))), real_name_level="verified")
                  for _ in range(300)]
        await lookup_p99(port, tokens, 200)  # warm-up
        out["p50"], out["p99"] = await lookup_p99(port, tokens, 2000)
        out["rss_mb"] = rss_mb(svc.proc)
    finally:
        svc.stop()
    return out


async def issue_cost(root: Path, pg: PostgresProcess, nats: NatsProcess, issuer: TokenIssuer, n: int) -> dict:
    import psutil
    from tongban.shared.contracts.cases import CASE_APPROVED, CaseApprovedV1
    from tongban.shared.events import bus
    from tongban.shared.events.envelope import make_event

    pg.create_database("bench_issue")
    dsn = pg.url_for("bench_issue")
    await asyncio.to_thread(migrations.upgrade, SERVICE.root, dsn)
    port = free_port()
    env = {"CREDENTIALS_DATABASE_URL": dsn, "CREDENTIALS_NATS_URL": nats.url, "CREDENTIALS_JWKS_JSON":
           issuer.jwks_json, "CREDENTIALS_LOG_LEVEL": "WARNING", "CREDENTIALS_KEY_DIR": str(root / "keys-issue")}
    svc = ServiceProcess("credentials", "tongban.credentials.main:create_app", port, env,
                         log_file=root / "svc-issue.log").start()
    await asyncio.to_thread(svc.wait_ready)
    conn = await asyncpg.connect(dsn)
    try:
        admin = {"Authorization": "Bearer " + issuer.mint("admin", "credentials:admin", ["credentials"])}
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(f"http://127.0.0.1:{port}{API}/licence-types", headers=admin, json={
                "code": TYPE_CODE, "name": "食品经营许可证", "issuer_code": DEPT, "issuer_name": "市场监督管理局",
                "holder_type": "111", "fields": [{"name": "business_scope"}, {"name": "address", "personal": True}]})
            r.raise_for_status()
        nc = await bus.connect(nats.url, "bench-issue")
        js = nc.jetstream()
        await bus.ensure_stream(js, "cases")

        async def approve(i: int) -> None:
            case_id = uuid.uuid4()
            event = make_event("cases", CASE_APPROVED, CaseApprovedV1(
                case_id=case_id, case_number=f"ZS-BENCH-{i}", item_basic_code="442010000100",
                applicant_type="person", applicant_id=resident(i), applicant_name="张三",
                result_licence_type_code=TYPE_CODE, department=DEPT, approved_at=dt.datetime.now(dt.UTC),
                data={"business_scope": "预包装食品销售", "address": "中山市东区", "form_only": "x"}),
                subject=str(case_id))
            await js.publish(CASE_APPROVED, event.model_dump_json().encode(), headers={"Nats-Msg-Id": str(event.id)})

        async def count() -> tuple[int, int]:
            row = await conn.fetchrow("SELECT (SELECT count(*) FROM credentials.licence), (SELECT count(*) FROM "
                                      "credentials.outbox WHERE published_at IS NULL)")
            return int(row[0]), int(row[1])

        proc = psutil.Process(svc.proc.pid)

        def cpu() -> float:
            t = proc.cpu_times()
            return t.user + t.system

        await approve(-1)   # warm-up: the issuer's key, the first status list, prepared statements
        while (await count()) != (1, 0):
            await asyncio.sleep(0.05)
        c0, w0 = cpu(), time.monotonic()
        await asyncio.sleep(2.0)
        idle_per_s = (cpu() - c0) / (time.monotonic() - w0)
        c0, w0 = cpu(), time.monotonic()
        for i in range(n):
            await approve(i)
        while (await count()) != (n + 1, 0):
            await asyncio.sleep(0.02)
        wall = time.monotonic() - w0
        used = cpu() - c0 - idle_per_s * wall
        await nc.close()
    finally:
        await conn.close()
        svc.stop()
    return {"n": n, "cpu_ms": used / n * 1000, "wall_s": wall, "idle_ms_per_s": idle_per_s * 1000}


async def main() -> None:
    # The services' development secrets (key passphrases): a bench is a development run.
    os.environ.setdefault("TONGBAN_ENV", "development")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--large", type=int, default=0, help="also measure a table of this many rows (20000000)")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--issue-cost", type=int, default=0, metavar="N",
                        help="only measure the service's CPU per licence issued from N approvals")
    parser.add_argument("--fast", action="store_true", help="PostgreSQL without fsync (not the goal figure)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-credentials-"))
    pg = start_postgres(root, fast=args.fast)
    print(f"PostgreSQL: {await durability(pg.url)}" + (" (--fast: not a deployment's figure)" if args.fast else ""))
    print(disk_line(await disk_cost(pg.url)))
    nats = NatsProcess(root / "nats").start()
    issuer = TokenIssuer()
    if args.issue_cost:
        try:
            cost = await issue_cost(root, pg, nats, issuer, args.issue_cost)
        finally:
            nats.stop()
            pg.stop()
            shutil.rmtree(root, ignore_errors=True)
        print("\nLicences issued from cases.case.approved (svc-credentials process, 1 uvicorn worker, consumers "
              "and relay in-process)")
        print(f"{'approvals':>9} | {'wall s':>6} | {'idle CPU ms/s':>13} | {'CPU ms per issue':>16}")
        print(f"{cost['n']:>9} | {cost['wall_s']:>6.1f} | {cost['idle_ms_per_s']:>13.1f} | {cost['cpu_ms']:>16.2f}")
        print(f"issue_cpu_ms: {cost['cpu_ms']:.2f}")
        return
    try:
        small = await scenario(root, pg, nats, issuer, args.rows, True, args.seconds)
        large = await scenario(root, pg, nats, issuer, args.large, False, args.seconds) if args.large else None
    finally:
        nats.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)

    print("\nPresentation verification vs raw select-by-key (req/s; svc-credentials and gateway 1 uvicorn worker "
          "each, 16 keep-alive connections)")
    print(f"{'round':>5} | {'floor select':>12} | {'verify via gw':>13} | {'ratio':>6} | {'select direct':>13} | "
          f"{'verify direct':>13} | {'ratio':>6} | {'select via gw':>13}")
    ratios, direct = [], []
    for i, r in enumerate(small["rounds"], 1):
        ratios.append(r["verify_gw"] / r["floor"])
        direct.append(r["verify_direct"] / r["floor"])
        print(f"{i:>5} | {r['floor']:>12.0f} | {r['verify_gw']:>13.0f} | {ratios[-1]:>6.2f} | "
              f"{r['select_direct']:>13.0f} | {r['verify_direct']:>13.0f} | {direct[-1]:>6.2f} | {r['select_gw']:>13.0f}")
    ratio = statistics.median(ratios)
    print("ratio = verify (through the gateway; direct) / the floor's select by key (bench/_floor.py: a minimal "
          "FastAPI endpoint, one worker, one select by primary key of the licence table); goal >= 0.5; "
          f"direct median {statistics.median(direct):.2f}")
    print_profile("svc-credentials during verify direct, round 2", small["profile"])

    print("\nHolder lookup (GET /me/licences?limit=20, one at a time, random holders, 2000 requests)")
    print(f"{'licences':>12} | {'p50 ms':>7} | {'p99 ms':>7} | {'table MiB':>9} | {'indexes MiB':>11} | "
          f"{'svc RSS MiB':>11} | {'COPY+index s':>12}")
    for r in (small, large):
        if r is not None:
            print(f"{r['rows']:>12,} | {r['p50']:>7.2f} | {r['p99']:>7.2f} | {r['table_bytes'] / 2**20:>9.1f} | "
                  f"{r['index_bytes'] / 2**20:>11.1f} | {r['rss_mb']:>11.0f} | {r['load_seconds']:>12.0f}")
    if large is not None:
        print(f"large/small p99: {large['p99'] / small['p99']:.2f}")
    print(f"verify_ratio: {ratio:.2f}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
