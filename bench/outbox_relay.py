"""The outbox relay's cost alone: business transactions adding events at a steady rate (a 秒批
submission's two, and every third one a later step's one, as svc-cases' outbox sees them) with the
real Outbox and a running OutboxRelay publishing to JetStream, on a durable PostgreSQL.

Prints per submission: PostgreSQL CPU (every server process, from /proc), this process's CPU
(the writers and the relay), the outbox's sequential scans and rows they read (pg_stat_user_tables),
and the relay's statements. Run it on two trees (PYTHONPATH=... as bench/README says) to compare
relay versions: the writers' work is the same in both.

    .venv/bin/python bench/outbox_relay.py [--seconds 20] [--interval 0.02]

Last line: `outbox_relay_cpu_ms postgresql: <ms> process: <ms>` per submission.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _floor import start_postgres
from kept_commit import server_cpu
from tongban.shared.db import make_engine, make_sessionmaker, service_metadata
from tongban.shared.events import bus
from tongban.shared.events.envelope import Envelope
from tongban.shared.events.outbox import Outbox, OutboxRelay
from tongban.shared.localinfra import NatsProcess
from tongban.shared.tables import PlatformTables

STATS = ("SELECT seq_scan, seq_tup_read, idx_scan, idx_tup_fetch FROM pg_stat_user_tables "
         "WHERE schemaname = 'relaying' AND relname = 'outbox'")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--interval", type=float, default=0.02, help="seconds between two submissions")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="outbox-relay-") as tmp:
        pg = start_postgres(Path(tmp))
        nats = NatsProcess(Path(tmp) / "nats").start()
        engine = None
        try:
            metadata = service_metadata("relaying")
            tables = PlatformTables(metadata)
            conn = await asyncpg.connect(pg.url)
            await conn.execute("CREATE SCHEMA relaying")
            engine = make_engine(pg.url)
            async with engine.begin() as c:
                await c.run_sync(metadata.create_all)
            sessionmaker = make_sessionmaker(engine)
            nc = await bus.connect(nats.url, "outbox-relay-bench")
            js = nc.jetstream()
            await bus.ensure_stream(js, "relaying")
            outbox = Outbox(tables.outbox)
            relay = OutboxRelay(outbox, sessionmaker, lambda: js, listen_dsn=pg.url)
            stop = asyncio.Event()
            task = asyncio.create_task(relay.run(stop))
            await asyncio.sleep(0.5)
            before = await conn.fetchrow(STATS)
            cpu0, me0, t0 = server_cpu(pg.proc.pid), time.process_time(), time.perf_counter()
            n = 0
            while time.perf_counter() - t0 < args.seconds:
                async with sessionmaker() as session, session.begin():
                    for step in ("submitted", "approved"):
                        await outbox.add(session, Envelope(type=f"relaying.case.{step}", source="bench",
                                                           data={"form": "秒批" * 300}))
                n += 1
                if n % 3 == 0:
                    async with sessionmaker() as session, session.begin():
                        await outbox.add(session, Envelope(type="relaying.case.completed", source="bench",
                                                           data={"form": "秒批" * 300}))
                await asyncio.sleep(args.interval)
            events = n * 2 + n // 3

            async def all_sent() -> bool:
                return relay.published >= events
            while not await all_sent():
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)   # the last pass's marks
            cpu1, me1 = server_cpu(pg.proc.pid), time.process_time()
            after = await conn.fetchrow(STATS)
            stop.set()
            await task
            await conn.close()
            await nc.close()
            pg_ms, me_ms = (cpu1 - cpu0) / n * 1000, (me1 - me0) / n * 1000
            print(f"{n} submissions, {events} events published in {args.seconds:.0f} s")
            print(f"per submission: postgresql {pg_ms:.3f} ms CPU, this process {me_ms:.3f} ms CPU; outbox scans: "
                  f"seq {(after[0] - before[0]) / n:.2f} reading {(after[1] - before[1]) / n:.0f} rows, "
                  f"index {(after[2] - before[2]) / n:.2f} fetching {(after[3] - before[3]) / n:.1f} rows")
            print(f"outbox_relay_cpu_ms postgresql: {pg_ms:.3f} process: {me_ms:.3f}")
        finally:
            if engine is not None:
                await engine.dispose()
            nats.stop()
            pg.stop()


if __name__ == "__main__":
    asyncio.run(main())
