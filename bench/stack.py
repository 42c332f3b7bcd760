"""The shared per-request stack: what a real service spends on a request beyond its floor.

Starts a throw-away PostgreSQL (durable: fsync, synchronous_commit, full_page_writes on; `--fast`
turns them off and says so) migrated with svc-queue's migrations, and NATS; runs svc-queue under
uvicorn (one worker, as deployed, its worker tasks in-process; its statements counted by
bench/_counted.py, whose wrapper and cursor hook are a few microseconds of its figure) and the floor
(bench/_floor.py: a minimal FastAPI app, one worker, the shared engine's pool and token
verifier) side by side. One ticket is seeded (taken and cancelled: its read is one select by
key, no wait figures), then the same lean load generator (`_floor.Http`, `--clients` keep-alive
connections, closed loop) alternates in rounds between

- svc-queue `GET /api/v1/queue/tickets/{id}` with a hall clerk's token: everything a service
  request goes through (edge middleware: request id, trace span, metrics, access log, body limit;
  FramingCheck, InputCheck, FastAPI's routing and error middleware, the token check, the policy's
  `Authorize`, the request's session and transaction) around one select by primary key;
- the floor's `GET /floor/rows/{id}` of the same row (`FLOOR_SELECT_TABLE=queue.ticket`) with the
  same token: uvicorn, FastAPI, token verification, one select in one transaction.

Printed per round: requests/s and machine CPU per request (the server process from /proc via
psutil, and every PostgreSQL process), for both; then the medians, the SQL statements per read,
and with py-spy in the venv the service's top frames during one round (self and inclusive) and
the share of each part of the stack under uvicorn's `run_asgi`.

    .venv/bin/python bench/stack.py [--n 3000] [--rounds 3] [--clients 16] [--fast]

The last line is `stack_overhead_ms: <svc-queue CPU ms per request minus the floor's>`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import httpx
import psutil
from tongban.queue.main import SERVICE
from tongban.shared import migrations
from tongban.shared.localinfra import NatsProcess, ServiceProcess, free_port
from tongban.shared.testing.plugin import TokenIssuer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _floor import (  # noqa: E402
    BENCH_DIR,
    Http,
    Profile,
    closed_loop,
    disk_cost,
    disk_line,
    durability,
    pct,
    print_profile,
    start_floor,
    start_postgres,
    table,
)

BASE = "/api/v1/queue"
# Both servers' pools hold a connection for every client: no connection is opened per request.
POOL = 20
ALL_WEEK = {str(d): {"opens": "00:00", "closes": "23:59:59"} for d in range(1, 8)}
# The parts of a request under uvicorn's `run_asgi`, by a frame that marks each (first match wins,
# innermost part first): where the stack's time goes, as shares of the request's samples.
PARTS = (
    ("endpoint (get_ticket: the select, the view)", "get_ticket ("),
    ("token check + policy (Authorize)", "Authorize.__call__ ("),
    ("request session (get_session)", "get_session ("),
    ("dependencies, other (solve_dependencies)", "solve_dependencies ("),
    ("response (serialize, send)", "serialize_response ("),
    ("FastAPI route handler, other", "get_request_handler"),
    ("routing (Router/route matching)", "Router.__call__ ("),
    ("error middlewares", "ExceptionMiddleware.__call__ ("),
    ("InputCheck", "InputCheck.__call__ ("),
    ("FramingCheck", "FramingCheck.__call__ ("),
    ("EdgeMiddleware (request id, span, metrics, access log)", "EdgeMiddleware.__call__ ("),
)


class CpuMeter:
    """CPU seconds (user + system) of a server process and of every PostgreSQL process."""

    def __init__(self, server_pid: int, postmaster_pid: int) -> None:
        self.server, self.postmaster = psutil.Process(server_pid), psutil.Process(postmaster_pid)

    def read(self) -> tuple[float, float]:
        t = self.server.cpu_times()
        pg = 0.0
        for proc in [self.postmaster, *self.postmaster.children()]:
            with contextlib.suppress(psutil.NoSuchProcess):
                c = proc.cpu_times()
                pg += c.user + c.system
        return t.user + t.system, pg


async def metered_reads(http: Http, path: str, meter: CpuMeter, n: int, clients: int) -> tuple[float, float, float, float]:
    """`n` GETs of `path` from `clients` connections: requests/s, p50 ms, and server and
    PostgreSQL CPU ms per request."""
    async def call(_k: int) -> int:
        return await http.get(path)

    a = meter.read()
    rate, latencies, bad = await closed_loop(call, n, clients)
    b = meter.read()
    if bad:
        raise SystemExit(f"{path}: non-2xx answers {bad}")
    return rate, pct(latencies, 50), (b[0] - a[0]) * 1000 / n, (b[1] - a[1]) * 1000 / n


async def seed(http: httpx.AsyncClient, issuer: TokenIssuer) -> tuple[str, dict[str, str]]:
    """A hall, a clerk of it, and one ticket taken and cancelled: its id and the clerk's headers."""
    admin = {"Authorization": "Bearer " + issuer.mint("admin", "queue:admin", ["queue"], sub="admin")}
    r = await http.post(f"{BASE}/halls", headers=admin, json={
        "name": "中山市民服务中心", "region_code": "442000", "address": "东区松苑路1号", "latitude": 22.5176,
        "longitude": 113.3926, "opening_hours": ALL_WEEK, "categories": [{"code": "A", "name": "综合"}]})
    r.raise_for_status()
    hall = r.json()["id"]
    clerk = {"Authorization": "Bearer " + issuer.mint("clerk", "queue:operate", ["queue"], sub="clerk-1",
                                                      hall=hall, ttl=3600)}
    t = await http.post(f"{BASE}/halls/{hall}/tickets", headers=clerk, json={"category": "A"})
    t.raise_for_status()
    ticket = t.json()["id"]
    (await http.post(f"{BASE}/tickets/{ticket}/cancel", headers=clerk)).raise_for_status()
    return ticket, clerk


def parts(path: Path) -> list[tuple[str, float]]:
    """Shares of the request's samples (under `run_asgi`) by PARTS, each sample counted once in the
    innermost part it passes through; what is left is uvicorn/Starlette glue."""
    if not path.exists():
        return []
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        start = next((i for i, f in enumerate(frames) if f.startswith("RequestResponseCycle.run_asgi")), None)
        if start is None:
            continue
        k = int(n)
        total += k
        inner = frames[start:]
        for name, marker in PARTS:
            if any(marker in f for f in inner):
                counts[name] += k
                break
        else:
            counts["uvicorn / Starlette glue"] += k
    return [(name, 100 * counts[name] / total) for name, _ in (*PARTS, ("uvicorn / Starlette glue", ""))
            if counts[name]] if total else []


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f}/{five:.2f}"


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-stack-"))
    root.chmod(0o755)
    pg = start_postgres(root, fast=args.fast)
    nats = NatsProcess(root / "nats").start()
    svc = floor = svc_http = floor_http = None
    try:
        pg.create_database("queue")
        url = pg.url_for("queue")
        print(f"PostgreSQL: {await durability(url)}" + (" (--fast: not a deployment's figure)" if args.fast else ""))
        print(disk_line(await disk_cost(url, seconds=1.0)))
        await asyncio.to_thread(migrations.upgrade, SERVICE.root, url)
        issuer = TokenIssuer()
        port = free_port()
        env = {"QUEUE_DATABASE_URL": url, "QUEUE_NATS_URL": nats.url, "QUEUE_JWKS_JSON": issuer.jwks_json,
               "QUEUE_LOG_LEVEL": "WARNING", "QUEUE_DB_POOL_SIZE": str(POOL),
               "BENCH_APP": "tongban.queue.main:create_app",
               "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), os.environ.get("PYTHONPATH", "")])}
        svc = ServiceProcess("queue", "_counted:create_app", port, env, log_file=root / "queue.log").start()
        floor = await asyncio.to_thread(start_floor, root, url, 1, issuer.jwks_json, "queue", "queue.ticket",
                                        None, POOL)
        await asyncio.to_thread(svc.wait_ready)
        async with httpx.AsyncClient(base_url=svc.url, timeout=60) as http:
            ticket, clerk = await seed(http, issuer)
        svc_path, floor_path = f"{BASE}/tickets/{ticket}", f"/floor/rows/{ticket}"
        svc_http, floor_http = Http(port, clerk), Http(int(floor.url.rsplit(":", 1)[1]), clerk)
        for h, p in ((svc_http, svc_path), (floor_http, floor_path)):
            status, body = await h.request("GET", p)
            if status != 200 or ticket not in body.decode():
                raise SystemExit(f"GET {p}: HTTP {status} {body[:300]!r}")
        meter, floor_meter = CpuMeter(svc.proc.pid, pg.proc.pid), CpuMeter(floor.proc.pid, pg.proc.pid)
        # Warm-up: connections, caches, the first compilations of every statement.
        await metered_reads(floor_http, floor_path, floor_meter, min(500, args.n), args.clients)
        await metered_reads(svc_http, svc_path, meter, min(500, args.n), args.clients)
        idle = meter.read()[0]
        await asyncio.sleep(2.0)
        idle = (meter.read()[0] - idle) * 1000 / 2.0
        profile = Profile(svc.proc.pid, root / "stack.pyspy")
        rows = []
        for r in range(args.rounds):
            f = await metered_reads(floor_http, floor_path, floor_meter, args.n, args.clients)
            with profile if r == min(1, args.rounds - 1) else contextlib.nullcontext():
                s = await metered_reads(svc_http, svc_path, meter, args.n, args.clients)
            rows.append((r + 1, f, s, load()))
        async with httpx.AsyncClient(base_url=svc.url, timeout=60) as http:
            await http.delete("/bench/statements")
            for _ in range(50):
                (await http.get(svc_path, headers=clerk)).raise_for_status()
            counts = (await http.get("/bench/statements")).json()
        statements = sum(v for k, v in counts.items() if not k.startswith("(")) / 50

        mode = "fast (fsync off)" if args.fast else "durable"
        table(f"Authenticated read by key, {args.clients} clients, {args.n} requests per phase, PostgreSQL {mode}",
              ["round", "floor req/s", "p50 ms", "CPU ms/req", "PG ms/req", "svc-queue req/s", "p50 ms",
               "CPU ms/req", "PG ms/req", "ratio", "CPU diff ms", "load 1/5 min"],
              [[n, f"{f[0]:,.0f}", f"{f[1]:.1f}", f"{f[2]:.3f}", f"{f[3]:.3f}", f"{s[0]:,.0f}", f"{s[1]:.1f}",
                f"{s[2]:.3f}", f"{s[3]:.3f}", f"{s[0] / f[0]:.2f}", f"{s[2] - f[2]:.3f}", ld]
               for n, f, s, ld in rows])
        med = lambda i, which: statistics.median(row[which][i] for row in rows)  # noqa: E731
        table("Medians over the rounds", ["server", "req/s", "CPU ms/req (server)", "PostgreSQL ms/req"], [
            ["floor (GET /floor/rows/{id})", f"{med(0, 1):,.0f}", f"{med(2, 1):.3f}", f"{med(3, 1):.3f}"],
            ["svc-queue (GET /tickets/{id})", f"{med(0, 2):,.0f}", f"{med(2, 2):.3f}", f"{med(3, 2):.3f}"],
        ])
        overhead = statistics.median(s[2] - f[2] for _, f, s, _ in rows)
        ratio = statistics.median(s[0] / f[0] for _, f, s, _ in rows)
        print(f"\nsvc-queue idle (its in-process worker: outbox relay, consumers): {idle:.1f} ms CPU per second")
        print(f"median rate ratio svc-queue/floor {ratio:.2f}; SQL statements per svc-queue read "
              f"(SQLAlchemy's; BEGIN/COMMIT not counted): {statements:.1f}")
        for k, v in sorted(counts.items(), key=lambda kv: -kv[1]):
            print(f"  {v / 50:5.1f}  {k}")
        print_profile("svc-queue during one round", profile.top(10))
        shares = parts(root / "stack.pyspy")
        if shares:
            print("\nsvc-queue request samples under run_asgi, by part of the stack (innermost part, %)")
            for name, share in shares:
                print(f"  {share:5.1f}  {name}")
        if args.profile_out and (root / "stack.pyspy").exists():
            shutil.copy(root / "stack.pyspy", args.profile_out)
        print(f"stack_overhead_ms: {overhead:.3f}")
    finally:
        for client in (svc_http, floor_http):
            if client is not None:
                client.close()
        for proc in (svc, floor):
            if proc is not None:
                proc.stop()
        nats.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000, help="requests per phase (default 3000)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=16, help=f"at most {POOL} (the pools' size)")
    parser.add_argument("--fast", action="store_true", help="PostgreSQL without fsync (not a deployment's figure)")
    parser.add_argument("--profile-out", type=Path, help="keep the service's raw py-spy samples here")
    asyncio.run(main(parser.parse_args()))
