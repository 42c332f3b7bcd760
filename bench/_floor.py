"""What every bench shares: a durable PostgreSQL, the floor it measures against in the same run,
a lean load generator and a sampling profiler.

The floor is a minimal FastAPI app (`create_app`, run under uvicorn like a service: same worker
count, same `--http httptools`, the shared engine's pool, the shared token verifier) doing only
the database work shape of the operation measured:

- `POST /floor/insert`: a verified token, one insert transaction;
- `GET /floor/rows/{id}`: one select by primary key (of `FLOOR_SELECT_TABLE`, default the floor's
  own table), the row as JSON; a token is verified when one is sent;
- `POST /floor/signed`: a verified token, an RFC 9421 request signature verified (svc-interop's
  profile, Ed25519), one insert transaction, a signed response: the signed exchange's hop without
  its business;
- `POST /floor/forward`: `/floor/signed`, and before its answer one POST to another service's
  `/floor/insert` (FLOOR_FORWARD_URL, with FLOOR_FORWARD_TOKEN) through the lean keep-alive client
  below (`Http`, far cheaper than httpx): a signed exchange that opens something in a second
  service, with neither service's business and the cheapest client. It bounds what any
  synchronous design of such an exchange can reach on this machine.

A bench's figure is its operation's rate (or latency) as a ratio to the floor's, both measured
back to back on the same servers: on a noisy shared machine absolute figures move by 2x, ratios
much less.

PostgreSQL runs as a deployment does (fsync, synchronous_commit and full_page_writes on);
`disk_cost` says, in the same run, what the commit's flush costs on this disk.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote

import asyncpg
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

BENCH_DIR = Path(__file__).resolve().parent
FLOOR_TABLE = "bench_floor.row"


# --- PostgreSQL ------------------------------------------------------------------------------------

def start_postgres(root: Path, fast: bool = False):
    """A throw-away PostgreSQL; durable (as deployed) unless `fast`."""
    from tongban.shared.localinfra import PostgresProcess

    return PostgresProcess(root / "pg", fast=fast).start()


async def durability(url: str) -> str:
    """The settings that decide whether a commit survives a power cut, as the server reports them."""
    conn = await asyncpg.connect(url)
    try:
        values = [f"{n}={await conn.fetchval(f'SHOW {n}')}" for n in ("fsync", "synchronous_commit",
                                                                      "full_page_writes")]
    finally:
        await conn.close()
    return " ".join(values)


async def disk_cost(url: str, clients: int = 8, seconds: float = 2.0) -> dict[str, float]:
    """One-insert transactions/s straight into PostgreSQL (asyncpg, no HTTP), with the commit
    flushed (synchronous_commit on, as deployed) and not (off, per session): the disk's share of
    a commit on this machine, measured on the same server in the same run."""
    conn = await asyncpg.connect(url)
    await conn.execute("CREATE TABLE IF NOT EXISTS bench_disk (id bigserial PRIMARY KEY, body text)")
    await conn.close()
    out = {}
    for mode in ("on", "off"):
        done = 0
        deadline = time.perf_counter() + seconds

        async def worker(mode: str = mode, deadline: float = deadline) -> None:
            nonlocal done
            c = await asyncpg.connect(url)
            await c.execute(f"SET synchronous_commit = {mode}")
            try:
                while time.perf_counter() < deadline:
                    async with c.transaction():
                        await c.execute("INSERT INTO bench_disk (body) VALUES ($1)", "x")
                    done += 1
            finally:
                await c.close()

        await asyncio.gather(*(worker() for _ in range(clients)))
        out[mode] = done / seconds
    return out


def infra(root: Path, fast: bool = False):
    """The test plugin's servers (PostgreSQL, NATS with the platform's authorization, fresh
    databases migrated from templates), with PostgreSQL as deployed unless `fast` (the plugin's
    own are for throw-away test data: fsync off)."""
    from tongban.shared.localinfra import PostgresProcess
    from tongban.shared.testing import plugin

    def postgres(datadir: Path, port: int | None = None, **_ignored: Any) -> PostgresProcess:
        return PostgresProcess(datadir, port, fast=fast)

    plugin.PostgresProcess = postgres
    try:
        return plugin.Infra(root)
    finally:
        plugin.PostgresProcess = PostgresProcess


def disk_line(cost: dict[str, float]) -> str:
    return (f"disk: one-insert transactions/s straight into PostgreSQL, 8 clients: {cost['on']:.0f} durable "
            f"(commit flushed), {cost['off']:.0f} with synchronous_commit=off ({cost['off'] / cost['on']:.1f}x)")


# --- the floor app ---------------------------------------------------------------------------------

def create_app(config: dict[str, str] | None = None):
    """The floor service, configured by `config` or else the environment: FLOOR_DATABASE_URL,
    FLOOR_JWKS_JSON, FLOOR_AUDIENCE, FLOOR_ISSUER, FLOOR_SELECT_TABLE (select by key),
    FLOOR_SIGNER_PUBLIC_KEY (hex Ed25519, for /floor/signed), FLOOR_PUBLIC_URL (the base its signed
    requests name), FLOOR_POOL_SIZE, FLOOR_FORWARD_URL and FLOOR_FORWARD_TOKEN (for /floor/forward)."""
    from sqlalchemy import text
    from tongban.shared.auth import Requires, TokenVerifier, optional_principal
    from tongban.shared.db import make_engine, make_sessionmaker
    from tongban.shared.errors import install_error_handlers

    env = config if config is not None else os.environ
    url = env["FLOOR_DATABASE_URL"]
    select_table = env.get("FLOOR_SELECT_TABLE", FLOOR_TABLE)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = make_engine(url, pool_size=int(env.get("FLOOR_POOL_SIZE", "10")))
        app.state.sessionmaker = make_sessionmaker(engine)
        app.state.token_verifier = TokenVerifier(env.get("FLOOR_AUDIENCE", "floor"),
                                                 env.get("FLOOR_ISSUER", "tongban-gateway"),
                                                 jwks_json=env.get("FLOOR_JWKS_JSON"))
        signer = env.get("FLOOR_SIGNER_PUBLIC_KEY")
        if signer:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

            app.state.signer = Ed25519PublicKey.from_public_bytes(bytes.fromhex(signer))
            app.state.own_key = Ed25519PrivateKey.generate()
        app.state.forward = None
        if env.get("FLOOR_FORWARD_URL"):
            app.state.forward = Http(int(env["FLOOR_FORWARD_URL"].rsplit(":", 1)[1]),
                                     {"authorization": "Bearer " + env["FLOOR_FORWARD_TOKEN"],
                                      "content-type": "application/json"})
        yield
        if app.state.forward is not None:
            app.state.forward.close()
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)
    install_error_handlers(app)

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    @app.post("/floor/insert", status_code=201, dependencies=[Depends(Requires())])
    async def insert(request: Request) -> dict[str, str]:
        body = await request.body()
        async with request.app.state.sessionmaker() as s, s.begin():
            new = uuid.uuid4()
            await s.execute(text(f"INSERT INTO {FLOOR_TABLE} (id, body) VALUES (:id, CAST(:body AS jsonb))"),
                            {"id": new, "body": body.decode() or "{}"})
        return {"id": str(new)}

    @app.get("/floor/rows/{row_id}", dependencies=[Depends(optional_principal)])
    async def select(request: Request, row_id: uuid.UUID) -> Response:
        async with request.app.state.sessionmaker() as s, s.begin():
            row = (await s.execute(text(f"SELECT row_to_json(t)::text FROM {select_table} t WHERE t.id = :id"),
                                   {"id": row_id})).scalar()
        if row is None:
            return JSONResponse({"title": "not found"}, status_code=404)
        return Response(row, media_type="application/json")

    async def signed_hop(request: Request, forward: bool) -> Response:
        from tongban.interop import signing

        body = await request.body()
        headers = {k: v for k, v in request.headers.items()}
        target = env.get("FLOOR_PUBLIC_URL", "") + request.url.path  # as the services do: their public URL
        verified = signing.verify_request(request.method, target, headers, body,
                                          lambda _kid: request.app.state.signer)
        async with request.app.state.sessionmaker() as s, s.begin():
            await s.execute(text(f"INSERT INTO {FLOOR_TABLE} (id, body) VALUES (:id, CAST(:body AS jsonb))"),
                            {"id": uuid.uuid4(), "body": body.decode()})
        if forward:  # as svc-interop opens a case: no transaction open while the other service works
            status, _ = await request.app.state.forward.request(
                "POST", "/floor/insert", body, {"idempotency-key": headers.get(signing.MESSAGE_ID, "")})
            if status != 201:
                return JSONResponse({"title": "forward failed", "status": status}, status_code=502)
        answer = json.dumps({"status": "accepted"}).encode()
        out = {signing.SENDER: "floor", signing.MESSAGE_ID: headers.get(signing.MESSAGE_ID, ""),
               signing.REQUEST_HASH: verified.request_hash}
        sig = signing.sign_response(request.app.state.own_key, "floor", 202, out, answer)
        return Response(answer, status_code=202, media_type="application/json", headers={**out, **sig.headers})

    @app.post("/floor/signed", status_code=202, dependencies=[Depends(Requires())])
    async def signed(request: Request) -> Response:
        return await signed_hop(request, forward=False)

    @app.post("/floor/forward", status_code=202, dependencies=[Depends(Requires())])
    async def forwarded(request: Request) -> Response:
        return await signed_hop(request, forward=True)

    return app


async def prepare_floor_table(url: str, rows: int = 0) -> list[uuid.UUID]:
    """The floor's own table (and `rows` rows to select by key)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE SCHEMA IF NOT EXISTS bench_floor; CREATE TABLE IF NOT EXISTS bench_floor.row "
                           "(id uuid PRIMARY KEY, body jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())")
        ids = [uuid.uuid4() for _ in range(rows)]
        if ids:
            await conn.copy_records_to_table("row", schema_name="bench_floor",
                                             records=[(i, '{"name": "floor"}') for i in ids], columns=["id", "body"])
    finally:
        await conn.close()
    return ids


def start_floor(root: Path, database_url: str, workers: int = 1, jwks_json: str | None = None,
                audience: str = "floor", select_table: str | None = None, signer_public_hex: str | None = None,
                pool_size: int = 10):
    """The floor app under uvicorn, as a service runs (ServiceProcess), ready."""
    from tongban.shared.localinfra import ServiceProcess, free_port

    env = {"FLOOR_DATABASE_URL": database_url, "FLOOR_AUDIENCE": audience, "FLOOR_POOL_SIZE": str(pool_size),
           "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), os.environ.get("PYTHONPATH", "")])}
    if jwks_json:
        env["FLOOR_JWKS_JSON"] = jwks_json
    if select_table:
        env["FLOOR_SELECT_TABLE"] = select_table
    if signer_public_hex:
        env["FLOOR_SIGNER_PUBLIC_KEY"] = signer_public_hex
    proc = ServiceProcess("floor", "_floor:create_app", free_port(), env, log_file=root / "floor.log",
                          workers=workers).start()
    proc.wait_ready()
    return proc


# --- load ------------------------------------------------------------------------------------------

class Http:
    """A minimal HTTP/1.1 keep-alive client (a free list of connections): the load generator must
    cost far less than what it measures, which httpx's pool does not."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.headers = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        if self.idle:
            conn = self.idle.pop()
            try:
                return await self._send(conn, method, path, body, headers)
            except asyncio.IncompleteReadError as exc:
                if exc.partial:  # the server had begun to answer: not a stale connection
                    raise
            except ConnectionError:
                pass  # the server closed an idle keep-alive connection before reading: a fresh one
        return await self._send(await asyncio.open_connection("127.0.0.1", self.port), method, path, body, headers)

    async def get(self, path: str, headers: dict[str, str] | None = None) -> int:
        return (await self.request("GET", path, headers=headers))[0]

    async def _send(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], method: str, path: str,
                    body: bytes, headers: dict[str, str] | None) -> tuple[int, bytes]:
        reader, writer = conn
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        length = f"content-length: {len(body)}\r\n" if body or method != "GET" else ""
        writer.write(f"{method} {quote(path, safe='/?=&+%')} HTTP/1.1\r\nhost: bench\r\n{self.headers}{extra}"
                     f"{length}\r\n".encode() + body)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        size = next(int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                    if line.startswith(b"content-length:"))
        answer = await reader.readexactly(size)
        self.idle.append(conn)
        return status, answer

    def close(self) -> None:
        for _, w in self.idle:
            w.close()
        self.idle.clear()


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))] if s else float("nan")


async def open_loop(call: Callable[[int], Awaitable[int]], rate: float, seconds: float,
                    timeline: list[tuple[float, float, int]] | None = None) -> tuple[list[float], dict]:
    """Request k is due at start + k/rate, its latency (ms) counts from then, so a stall counts
    against every request it delays. `call(k)` returns the HTTP status; non-2xx are counted.
    `timeline` gets (due s from start, latency ms, status) of each request."""
    latencies: list[float] = []
    statuses: collections.Counter[int] = collections.Counter()
    start = time.perf_counter() + 0.05

    async def one(k: int) -> None:
        due = start + k / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        status = await call(k)
        latencies.append((time.perf_counter() - due) * 1000)
        if timeline is not None:
            timeline.append((due - start, latencies[-1], status))
        if not 200 <= status < 300:
            statuses[status] += 1

    await asyncio.gather(*(one(k) for k in range(int(rate * seconds))))
    return latencies, dict(statuses)


async def closed_loop(call: Callable[[int], Awaitable[int]], n: int, concurrency: int) -> tuple[float, list[float], dict]:
    """`concurrency` clients each sending the next request when the previous answer arrives:
    requests/s (capacity, no queue), latencies (ms), non-2xx statuses."""
    latencies: list[float] = []
    statuses: collections.Counter[int] = collections.Counter()
    todo = iter(range(n))

    async def client() -> None:
        for k in todo:
            t = time.perf_counter()
            status = await call(k)
            latencies.append((time.perf_counter() - t) * 1000)
            if not 200 <= status < 300:
                statuses[status] += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return n / (time.perf_counter() - t0), latencies, dict(statuses)


# --- profiles --------------------------------------------------------------------------------------

class Profile:
    """py-spy sampling a process (and its children: uvicorn workers) while the block runs.
    Install py-spy into the venv to use it (`pip install py-spy`); without it, nothing is sampled."""

    def __init__(self, pid: int, out: Path, rate: int = 200) -> None:
        self.pid, self.out, self.rate = pid, out, rate
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        exe = Path(sys.executable).parent / "py-spy"
        if exe.exists():
            self.proc = subprocess.Popen([str(exe), "record", "--pid", str(self.pid), "--subprocesses", "--nolineno",
                                          "-r", str(self.rate), "--format", "raw", "-o", str(self.out)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)  # attached before the load starts
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.send_signal(2)  # py-spy writes its file on SIGINT
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(30)

    def top(self, n: int = 10) -> list[tuple[str, float, float]]:
        """The `n` frames with the most samples on top of the stack (self), as (frame, self %,
        total %): where the CPU went."""
        return top_frames(self.out, n)


# Leaves of a thread that waits (a pool thread, the event loop's poll): not CPU.
IDLE = ("Condition.wait (", "Event.wait (", "_worker (", "select (", "poll (", "_wait_for_tstate_lock (",
        "_recv (", "main (multiprocessing")


def top_frames(path: Path, n: int = 10) -> list[tuple[str, float, float]]:
    if not path.exists():
        return []
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        k = int(count)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames or frames[-1].startswith(IDLE):
            continue
        samples += k
        own[_short(frames[-1])] += k
        for f in set(map(_short, frames)):
            total[f] += k
    return [(f, 100 * c / samples, 100 * total[f] / samples) for f, c in own.most_common(n)]


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "/src/", "lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where})"


def print_profile(title: str, frames: Iterable[tuple[str, float, float]]) -> None:
    frames = list(frames)
    if not frames:
        return
    print(f"\n{title} (py-spy, top frames by own samples: self % / total %)")
    for frame, own, total in frames:
        print(f"  {own:5.1f} {total:5.1f}  {frame[:110]}")


def print_timeline(title: str, timeline: list[tuple[float, float, int]], step: float = 1.0) -> None:
    """Per `step` seconds of schedule: requests due, their p50 / max latency, non-2xx answers."""
    buckets: dict[int, list[tuple[float, int]]] = collections.defaultdict(list)
    for due, latency, status in timeline:
        buckets[int(due / step)].append((latency, status))
    print(f"\n{title} (per {step:g} s of schedule: requests, p50 ms, max ms, non-2xx)")
    print("  " + "  ".join(f"{k * step:g}s:{len(v)}/{pct([x for x, _ in v], 50):.0f}/{max(x for x, _ in v):.0f}/"
                           f"{sum(1 for _, st in v if not 200 <= st < 300)}" for k, v in sorted(buckets.items())))


def table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    print(f"\n{title}")
    print("  ".join(str(h).rjust(w) for h, w in zip(header, widths, strict=False)))
    for row in rows:
        print("  ".join(str(x).rjust(w) for x, w in zip(row, widths, strict=False)))
