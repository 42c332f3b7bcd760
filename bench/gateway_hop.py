"""What the gateway hop costs: one trivial endpoint called directly, through the gateway and (when
nginx is installed) through nginx, back to back in one run, with the same load generator.

    .venv/bin/python bench/gateway_hop.py [--duration 10] [--connections 64] [--rounds 2]

Everything is real: a throw-away PostgreSQL as deployed (fsync and synchronous commit on; `--fast`
turns them off) and NATS (the gateway needs its database for the
signing keys), the upstream (a minimal raw ASGI app) under uvicorn with 2 workers, the gateway
under uvicorn with 2 workers, a real access token (the gateway verifies it, through its cache)
and a revoked login in the gateway's deny list (checked on every request).
Load comes from wrk when installed (`apt-get install -y wrk`), else from an httpx-free asyncio
load generator in this script (slower than wrk: its own CPU competes with the servers).
The table also gives the CPU time the serving processes spent per request (the upstream's for
direct, the gateway's own for the gateway): on a shared machine that moves far less than req/s.
The last line is the goal figure: `gateway_hop_ratio: <gateway rps / direct rps>` (median of rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _floor import Profile, print_profile

PATH = "/api/v1/catalog/ping"
BODY = b'{"pong":true}'


def fastapi_app():
    """The trivial endpoint as the platform's services serve it: FastAPI (the default upstream)."""
    from fastapi import FastAPI
    from fastapi.responses import Response

    app = FastAPI()

    @app.get(PATH)
    async def ping() -> Response:
        return Response(BODY, media_type="application/json")

    return app


async def upstream_app(scope, receive, send):
    """The trivial endpoint with no framework at all (`--raw-upstream`)."""
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]})
    await send({"type": "http.response.body", "body": BODY})


def free_port() -> int:
    from tongban.shared.localinfra import free_port as fp
    return fp()


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status < 500:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def uvicorn(app: str, port: int, env: dict[str, str], factory: bool = False,
            http: str = "httptools") -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
            "--no-access-log", "--log-level", "warning", "--loop", "uvloop", "--http", http]
    if factory:
        args.append("--factory")
    return subprocess.Popen(args, env={**os.environ, **env}, cwd=ROOT / "bench", start_new_session=True)


def nginx(port: int, upstream_port: int, workdir: Path) -> subprocess.Popen[bytes] | None:
    binary = shutil.which("nginx")
    if binary is None:
        return None
    conf = workdir / "nginx.conf"
    conf.write_text(f"""
worker_processes 2; daemon off; pid {workdir}/nginx.pid; error_log {workdir}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  upstream svc {{ server 127.0.0.1:{upstream_port}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{ proxy_pass http://svc; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}
}}
""")
    return subprocess.Popen([binary, "-c", str(conf), "-p", str(workdir)], start_new_session=True)


def run_wrk(url: str, token: str, duration: int, connections: int) -> tuple[float, float, float]:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency",
                          "-H", f"Authorization: Bearer {token}", url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        value, unit = float(m.group(1)), m.group(2)
        return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    if re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        raise RuntimeError(f"{url} answered errors under load:\n{out}")
    return rps, pct("50"), pct("99")


async def _async_load(url: str, token: str, duration: int, connections: int) -> tuple[float, float, float]:
    """A keep-alive load generator on raw asyncio streams (one request in flight per connection)."""
    parts = urllib.parse.urlsplit(url)
    request = (f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {token}\r\n\r\n").encode()
    latencies: list[float] = []
    deadline = time.monotonic() + duration

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        while time.monotonic() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"{url}: {head[:40]!r}")
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
        writer.close()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.monotonic() - started
    latencies.sort()
    return len(latencies) / elapsed, latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]


def load(url: str, token: str, duration: int, connections: int) -> tuple[float, float, float]:
    if shutil.which("wrk"):
        return run_wrk(url, token, duration, connections)
    return asyncio.run(_async_load(url, token, duration, connections))


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process and its children (uvicorn's workers), from /proc
    (Linux).

    CPU per request is the figure to compare on a shared machine: wall-clock rates move with
    whatever else runs, the work a request costs much less. The system share is the kernel's
    (the sockets' syscalls), which no Python code can make cheaper, only fewer."""
    try:
        tick = os.sysconf("SC_CLK_TCK")
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        user = system = 0.0
        for p in [pid, *map(int, children)]:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            user += int(fields[11]) / tick
            system += int(fields[12]) / tick
        return user, system
    except (OSError, ValueError, IndexError):
        return float("nan"), float("nan")


def main() -> None:
    # The services' development secrets (key passphrases): a bench is a development run.
    os.environ.setdefault("TONGBAN_ENV", "development")
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--fast", action="store_true", help="PostgreSQL without fsync (the gateway's keys only)")
    parser.add_argument("--raw-upstream", action="store_true",
                        help="a raw ASGI upstream instead of FastAPI (the hop then weighs far more in the ratio)")
    parser.add_argument("--asgi-gateway", action="store_true",
                        help="serve the gateway with uvicorn's own protocol (every request takes the ASGI path)")
    args = parser.parse_args()

    from tongban.gateway.main import SERVICE
    from tongban.gateway.seed import seed
    from tongban.shared import migrations
    from tongban.shared.db import make_engine, make_sessionmaker
    from tongban.shared.localinfra import NatsProcess, PostgresProcess

    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="gwbench-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o777)  # embedded PostgreSQL runs as its own user when we are root
        pg = PostgresProcess(work / "pg", fast=args.fast).start()
        print("PostgreSQL: " + " ".join(f"{n}={pg.psql(f'SHOW {n}')}" for n in
                                        ("fsync", "synchronous_commit", "full_page_writes")))
        nats = NatsProcess(work / "nats").start()
        try:
            pg.create_database("gateway")
            db = pg.url_for("gateway")
            migrations.upgrade(SERVICE.root, db)

            async def seeded() -> None:
                engine = make_engine(db, 2)
                await seed(make_sessionmaker(engine))
                await engine.dispose()
            asyncio.run(seeded())

            up_port, gw_port, ng_port = free_port(), free_port(), free_port()
            if args.raw_upstream:
                procs.append(uvicorn("gateway_hop:upstream_app", up_port, {}))
            else:
                procs.append(uvicorn("gateway_hop:fastapi_app", up_port, {}, factory=True))
            procs.append(uvicorn("tongban.gateway.main:create_app", gw_port, {
                "GATEWAY_DATABASE_URL": db, "GATEWAY_NATS_URL": nats.url, "GATEWAY_LOG_LEVEL": "WARNING",
                "GATEWAY_CATALOG_URL": f"http://127.0.0.1:{up_port}",
                # The bench measures the hop, not the per-caller limit (one token makes all the load).
                "GATEWAY_RATE_LIMIT_PER_SECOND": "1000000", "GATEWAY_RATE_LIMIT_BURST": "1000000",
            }, factory=True, http="httptools" if args.asgi_gateway else SERVICE.server_protocol))
            if (ng := nginx(ng_port, up_port, work)) is not None:
                procs.append(ng)
            wait_http(f"http://127.0.0.1:{up_port}{PATH}")
            wait_http(f"http://127.0.0.1:{gw_port}/readyz")
            form = urllib.parse.urlencode({"grant_type": "password", "username": "admin", "password": "Admin#2026"})
            with urllib.request.urlopen(f"http://127.0.0.1:{gw_port}/auth/token", form.encode(), timeout=10) as r:
                token = json.load(r)["access_token"]
            # A login ended before the run: the deny list is not empty, so each request pays its lookups.
            with urllib.request.urlopen(f"http://127.0.0.1:{gw_port}/auth/token", form.encode(), timeout=10) as r:
                ended = json.load(r)["refresh_token"]
            urllib.request.urlopen(f"http://127.0.0.1:{gw_port}/auth/revoke",
                                   urllib.parse.urlencode({"token": ended}).encode(), timeout=10).close()
            paths = {"direct": f"http://127.0.0.1:{up_port}{PATH}", "gateway": f"http://127.0.0.1:{gw_port}{PATH}"}
            if ng is not None:
                wait_http(f"http://127.0.0.1:{ng_port}{PATH}")
                paths["nginx"] = f"http://127.0.0.1:{ng_port}{PATH}"
            for url in paths.values():  # warm up: connections, the token cache, the JIT-less caches
                load(url, token, 2, args.connections)

            results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in paths}
            # CPU µs per request of the serving processes: the upstream's for direct, the proxy's own
            # (gateway or nginx) for the others.
            servers = {"direct": procs[0].pid, "gateway": procs[1].pid, "nginx": procs[-1].pid}
            cpu: dict[str, list[float]] = {name: [] for name in paths}
            kernel: dict[str, list[float]] = {name: [] for name in paths}
            profile = Profile(procs[1].pid, work / "gateway.pyspy")
            for i in range(args.rounds):
                for name, url in paths.items():
                    before, started = cpu_seconds(servers[name]), time.monotonic()
                    with profile if i == 0 and name == "gateway" else contextlib.nullcontext():
                        rps, p50, p99 = load(url, token, args.duration, args.connections)
                    requests = rps * (time.monotonic() - started if shutil.which("wrk") is None else args.duration)
                    results[name].append((rps, p50, p99))
                    after = cpu_seconds(servers[name])
                    cpu[name].append((after[0] + after[1] - before[0] - before[1]) * 1e6 / max(requests, 1))
                    kernel[name].append((after[1] - before[1]) * 1e6 / max(requests, 1))
            top = profile.top(10)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
            nats.stop()
            pg.stop()

    tool = "wrk -t2" if shutil.which("wrk") else "asyncio load generator"
    print(f"\n{tool}, {args.connections} connections, {args.duration}s x {args.rounds} rounds; "
          f"2 uvicorn workers each; {'raw ASGI' if args.raw_upstream else 'FastAPI'} upstream; GET with a bearer token")
    print(f"{'path':<10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'ratio':>8}{'p99 ×':>8}{'CPU µs/req':>12}{'of it kernel':>14}")
    direct = results["direct"]
    ratios = {}
    for name, rounds in results.items():
        rps = statistics.median(r[0] for r in rounds)
        p50 = statistics.median(r[1] for r in rounds)
        p99 = statistics.median(r[2] for r in rounds)
        # Each round's ratio against that round's direct run: the machine drifts between rounds.
        ratio = statistics.median(r[0] / d[0] for r, d in zip(rounds, direct, strict=True))
        p99x = statistics.median(r[2] / d[2] for r, d in zip(rounds, direct, strict=True))
        ratios[name] = ratio
        print(f"{name:<10}{rps:>10.0f}{p50:>10.2f}{p99:>10.2f}{ratio:>8.2f}{p99x:>8.2f}"
              f"{statistics.median(cpu[name]):>12.1f}{statistics.median(kernel[name]):>14.1f}")
    print_profile("the gateway (2 workers) during round 1", top)
    print(f"gateway_hop_ratio: {ratios['gateway']:.2f}")


if __name__ == "__main__":
    main()
