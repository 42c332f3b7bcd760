"""Calling next (叫号) under load: 50 counters against 2,000 waiting tickets per round, and SSE fan-out.

Starts a throw-away PostgreSQL (migrated with svc-queue's own migrations) and NATS, runs
svc-queue under uvicorn (one worker, its outbox relay in-process) and drives it over HTTP:

1. baseline: 50 concurrent clients take tickets (`POST /halls/{id}/tickets`: one insert
   transaction each, with its number, audit record, outbox event and NOTIFY), tickets/s;
2. calls: 50 counters, each with its own signed-in clerk, press 下一位 in a loop until nobody
   waits (`POST /counters/{id}/call-next`: close the previous ticket, claim the next with
   `FOR UPDATE SKIP LOCKED`, audit, outbox, NOTIFY), calls/s;
   1 and 2 alternate in rounds (4,000 tickets in all, 2,000 per round by default: the whole
   run stays under about three minutes on a quiet 2-core machine), so machine
   noise hits both alike; the ratio is the median of the rounds' ratios. Afterwards every answer
   and the database are checked: a ticket called twice, or never called, is counted;
3. SSE fan-out: 500 display clients follow the hall's event stream; for each of 20 calls, the
   time from sending the call to each client reading it.

The floor, in every round, before the two: the same 50 clients POST to a minimal FastAPI endpoint
(bench/_floor.py: one uvicorn worker, the shared engine's pool of the same size, the same token
check) doing one insert transaction. PostgreSQL runs as deployed (fsync, synchronous_commit,
full_page_writes on; `--fast` turns them off and says so). The ratios are each rate over the
floor's in the same round, medians over the rounds. The floor's own latency under the same clients
is printed beside call-next's: in a closed loop the mean latency is clients / rate, so it says
what latency the floor's rate buys. A raw asyncpg insert rate (no HTTP) and the
disk's cost (durable vs synchronous_commit=off) are printed for scale; with py-spy installed,
svc-queue's top frames during one round (`--profile-out FILE` keeps the raw samples).

The floor, take-ticket and call-next load all goes through one lean generator (`_floor.Http`; httpx
only sets up and drives the SSE part), and each phase's machine CPU per operation (the server
process and every PostgreSQL process, from /proc via psutil) is printed beside the rates: on a
shared machine it moves far less than they do.

    .venv/bin/python bench/queue_calls.py [--tickets 4000] [--rounds 2] [--counters 50] [--sse-clients 500] [--fast]
                                          [--statements 12]

`--statements N` (diagnosis: it costs PostgreSQL a little CPU) loads pg_stat_statements and
auto_explain (PostgreSQL restarted once before the run) and prints, for round 2's calls, the top N
statements by total time per call, the ticket table's and its indexes' reads per call, and the
plans (EXPLAIN ANALYZE, BUFFERS) auto_explain logged for a sample of the calling statements: the
median and the slowest one.

The last line is `queue_floor_ratio: <min of the two median ratios> double_calls: <n> lost: <n>`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import psutil
from tongban.queue.main import SERVICE
from tongban.shared import migrations
from tongban.shared.localinfra import NatsProcess, ServiceProcess, free_port
from tongban.shared.testing.plugin import TokenIssuer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _floor import (
    Http,
    Profile,
    disk_cost,
    disk_line,
    durability,
    prepare_floor_table,
    print_profile,
    start_floor,
    start_postgres,
)

BASE = "/api/v1/queue"
ALL_WEEK = {str(d): {"opens": "00:00", "closes": "23:59:59"} for d in range(1, 8)}
CATEGORIES = "ABC"
WEIGHTS = ["low", "normal", "high"]


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def table(title: str, header: list[str], rows: list[list[object]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)))


async def raw_insert_rate(url: str, clients: int, seconds: float) -> float:
    """Single-row insert transactions straight into PostgreSQL (no HTTP): scale, not the baseline."""
    conn = await asyncpg.connect(url)
    await conn.execute("CREATE TABLE IF NOT EXISTS bench_insert (id bigserial primary key, body text)")
    await conn.close()
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        c = await asyncpg.connect(url)
        while time.perf_counter() < deadline:
            async with c.transaction():
                await c.execute("INSERT INTO bench_insert (body) VALUES ($1)", "x")
            done += 1
        await c.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return done / (time.perf_counter() - started)


async def setup(http: httpx.AsyncClient, issuer: TokenIssuer, counters: int) -> tuple[str, list[tuple[str, dict]]]:
    admin = {"Authorization": "Bearer " + issuer.mint("admin", "queue:admin", ["queue"], sub="admin")}
    r = await http.post(f"{BASE}/halls", headers=admin, json={
        "name": "中山市民服务中心", "region_code": "442000", "address": "东区松苑路1号", "latitude": 22.5176,
        "longitude": 113.3926, "opening_hours": ALL_WEEK,
        "categories": [{"code": c, "name": c} for c in CATEGORIES]})
    r.raise_for_status()
    hall = r.json()["id"]
    out = []
    for i in range(counters):
        skills = [{"category": c, "weight": WEIGHTS[(i + k) % 3]} for k, c in enumerate(CATEGORIES)]
        c = await http.post(f"{BASE}/halls/{hall}/counters", headers=admin, json={"number": str(i + 1), "skills": skills})
        c.raise_for_status()
        clerk = {"Authorization": "Bearer " + issuer.mint("clerk", "queue:operate", ["queue"], sub=f"clerk-{i}",
                                                          hall=hall, ttl=3600)}
        (await http.post(f"{BASE}/counters/{c.json()['id']}/sign-in", headers=clerk)).raise_for_status()
        out.append((c.json()["id"], clerk))
    return hall, out


JSON = {"content-type": "application/json"}


class Lean(Http):
    """`_floor.Http`, reading a 204 (no Content-Length: nobody waits) as an empty answer."""

    async def _send(self, conn, method, path, body, headers):  # noqa: ANN001, ANN202
        reader, writer = conn
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        writer.write(f"{method} {path} HTTP/1.1\r\nhost: bench\r\n{self.headers}{extra}"
                     f"content-length: {len(body)}\r\n\r\n".encode() + body)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        size = next((int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                     if line.startswith(b"content-length:")), 0)
        answer = await reader.readexactly(size) if size else b""
        self.idle.append(conn)
        return status, answer


async def statements(url: str, limit: int) -> list[dict]:
    """The database's top `limit` statements by total execution time since the last reset."""
    conn = await asyncpg.connect(url)
    try:
        return [dict(r) for r in await conn.fetch(
            "SELECT calls, total_exec_time AS ms, rows, shared_blks_hit + shared_blks_read AS blks, query "
            "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "ORDER BY total_exec_time DESC LIMIT $1", limit)]
    finally:
        await conn.close()


async def table_reads(url: str) -> dict[str, float]:
    """The ticket table's and its indexes' cumulative reads (pg_stat_user_tables / _indexes)."""
    conn = await asyncpg.connect(url)
    try:
        out = {}
        t = await conn.fetchrow("SELECT seq_scan, seq_tup_read, idx_scan, idx_tup_fetch, n_tup_upd, n_tup_hot_upd, "
                                "n_dead_tup, n_live_tup FROM pg_stat_user_tables "
                                "WHERE schemaname = 'queue' AND relname = 'ticket'")
        out.update({f"ticket {k}": float(v or 0) for k, v in t.items()})
        for r in await conn.fetch("SELECT indexrelname, idx_scan, idx_tup_read, idx_tup_fetch FROM pg_stat_user_indexes "
                                  "WHERE schemaname = 'queue' AND relname = 'ticket'"):
            for k in ("idx_scan", "idx_tup_read", "idx_tup_fetch"):
                out[f"{r['indexrelname']} {k}"] = float(r[k] or 0)
        return out
    finally:
        await conn.close()


def logged_plans(log: Path, marker: str) -> list[tuple[float, str]]:
    """auto_explain's plans in PostgreSQL's log of statements containing `marker`: (ms, plan)."""
    plans, text_ = [], log.read_text(errors="replace") if log.exists() else ""
    for chunk in text_.split("duration: ")[1:]:
        if marker in chunk:
            ms = float(chunk.split(" ms", 1)[0])
            plans.append((ms, chunk.split("\n", 1)[1] if "\n" in chunk else chunk))
    return sorted(plans)


def ok(status: int, body: bytes) -> bytes:
    if not 200 <= status < 300:
        raise SystemExit(f"HTTP {status}: {body[:300]!r}")
    return body


class CpuMeter:
    """CPU seconds (user + system) of a server process and of PostgreSQL (every process of the
    instance: backends, WAL writer, checkpointer): the machine's cost of a phase, less noisy than
    its rate on a shared machine."""

    def __init__(self, server_pid: int, postmaster_pid: int) -> None:
        self.server, self.postmaster = psutil.Process(server_pid), psutil.Process(postmaster_pid)

    def read(self) -> tuple[float, float]:
        t = self.server.cpu_times()
        pg = 0.0
        for proc in [self.postmaster, *self.postmaster.children()]:
            try:
                c = proc.cpu_times()
                pg += c.user + c.system
            except psutil.NoSuchProcess:
                pass
        return t.user + t.system, pg


async def metered(meter: CpuMeter, run, ops_of):  # noqa: ANN001, ANN201
    """`run()`'s result and the (server, PostgreSQL) CPU ms per operation it used."""
    a = meter.read()
    out = await run()
    b = meter.read()
    n = max(1, ops_of(out))
    return out, ((b[0] - a[0]) * 1000 / n, (b[1] - a[1]) * 1000 / n)


async def take_tickets(http: Http, hall: str, kiosk: dict, n: int, clients: int,
                       keyed: bool = False) -> tuple[list[str], float]:
    """`keyed`: every ticket taken with a fresh Idempotency-Key (claimed, its answer stored)."""
    issued: list[str] = []
    counter = iter(range(n))
    headers = {**kiosk, **JSON}

    async def worker() -> None:
        for i in counter:
            body = json.dumps({"category": CATEGORIES[i % 3],
                               **({"green_reason": "elderly"} if i % 9 == 0 else {})}).encode()
            sent = {**headers, "Idempotency-Key": uuid.uuid4().hex} if keyed else headers
            issued.append(json.loads(ok(*await http.request("POST", f"{BASE}/halls/{hall}/tickets", body,
                                                             sent)))["id"])

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return issued, len(issued) / (time.perf_counter() - started)


async def floor_inserts(http: Http, kiosk: dict, n: int, clients: int) -> tuple[float, list[float]]:
    """The floor: the same clients, the same load generator, the same token, one insert
    transaction per POST. Its rate and latencies (s)."""
    todo = iter(range(n))
    headers = {**kiosk, **JSON}
    latencies: list[float] = []

    async def worker() -> None:
        for i in todo:
            t = time.perf_counter()
            ok(*await http.request("POST", "/floor/insert", json.dumps({"category": CATEGORIES[i % 3]}).encode(),
                                   headers))
            latencies.append(time.perf_counter() - t)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return n / (time.perf_counter() - started), latencies


async def call_all(http: Http, counters: list[tuple[str, dict]]) -> tuple[list[str], float, list[float]]:
    calls: list[str] = []
    latencies: list[float] = []
    gate = asyncio.Event()

    async def counter_loop(counter_id: str, clerk: dict) -> None:
        await gate.wait()
        while True:
            t = time.perf_counter()
            status, body = await http.request("POST", f"{BASE}/counters/{counter_id}/call-next", b"", clerk)
            if status == 204:
                return
            ok(status, body)
            latencies.append(time.perf_counter() - t)
            calls.append(json.loads(body)["id"])

    tasks = [asyncio.create_task(counter_loop(c, h)) for c, h in counters]
    await asyncio.sleep(0)
    started = time.perf_counter()
    gate.set()
    await asyncio.gather(*tasks)
    return calls, len(calls) / (time.perf_counter() - started), latencies


class SseClient:
    """A display client on a raw socket (lighter than an HTTP library: 500 of them share one core)."""

    def __init__(self, port: int, path: str) -> None:
        self.port, self.path = port, path
        self.snapshot = asyncio.Event()
        self.seen: dict[str, float] = {}
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(f"GET {self.path} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n".encode())
        kind = None
        try:
            while line := await reader.readline():
                if line.startswith(b"event: "):
                    kind = line[7:].strip().decode()
                    if kind == "snapshot":
                        self.snapshot.set()
                elif line.startswith(b"data: ") and kind == "called":
                    self.seen[json.loads(line[6:])["number"]] = time.perf_counter()
        finally:
            writer.close()


async def fan_out(http: httpx.AsyncClient, port: int, hall: str, kiosk: dict, counter: tuple[str, dict],
                  clients: int, calls: int) -> tuple[list[float], list[float]]:
    sse = [SseClient(port, f"{BASE}/halls/{hall}/events") for _ in range(clients)]
    for i in range(0, clients, 50):
        for c in sse[i:i + 50]:
            c.task = asyncio.create_task(c.run())
        await asyncio.wait_for(asyncio.gather(*(c.snapshot.wait() for c in sse[i:i + 50])), 60)
    for _ in range(calls):
        (await http.post(f"{BASE}/halls/{hall}/tickets", headers=kiosk, json={"category": "A"})).raise_for_status()
    every, slowest = [], []
    for _ in range(calls):
        sent = time.perf_counter()
        r = await http.post(f"{BASE}/counters/{counter[0]}/call-next", headers=counter[1])
        r.raise_for_status()
        number = r.json()["number"]
        deadline = time.perf_counter() + 30
        while sum(number in c.seen for c in sse) < clients and time.perf_counter() < deadline:
            await asyncio.sleep(0.005)
        got = [c.seen[number] - sent for c in sse if number in c.seen]
        if len(got) < clients:
            raise SystemExit(f"call {number} reached only {len(got)} of {clients} display clients in 30 s")
        every += got
        slowest.append(max(got))
    for c in sse:
        assert c.task is not None
        c.task.cancel()
    await asyncio.gather(*(c.task for c in sse if c.task), return_exceptions=True)
    return every, slowest


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    root.chmod(0o755)
    pg = start_postgres(root, fast=args.fast)
    if args.statements:
        pg.psql("ALTER SYSTEM SET shared_preload_libraries = pg_stat_statements, auto_explain")
        pg.psql("ALTER SYSTEM SET pg_stat_statements.track = 'all'")
        for name, value in (("log_analyze", "on"), ("log_buffers", "on"), ("log_level", "warning"),
                            ("sample_rate", "0.05"), ("log_min_duration", "-1"), ("log_timing", "on")):
            pg.psql(f"ALTER SYSTEM SET auto_explain.{name} = '{value}'")
        pg.stop()
        pg.start()
    nats = NatsProcess(root / "nats").start()
    svc = floor = lean = floor_http = None
    try:
        pg.create_database("queue")
        url = pg.url_for("queue")
        if args.statements:
            pg.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", "queue")
        print(f"PostgreSQL: {await durability(url)}" + (" (--fast: not a deployment's figure)" if args.fast else ""))
        print(disk_line(await disk_cost(url)))
        await asyncio.to_thread(migrations.upgrade, SERVICE.root, url)
        await prepare_floor_table(url)
        issuer = TokenIssuer()
        port = free_port()
        env = {"QUEUE_DATABASE_URL": url, "QUEUE_NATS_URL": nats.url, "QUEUE_JWKS_JSON": issuer.jwks_json,
               "QUEUE_LOG_LEVEL": "WARNING", "QUEUE_DB_POOL_SIZE": "30"}
        svc = ServiceProcess("queue", "tongban.queue.main:create_app", port, env, log_file=root / "queue.log")
        svc.start()
        floor = await asyncio.to_thread(start_floor, root, url, 1, issuer.jwks_json, "queue", None, None, 30)
        await asyncio.to_thread(svc.wait_ready)
        profile = Profile(svc.proc.pid, root / "queue.pyspy")
        limits = httpx.Limits(max_connections=args.counters + 10, max_keepalive_connections=args.counters + 10)
        # The measured load (floor, take, call) goes through one lean generator (_floor.Http):
        # httpx's own CPU would compete with the servers on this machine's cores.
        lean, floor_http = Lean(port), Lean(int(floor.url.rsplit(":", 1)[1]))
        meter, floor_meter = CpuMeter(svc.proc.pid, pg.proc.pid), CpuMeter(floor.proc.pid, pg.proc.pid)
        cpu: list[tuple[float, float, float, float, float, float]] = []
        async with httpx.AsyncClient(base_url=svc.url, timeout=60, limits=limits) as http:
            hall, counters = await setup(http, issuer, args.counters)
            kiosk = {"Authorization": "Bearer " + issuer.mint("clerk", "queue:operate", ["queue"], sub="kiosk",
                                                              hall=hall, ttl=3600)}
            raw = await raw_insert_rate(url, args.counters, 3.0)
            issued, calls, latencies, rounds, floor_latencies = [], [], [], [], []
            per_round = args.tickets // args.rounds
            for r in range(args.rounds):
                n = per_round if r < args.rounds - 1 else args.tickets - per_round * (args.rounds - 1)
                (floor_rate, floor_lat), fc = await metered(
                    floor_meter, lambda n=n: floor_inserts(floor_http, kiosk, n, args.counters), lambda _: n)
                floor_latencies += floor_lat
                sampled = r == 1
                if sampled and args.profile_phase in ("both", "take"):
                    profile.__enter__()
                (got, insert_rate), tc = await metered(
                    meter, lambda n=n: take_tickets(lean, hall, kiosk, n, args.counters, args.idempotency_keys), lambda o: len(o[0]))
                if sampled and args.profile_phase == "take":
                    profile.__exit__(None, None, None)
                if sampled and args.profile_phase == "call":
                    profile.__enter__()
                if sampled and args.statements:
                    pg.psql("SELECT pg_stat_statements_reset()", "queue")
                    pg.psql("ALTER SYSTEM SET auto_explain.log_min_duration = 0")
                    pg.psql("SELECT pg_reload_conf()")
                    reads_before = await table_reads(url)
                (answered, call_rate, lat), cc = await metered(
                    meter, lambda: call_all(lean, counters), lambda o: len(o[0]))
                if sampled and args.statements:
                    pg.psql("ALTER SYSTEM SET auto_explain.log_min_duration = -1")
                    pg.psql("SELECT pg_reload_conf()")
                    await asyncio.sleep(1.1)  # PostgreSQL publishes its statistics at most once a second
                    n_calls = max(1, len(answered))
                    reads_after = await table_reads(url)
                    diagnosis = (n_calls, await statements(url, args.statements),
                                 {k: (v - reads_before.get(k, 0)) / n_calls for k, v in reads_after.items()},
                                 logged_plans(pg.datadir / "server.log", "FOR UPDATE SKIP LOCKED"))
                if sampled and args.profile_phase in ("both", "call"):
                    profile.__exit__(None, None, None)
                cpu.append((*fc, *tc, *cc))
                issued += got
                calls += answered
                latencies += lat
                rounds.append((r + 1, floor_rate, len(got), insert_rate, len(answered), call_rate))

            conn = await asyncpg.connect(url)
            db_called = await conn.fetch("SELECT envelope->'data'->>'ticket_id' AS id FROM queue.outbox "
                                         "WHERE subject = 'queue.ticket.called'")
            not_done = await conn.fetchval("SELECT count(*) FROM queue.ticket WHERE status <> 'done'")
            await conn.close()
            per_ticket = collections.Counter(calls)
            per_ticket_db = collections.Counter(r["id"] for r in db_called)
            double_calls = sum(1 for n in per_ticket.values() if n > 1) + sum(1 for n in per_ticket_db.values() if n > 1)
            lost = len(set(issued) - set(calls)) + not_done

            every, slowest = await fan_out(http, port, hall, kiosk, counters[0], args.sse_clients, args.sse_calls)

        take_ratio = statistics.median(tr / fr for _, fr, _, tr, _, _ in rounds)
        call_ratio = statistics.median(cr / fr for _, fr, _, _, _, cr in rounds)
        mode = "fast (fsync off)" if args.fast else "durable"
        table(f"Throughput per round ({args.counters} concurrent clients, PostgreSQL {mode}; raw asyncpg INSERT "
              f"transactions, no HTTP: {raw:,.0f}/s, for scale only)",
              ["round", "floor insert/s", "tickets", "take ticket/s", "ratio", "calls", "call next/s", "ratio"],
              [[n, f"{fr:,.1f}", t, f"{tr:,.1f}", f"{tr / fr:.2f}", c, f"{cr:,.1f}", f"{cr / fr:.2f}"]
               for n, fr, t, tr, c, cr in rounds])
        print(f"median ratios to the floor: take ticket {take_ratio:.2f}, call next {call_ratio:.2f}")
        table("Machine CPU per operation, ms (server process + PostgreSQL, medians over the rounds)",
              ["operation", "server", "PostgreSQL", "total"],
              [[name, f"{statistics.median(c[i] for c in cpu):.2f}", f"{statistics.median(c[i + 1] for c in cpu):.2f}",
                f"{statistics.median(c[i] + c[i + 1] for c in cpu):.2f}"]
               for name, i in (("floor insert", 0), ("take ticket", 2), ("call next", 4))])
        table("Correctness", ["check", "value"], [
            ["tickets issued", len(issued)], ["calls answered", len(calls)],
            ["tickets called twice (answers + outbox events)", double_calls],
            ["tickets never called or not closed", lost],
            ["call-next latency p50 / p99 (ms)",
             f"{statistics.median(latencies) * 1000:.1f} / {p(latencies, 0.99) * 1000:.1f}"],
            [f"the floor's latency p50 / p99 (ms), the same {args.counters} clients",
             f"{statistics.median(floor_latencies) * 1000:.1f} / {p(floor_latencies, 0.99) * 1000:.1f}"],
        ])
        table(f"SSE fan-out: {args.sse_clients} display clients, {args.sse_calls} calls", ["measure", "ms"], [
            ["call sent → one client has it, p50", f"{statistics.median(every) * 1000:.1f}"],
            ["call sent → one client has it, p99", f"{p(every, 0.99) * 1000:.1f}"],
            ["call sent → all clients have it, p50", f"{statistics.median(slowest) * 1000:.1f}"],
            ["call sent → all clients have it, p99 (max)", f"{p(slowest, 0.99) * 1000:.1f}"],
        ])
        if args.statements:
            n_calls, top, reads, plans = diagnosis
            print(f"\nRound 2's calls in PostgreSQL (pg_stat_statements; per call, {n_calls} calls)")
            print(f"  {'calls':>6} {'ms':>7} {'rows':>6} {'blks':>7}  statement")
            for r in top:
                print(f"  {r['calls'] / n_calls:6.2f} {r['ms'] / n_calls:7.3f} {r['rows'] / n_calls:6.1f} "
                      f"{r['blks'] / n_calls:7.1f}  {' '.join(r['query'].split())[:140]}")
            print("  ticket table, per call: " + ", ".join(f"{k} {v:.1f}" for k, v in reads.items() if v))
            if plans:
                for label, (ms, plan) in (("median", plans[len(plans) // 2]), ("slowest", plans[-1])):
                    print(f"\n  the calling statement's plan, {label} of {len(plans)} sampled ({ms:.1f} ms):")
                    print("\n".join("    " + line for line in plan.splitlines()[:160]))
        print_profile(f"svc-queue during round 2 ({args.profile_phase}: take tickets, call them)", profile.top(10))
        if args.profile_out and (root / "queue.pyspy").exists():
            shutil.copy(root / "queue.pyspy", args.profile_out)
        print(f"queue_floor_ratio: {min(take_ratio, call_ratio):.2f} double_calls: {double_calls} lost: {lost}")
    finally:
        for client in (lean, floor_http):
            if client is not None:
                client.close()
        for proc in (svc, floor):
            if proc is not None:
                proc.stop()
        nats.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=4_000)
    parser.add_argument("--counters", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sse-clients", type=int, default=500)
    parser.add_argument("--sse-calls", type=int, default=20)
    parser.add_argument("--fast", action="store_true", help="PostgreSQL without fsync (not the goal figure)")
    parser.add_argument("--idempotency-keys", action="store_true",
                        help="every ticket taken with a fresh Idempotency-Key (claimed, its answer stored)")
    parser.add_argument("--statements", type=int, default=0, metavar="N",
                        help="load pg_stat_statements and auto_explain (a restart before the run) and print round "
                             "2's top N statements per call, the ticket table's reads and sampled plans (diagnosis)")
    parser.add_argument("--profile-out", help="keep py-spy's raw samples of round 2 here")
    parser.add_argument("--profile-phase", choices=("both", "take", "call"), default="both",
                        help="which phase of round 2 py-spy samples (default: both, take then call)")
    asyncio.run(main(parser.parse_args()))
