"""Notifications: case events in, messages out through the local SMS provider's sink.

Starts a throw-away PostgreSQL (durable: fsync, synchronous_commit, full_page_writes on; `--fast`
turns them off and says so) and NATS, migrates and seeds the gateway, adds `--accounts` citizen
accounts straight into its database (no argon2: the logins are not what is measured), and runs
the gateway under uvicorn (one worker, its notification consumers and dispatcher in-process).
Then it publishes `--events` `cases.case.accepted` events open-loop at `--rate` per second onto
the CASES stream, each naming one of the accounts as the applicant, round robin, and waits
until the sink holds one SMS per event. Quiet hours are switched off and the hourly limit raised
above what one account gets, so every SMS goes at once (the figure is the pipeline's, not the
policy's).

Measured from the events' own times (the envelope's `time`, set when published):

- event -> inbox message: the message row committed by the consumer (inbox + message + SMS
  delivery + rate-limit look-up, one transaction);
- event -> SMS in the sink: the dispatcher claimed the delivery, the local provider recorded it
  (its own transaction) and the delivery was marked sent: what the issue's p99 is about;
- the floor, in the same run and at the same rate: a minimal JetStream durable pull consumer
  doing one transaction per event (an inbox row and one insert), by asyncpg, no framework.

    .venv/bin/python bench/notify.py [--events 10000] [--rate 100] [--accounts 1000] [--fast]

The last line: `notify_p99_ms: <p99 of event -> SMS recorded by the sink>`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from tongban.gateway.main import SERVICE as GATEWAY
from tongban.gateway.seed import seed
from tongban.shared import migrations
from tongban.shared.contracts import cases as ce
from tongban.shared.db import make_engine, make_sessionmaker
from tongban.shared.events import bus
from tongban.shared.events.envelope import make_event
from tongban.shared.localinfra import NatsProcess, ServiceProcess, free_port

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _floor import disk_cost, disk_line, durability, pct, start_postgres, table

D1 = "11442000MB0000002B"


def plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def add_accounts(url: str, n: int) -> list[str]:
    conn = await asyncpg.connect(plain(url))
    try:
        ids = [uuid.uuid4() for _ in range(n)]
        await conn.executemany(
            "INSERT INTO gateway.account (id, username, password_hash, role, display_name, phone, real_name_level, "
            "active) VALUES ($1, $2, 'bench-no-login', 'citizen', $3, $4, 'self_declared', true)",
            [(i, f"bench{k}", f"居民{k}", f"138{k:08d}") for k, i in enumerate(ids)])
        return [str(i) for i in ids]
    finally:
        await conn.close()


async def publish_open_loop(js, subs: list[str], events: int, rate: float, subject: str = ce.CASE_ACCEPTED,
                            stream_subject: str | None = None) -> int:
    """Event k is due at start + k/rate (published then; its envelope's time is when it went)."""
    start = time.perf_counter() + 0.05
    late = 0
    for k in range(events):
        due = start + k / rate
        wait = due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        elif wait < -0.05:
            late += 1
        case_id = uuid.uuid4()
        payload = ce.CaseTransitionedV1(case_id=case_id, case_number=f"CN{k:017d}", item_basic_code="442020000901",
                                        department=D1, from_state="submitted", state="accepted", actor="bench",
                                        at=dt.datetime.now(dt.UTC), deadline_on=dt.date(2026, 12, 31),
                                        applicant_sub=subs[k % len(subs)])
        event = make_event("cases", subject, payload, subject=str(case_id))
        await js.publish(stream_subject or subject, event.model_dump_json().encode(),
                         headers={"Nats-Msg-Id": str(event.id)})
    return late


async def wait_count(conn: asyncpg.Connection, sql: str, want: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline:
        n = await conn.fetchval(sql)
        if n >= want:
            return n
        await asyncio.sleep(0.5)
    return n


async def floor(js, url: str, events: int, rate: float) -> list[float]:
    """A bare durable pull consumer: per event one transaction (inbox row + one insert)."""
    conn = await asyncpg.connect(plain(url))
    await conn.execute("CREATE SCHEMA IF NOT EXISTS bench_floor; CREATE TABLE IF NOT EXISTS bench_floor.inbox "
                       "(event_id uuid PRIMARY KEY); CREATE TABLE IF NOT EXISTS bench_floor.msg (id uuid PRIMARY KEY, "
                       "event_at timestamptz, at timestamptz)")
    psub = await js.pull_subscribe("cases.floor.>", durable="bench-floor", stream="CASES")
    latencies: list[float] = []
    done = asyncio.Event()

    async def consume() -> None:
        while len(latencies) < events:
            try:
                msgs = await psub.fetch(50, timeout=0.05)
            except TimeoutError:
                continue
            for msg in msgs:
                env = json.loads(msg.data)
                async with conn.transaction():
                    first = await conn.fetchval("INSERT INTO bench_floor.inbox VALUES ($1) ON CONFLICT DO NOTHING "
                                                "RETURNING event_id", uuid.UUID(env["id"]))
                    if first is not None:
                        await conn.execute("INSERT INTO bench_floor.msg VALUES ($1, $2, now())", uuid.uuid4(),
                                           dt.datetime.fromisoformat(env["time"]))
                await msg.ack()
                latencies.append((dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(env["time"])).total_seconds()
                                 * 1000)
        done.set()

    task = asyncio.create_task(consume())
    await publish_open_loop(js, ["floor"], events, rate, stream_subject="cases.floor.event")
    try:
        await asyncio.wait_for(done.wait(), timeout=120)
    finally:
        task.cancel()
        await conn.close()
    return latencies


async def main() -> None:
    os.environ.setdefault("TONGBAN_ENV", "development")
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--floor-events", type=int, default=3000)
    ap.add_argument("--fast", action="store_true", help="PostgreSQL without fsync (not the goal figure)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    os.chmod(root, 0o777)  # embedded PostgreSQL runs as its own user when we are root
    pg = start_postgres(root, fast=args.fast)
    nats_server = NatsProcess(root / "nats").start()
    gateway: ServiceProcess | None = None
    try:
        pg.create_database("gateway")
        url = pg.url_for("gateway")
        print(f"PostgreSQL: {await durability(url)}" + (" (--fast: not a deployment's figure)" if args.fast else ""))
        print(disk_line(await disk_cost(url)))
        await asyncio.to_thread(migrations.upgrade, GATEWAY.root, url)
        engine = make_engine(url, 2)
        await seed(make_sessionmaker(engine))
        await engine.dispose()
        subs = await add_accounts(url, args.accounts)
        nc = await bus.connect(nats_server.url, "bench-notify")
        js = nc.jetstream()
        await bus.ensure_stream(js, "cases")

        print(f"\nfloor: {args.floor_events} events at {args.rate:.0f}/s into a bare durable consumer, "
              "one transaction each")
        floor_lat = await floor(js, url, args.floor_events, args.rate)

        port = free_port()
        gateway = ServiceProcess("gateway", "tongban.gateway.main:create_app", port, {
            "GATEWAY_DATABASE_URL": url, "GATEWAY_NATS_URL": nats_server.url, "GATEWAY_LOG_LEVEL": "WARNING",
            "GATEWAY_NOTIFY_QUIET_START": "00:00", "GATEWAY_NOTIFY_QUIET_END": "00:00",
            "GATEWAY_NOTIFY_PER_HOUR": str(args.events // args.accounts + 10)},
            log_file=root / "gateway.log", http=GATEWAY.server_protocol).start()
        await asyncio.to_thread(gateway.wait_ready)
        conn = await asyncpg.connect(plain(url))
        print(f"gateway: {args.events} cases.case.accepted events at {args.rate:.0f}/s over {args.accounts} accounts")
        t0 = time.perf_counter()
        late = await publish_open_loop(js, subs, args.events, args.rate)
        published = time.perf_counter() - t0
        got = await wait_count(conn, "SELECT count(*) FROM gateway.notify_sink", args.events, timeout=300)
        drained = time.perf_counter() - t0
        rows = await conn.fetch(
            "SELECT extract(epoch FROM m.created_at - m.event_at) * 1000 AS inbox_ms, "
            "extract(epoch FROM s.at - m.event_at) * 1000 AS sink_ms "
            "FROM gateway.notify_message m JOIN gateway.notify_delivery d ON d.message_id = m.id "
            "JOIN gateway.notify_sink s ON s.delivery_id = d.id WHERE m.kind = 'case.accepted'")
        statuses = dict(await conn.fetch("SELECT status, count(*) FROM gateway.notify_delivery GROUP BY status"))
        await conn.close()
        inbox_lat = [float(r["inbox_ms"]) for r in rows]
        sink_lat = [float(r["sink_ms"]) for r in rows]
        fp50 = pct(floor_lat, 50)
        table("event -> message latency (ms), from the event's publish time",
              ["path", "n", "p50", "p90", "p99", "max", "p50/floor"],
              [[label, len(lat), f"{pct(lat, 50):.1f}", f"{pct(lat, 90):.1f}", f"{pct(lat, 99):.1f}",
                f"{max(lat) if lat else float('nan'):.1f}", f"{pct(lat, 50) / fp50:.1f}x"]
               for label, lat in (("floor: bare consumer, 1 tx", floor_lat), ("event -> inbox message", inbox_lat),
                                  ("event -> SMS in the sink", sink_lat))])
        print(f"\npublished in {published:.1f} s ({late} events published >50 ms late by this client); "
              f"sink held {got}/{args.events} after {drained:.1f} s; deliveries by status: {statuses}")
        print("(machine shared with other sessions: absolute figures vary up to 2x between runs; compare the ratio)")
        print(f"notify_p99_ms: {pct(sink_lat, 99):.1f}")
    finally:
        if gateway is not None:
            gateway.stop()
        nats_server.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
