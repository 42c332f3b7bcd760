"""Kept rows (audit, outbox) riding the COMMIT as literal SQL, or sent as a prepared statement
with bound values before the COMMIT: which costs PostgreSQL (and the client) more?

shared/db.py `_kept_with_commit` sends a transaction's kept rows as literals in the COMMIT's
simple query: one round trip fewer, but PostgreSQL parses and plans that unique text at every
commit. This measures both ways on a durable PostgreSQL (fsync, synchronous_commit on), at
`--clients` concurrent connections, transactions shaped like a 秒批 submission's kept rows
(2 audit rows, 2 outbox events of ~1.2 KB JSON, after one prepared insert), in alternating
blocks, and prints per transaction: PostgreSQL CPU (every server process, from /proc), this
process's CPU, and the wall time.

    .venv/bin/python bench/kept_commit.py [--transactions 2000] [--clients 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _floor import start_postgres

TICKS = os.sysconf("SC_CLK_TCK")
SETUP = """
CREATE TABLE thing (id uuid PRIMARY KEY, name varchar(100), created_at timestamptz DEFAULT now());
CREATE TABLE audit_event (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), actor varchar(100),
  actor_role varchar(30), action varchar(60), entity varchar(60), entity_id varchar(100), reason text,
  request_id varchar(64), detail jsonb);
CREATE TABLE outbox (id uuid PRIMARY KEY, subject varchar(200), envelope jsonb, created_at timestamptz DEFAULT now(),
  published_at timestamptz, next_attempt_at timestamptz DEFAULT now(), attempts int DEFAULT 0, last_error text);
CREATE INDEX ix_outbox_pending ON outbox (next_attempt_at) WHERE published_at IS NULL;
"""
AUDIT_COLS = ("actor", "actor_role", "action", "entity", "entity_id", "reason", "request_id", "detail")
AUDIT_CASTS = ("VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "TEXT", "VARCHAR", "JSONB")
PREPARED = ("WITH kept0 AS (INSERT INTO audit_event (actor, actor_role, action, entity, entity_id, reason, request_id, "
            "detail) SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::varchar[], $5::varchar[], "
            "$6::text[], $7::varchar[], $8::jsonb[])) "
            "INSERT INTO outbox (id, subject, envelope) SELECT * FROM unnest($9::uuid[], $10::varchar[], $11::jsonb[])")
TAG = "$tb5f3a$"


def rows() -> tuple[list[tuple], list[tuple]]:
    case_id = str(uuid.uuid4())
    audits = [("3f1c0c1e-8a51-4e0f-9b0e-2d6c1f0a9e77", "citizen", action, "case", case_id, None, uuid.uuid4().hex,
               json.dumps({"case_number": "3301002026120700123", "state": "approved", "rule": "age-18"}))
              for action in ("case.submit", "case.approve")]
    envelope = {"specversion": "1.0", "id": "", "source": "svc-cases", "type": "", "time": "2026-12-07T03:00:00+00:00",
                "traceparent": "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01", "correlationid": uuid.uuid4().hex,
                "data": {"case_id": case_id, "case_number": "3301002026120700123", "item_basic_code": "330100123000",
                         "applicant_id": "110101199001011234", "applicant_name": "张三", "applicant_type": "person",
                         "applicant_sub": "3f1c0c1e-8a51-4e0f-9b0e-2d6c1f0a9e77", "department": "330100000000",
                         "data": {"name": "张三", "address": "杭州市西湖区文三路100号", "purpose": "秒批" * 40}}}
    events = []
    for subject in ("cases.case.submitted", "cases.case.approved"):
        eid = uuid.uuid4()
        events.append((eid, subject, json.dumps(envelope | {"id": str(eid), "type": subject}, ensure_ascii=False)))
    return audits, events


def literal(value: object, cast: str) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, uuid.UUID):
        return f"'{value}'::{cast}"
    return f"{TAG}{value}{TAG}::{cast}"


def ride_sql(audits: list[tuple], events: list[tuple]) -> str:
    a = ", ".join("(" + ", ".join(literal(v, c) for v, c in zip(r, AUDIT_CASTS, strict=True)) + ")" for r in audits)
    o = ", ".join(f"({literal(i, 'UUID')}, {literal(s, 'VARCHAR')}, {literal(e, 'JSONB')})" for i, s, e in events)
    return (f"INSERT INTO audit_event ({', '.join(AUDIT_COLS)}) VALUES {a}; "
            f"INSERT INTO outbox (id, subject, envelope) VALUES {o}; COMMIT;")


async def one(conn: asyncpg.Connection, mode: str) -> None:
    audits, events = rows()
    await conn.execute("BEGIN;")
    await conn.execute("INSERT INTO thing (id, name) VALUES ($1, $2)", uuid.uuid4(), "秒批")
    if mode in ("ride", "async"):
        await conn.execute(ride_sql(audits, events))
    else:
        await conn.execute(PREPARED, *([list(c) for c in zip(*audits, strict=True)]
                                       + [list(c) for c in zip(*events, strict=True)]))
        await conn.execute("COMMIT;")


def server_cpu(postmaster: int) -> float:
    """Seconds of CPU used by the postmaster and every process under it (backends, WAL writer...)."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(pid) == postmaster or int(fields[1]) == postmaster:
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


async def block(url: str, postmaster: int, mode: str, n: int, clients: int) -> tuple[float, float, float]:
    conns = [await asyncpg.connect(url, server_settings={"synchronous_commit": "off"} if mode == "async" else None)
             for _ in range(clients)]
    for c in conns:   # warm: statements prepared, caches filled
        for _ in range(20):
            await one(c, mode)
    pg0, me0, t0 = server_cpu(postmaster), time.process_time(), time.perf_counter()

    async def run(c: asyncpg.Connection) -> None:
        for _ in range(n // clients):
            await one(c, mode)
    await asyncio.gather(*(run(c) for c in conns))
    pg1, me1, t1 = server_cpu(postmaster), time.process_time(), time.perf_counter()
    for c in conns:
        await c.close()
    done = n // clients * clients
    return (pg1 - pg0) / done * 1000, (me1 - me0) / done * 1000, (t1 - t0) / done * 1000


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--transactions", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--async-commit", action="store_true",
                    help="a third mode: riding, with synchronous_commit off (what a durable commit's flush costs)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kept-commit-") as tmp:
        pg = start_postgres(Path(tmp))
        try:
            url = pg.url
            conn = await asyncpg.connect(url)
            await conn.execute(SETUP)
            await conn.close()
            modes = ("ride", "prepared", "async") if args.async_commit else ("ride", "prepared")
            results: dict[str, list[tuple[float, float, float]]] = {m: [] for m in modes}
            for _ in range(args.rounds):
                for mode in modes:
                    results[mode].append(await block(url, pg.proc.pid, mode, args.transactions, args.clients))
            print(f"{args.transactions} transactions per block, {args.clients} clients, {args.rounds} rounds alternating; "
                  f"load average {os.getloadavg()[0]:.2f}")
            print("mode        postgresql ms/tx   client ms/tx   wall ms/tx   (each round)")
            for mode, got in results.items():
                cols = ["  ".join(f"{r[k]:.3f}" for r in got) for k in range(3)]
                print(f"{mode:10}  {cols[0]:18} {cols[1]:14} {cols[2]}")
            pg_ride = sum(r[0] for r in results["ride"]) / args.rounds
            pg_prep = sum(r[0] for r in results["prepared"]) / args.rounds
            print(f"kept_commit_postgresql_cpu_ms ride: {pg_ride:.3f} prepared: {pg_prep:.3f}")
        finally:
            pg.stop()


if __name__ == "__main__":
    asyncio.run(main())
