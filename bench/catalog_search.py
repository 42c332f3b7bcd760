"""Search latency of svc-catalog over a 100,000-item catalogue, at a fixed request rate.

Starts a throw-away PostgreSQL (migrated with svc-catalog's own migrations) and NATS, loads
100,000 synthetic items with COPY (search keys computed by the service's own functions),
runs svc-catalog under uvicorn (one worker) and drives it open-loop at a fixed rate (default
200 requests/s: latency is measured from each request's scheduled time, so a stall counts
against every request it delays). The baseline, in the same run, is `GET /items/{id}` (one
select by primary key) at the same rate. A second table compares, inside PostgreSQL, the two
ways of matching Chinese text: a LIKE scan (what pg_trgm would have to fall back to: with
LC_CTYPE=C it extracts no trigrams from CJK text) against the bigram-token GIN index.

    .venv/bin/python bench/catalog_search.py [--items 100000] [--rate 200] [--seconds 15]

The last line is the goal figure alone: `catalog_search_p99_ms: <p99 of search>`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import asyncpg
import jwt  # noqa: F401 - the service needs it; imported here to fail fast if missing
from cryptography.hazmat.primitives.asymmetric import ec

from tongban.catalog.main import SERVICE
from tongban.catalog.seed_data import DEPARTMENTS, ITEMS, M
from tongban.catalog.search.text import initials, tokens
from tongban.shared import migrations
from tongban.shared.localinfra import NatsProcess, PostgresProcess, ServiceProcess, free_port

DISTRICTS = ["石岐", "东区", "西区", "南区", "五桂山", "火炬", "小榄", "古镇", "横栏", "南头", "东凤", "黄圃", "三角", "民众",
             "福田", "罗湖", "南山", "宝安", "龙岗", "盐田", "龙华", "坪山", "光明", "大鹏"]
KINDS = ["首次申请", "变更", "延续", "注销", "补领", "换领", "备案", "年度报告", "迁入", "迁出", "查询", "认定"]
SEARCHES = ["/search?q=身份证", "/search?q=sfz", "/search?q=公积金+贷款", "/search?q=营业执照&city=442000",
            "/search?q=不动产登记&flag=fully_online", "/search?q=gjjdk", "/search?q=新生儿&audience=person",
            "/search?theme=开办企业&city=440300", "/search?q=社会保障卡&item_type=20", "/search?q=食品经营许可"]


def make_rows(n: int, seed: int = 7) -> tuple[list[tuple], list[uuid.UUID]]:
    rnd = random.Random(seed)
    rows, ids = [], []
    depts = [d[0] for d in DEPARTMENTS.values()]
    for i in range(n):
        name0, itype, dept, audience, themes, mats, _fields, _produces, aliases = ITEMS[i % len(ITEMS)]
        name = f"{name0}（{rnd.choice(DISTRICTS)}{rnd.choice(KINDS)}）"
        dept_name = rnd.choice(["中山市", "深圳市"]) + DEPARTMENTS[dept][0]
        materials = [M[k] for k in mats]
        cities = rnd.choice([["442000"], ["440300"], ["440300", "442000"]])
        flags = {"fully_online": rnd.random() < 0.87, "cross_city": rnd.random() < 0.2,
                 "no_certificate": rnd.random() < 0.4, "instant_approval": rnd.random() < 0.05}
        flags["instant_approval_rule_id"] = f"MP-{i}" if flags["instant_approval"] else None
        item_id = uuid.uuid4()
        ids.append(item_id)
        texts = [name, *aliases, dept_name, *(m["name"] for m in materials)]
        rows.append((item_id, f"44{itype}{i // 1000:05d}{i % 1000:03d}", name, aliases, 4, "immediate", 1,
                     "bench", "published", json.dumps(flags), json.dumps(materials), dept_name, [audience],
                     themes[:1], cities, [dept_name, rnd.choice(depts)], tokens(texts), initials([name, *aliases])))
    return rows, ids


COLUMNS = ["id", "basic_code", "name", "aliases", "exercise_level", "case_type", "version", "created_by", "status",
           "flags", "materials", "implementing_body", "service_objects", "themes", "cities", "departments",
           "search_tokens", "initials"]


class Http:
    """A minimal HTTP/1.1 keep-alive client (a free list of connections): the load generator
    must cost far less than what it measures, which httpx's pool does not."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def get(self, path: str) -> int:
        if self.idle:
            try:
                return await self._get(self.idle.pop(), path)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass  # the server closed an idle keep-alive connection: use a fresh one
        return await self._get(await asyncio.open_connection("127.0.0.1", self.port), path)

    async def _get(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], path: str) -> int:
        reader, writer = conn
        writer.write(f"GET {quote(path, safe='/?=&+')} HTTP/1.1\r\nhost: bench\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = next(int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                      if line.startswith(b"content-length:"))
        await reader.readexactly(length)
        self.idle.append(conn)
        return status

    def close(self) -> None:
        for _, w in self.idle:
            w.close()


async def drive(client: Http, paths: list[str], rate: float, seconds: float) -> tuple[list[float], int]:
    """Open loop: request k is due at start + k/rate; its latency counts from then."""
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter() + 0.05

    async def one(k: int, path: str) -> None:
        nonlocal errors
        due = start + k / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        status = await client.get(path)
        latencies.append((time.perf_counter() - due) * 1000)
        if status != 200:
            errors += 1

    await asyncio.gather(*(one(k, paths[k % len(paths)]) for k in range(int(rate * seconds))))
    return latencies, errors


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


async def sql_compare(url: str, rounds: int = 30) -> list[tuple[str, float, int]]:
    conn = await asyncpg.connect(url)
    out = []
    try:
        for label, sql, arg in [
            ("LIKE '%身份证%' on name (no CJK trigrams: scan)", "SELECT count(*) FROM catalog.item WHERE name LIKE $1",
             "%身份证%"),
            ("bigram tokens @> {身份,份证} (GIN)", "SELECT count(*) FROM catalog.item WHERE search_tokens @> $1",
             ["份证", "身份"]),
            ("pinyin initials LIKE '%sfz%' (pg_trgm GIN)", "SELECT count(*) FROM catalog.item WHERE initials LIKE $1",
             "%sfz%"),
        ]:
            times, n = [], 0
            for _ in range(rounds):
                t = time.perf_counter()
                n = await conn.fetchval(sql, arg)
                times.append((time.perf_counter() - t) * 1000)
            out.append((label, statistics.median(times), n))
    finally:
        await conn.close()
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--seconds", type=float, default=15.0)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-catalog-"))
    pg = PostgresProcess(root / "pg", fast=True).start()
    nats = NatsProcess(root / "nats").start()
    svc = None
    try:
        pg.create_database("bench_catalog")
        url = pg.url_for("bench_catalog")
        await asyncio.to_thread(migrations.upgrade, SERVICE.root, url)
        t = time.perf_counter()
        rows, ids = await asyncio.to_thread(make_rows, args.items)
        built = time.perf_counter() - t
        conn = await asyncpg.connect(url)
        # COPY is binary: jsonb's binary form is a version byte (1) and the JSON text.
        await conn.set_type_codec("jsonb", encoder=lambda v: b"\x01" + v.encode(), decoder=lambda b: json.loads(b[1:]),
                                  schema="pg_catalog", format="binary")
        t = time.perf_counter()
        await conn.copy_records_to_table("item", schema_name="catalog", records=rows, columns=COLUMNS)
        await conn.execute("ANALYZE catalog.item")
        loaded = time.perf_counter() - t
        await conn.close()
        print(f"{args.items} items: search keys computed in {built:.1f} s, COPY + ANALYZE in {loaded:.1f} s")

        key = ec.generate_private_key(ec.SECP256R1())
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())) | {"kid": "bench", "alg": "ES256"}
        port = free_port()
        env = {"CATALOG_DATABASE_URL": url, "CATALOG_NATS_URL": nats.url, "CATALOG_LOG_LEVEL": "WARNING",
               "CATALOG_JWKS_JSON": json.dumps({"keys": [jwk]}), "CATALOG_RUN_WORKER": "false"}
        svc = ServiceProcess("catalog", "tongban.catalog.main:create_app", port, env,
                             log_file=root / "catalog.log").start()
        await asyncio.to_thread(svc.wait_ready)
        client = Http(port)
        prefix = "/api/v1/catalog"
        rnd = random.Random(3)
        by_key = [f"{prefix}/items/{rnd.choice(ids)}" for _ in range(500)]
        searches = [prefix + s for s in SEARCHES]
        await drive(client, by_key[:100] + searches * 10, 100, 2)  # warm-up: connections, plans, caches
        results = {}
        for label, paths in [("select by key (GET /items/{id})", by_key), ("search (10 query shapes, facets)", searches)]:
            lat, errors = await drive(client, paths, args.rate, args.seconds)
            results[label] = (lat, errors)
        per_query = {}
        for s in SEARCHES:
            lat, _ = await drive(client, [prefix + s], 50, 2)
            per_query[s] = lat
        client.close()

        base_p99 = pct(results["select by key (GET /items/{id})"][0], 99)
        print(f"\nopen loop at {args.rate:.0f} requests/s for {args.seconds:.0f} s each, svc-catalog under uvicorn "
              f"(1 worker), {args.items} items")
        print(f"{'scenario':38} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
              f"{'max ms':>8} {'p99/base':>8}")
        for label, (lat, errors) in results.items():
            print(f"{label:38} {len(lat):8d} {errors:6d} {pct(lat, 50):8.2f} {pct(lat, 90):8.2f} {pct(lat, 99):8.2f} "
                  f"{max(lat):8.2f} {pct(lat, 99) / base_p99:8.2f}")
        print("\nper query shape, 50 requests/s for 2 s:")
        print(f"{'query':48} {'p50 ms':>8} {'p99 ms':>8}")
        for s, lat in per_query.items():
            print(f"{s:48} {pct(lat, 50):8.2f} {pct(lat, 99):8.2f}")
        print("\nmatching Chinese text inside PostgreSQL (median of 30, count(*) over the whole table):")
        print(f"{'method':48} {'median ms':>9} {'rows':>7}")
        for label, ms, n in await sql_compare(url):
            print(f"{label:48} {ms:9.2f} {n:7d}")
        print("(jieba segmentation was not measured: see svc-catalog/README.md)")
        print(f"catalog_search_p99_ms: {pct(results['search (10 query shapes, facets)'][0], 99):.1f}")
    except Exception:
        log = root / "catalog.log"
        if log.exists():
            print(log.read_text()[-3000:])
        raise
    finally:
        if svc is not None:
            svc.stop()
        nats.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
