"""Search latency of svc-catalog over a 100,000-item catalogue, at a fixed request rate.

Starts a throw-away PostgreSQL (migrated with svc-catalog's own migrations) and NATS, loads
100,000 synthetic items with COPY (search keys computed by the service's own functions),
runs svc-catalog under uvicorn (one worker) and drives it open-loop at a fixed rate (default
200 requests/s: latency is measured from each request's scheduled time, so a stall counts
against every request it delays). The baseline, in the same run, is `GET /items/{id}` (one
select by primary key) at the same rate. Scenarios:

- search, 10 query shapes (the goal figure): what a public portal sees, the same popular
  searches again and again; after the first, answers come from the service's answer cache
  (validated against the catalogue's search generation on every request).
- search, every request distinct: no answer can come from the cache; at the same open-loop rate,
  for `--distinct-seconds`. If the service cannot keep up, the queue shows in these figures.
- closed loop, 4 at a time: the service's capacity (requests/s) for each kind, with no queue,
  and the CPU each request cost the service process and the PostgreSQL backends (user + system
  time over the run / requests): on a shared machine the figure that moves least with the noise.

A last table answers the issue's "segmentation or trigrams": on the same items, in a database
whose LC_CTYPE is C.utf8 (with C, pg_trgm extracts no trigrams from CJK text), a pg_trgm GIN
index, the service's bigram tokens and jieba's search-mode words (needs `jieba`, optional),
each with its latency, what it finds and its recall against a LIKE scan.

    .venv/bin/python bench/catalog_search.py [--items 100000] [--rate 200] [--seconds 15] [--no-matching]

The last line is the goal figure alone: `catalog_search_p99_ms: <p99 of search, 10 shapes>`.
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
import warnings
from pathlib import Path
from urllib.parse import quote

import asyncpg
import jwt  # noqa: F401 - the service needs it; imported here to fail fast if missing
import psutil
from cryptography.hazmat.primitives.asymmetric import ec

from tongban.catalog.main import SERVICE
from tongban.catalog.seed_data import DEPARTMENTS, ITEMS, M
from tongban.catalog.search.text import initials, query_tokens, tokens
from tongban.shared import migrations
from tongban.shared.localinfra import NatsProcess, PostgresProcess, ServiceProcess, free_port

DISTRICTS = ["石岐", "东区", "西区", "南区", "五桂山", "火炬", "小榄", "古镇", "横栏", "南头", "东凤", "黄圃", "三角", "民众",
             "福田", "罗湖", "南山", "宝安", "龙岗", "盐田", "龙华", "坪山", "光明", "大鹏"]
KINDS = ["首次申请", "变更", "延续", "注销", "补领", "换领", "备案", "年度报告", "迁入", "迁出", "查询", "认定"]
SEARCHES = ["/search?q=身份证", "/search?q=sfz", "/search?q=公积金+贷款", "/search?q=营业执照&city=442000",
            "/search?q=不动产登记&flag=fully_online", "/search?q=gjjdk", "/search?q=新生儿&audience=person",
            "/search?theme=开办企业&city=440300", "/search?q=社会保障卡&item_type=20", "/search?q=食品经营许可"]


BASE = "select by key (GET /items/{id})"
GOAL = "search (10 query shapes, facets)"


def distinct_searches(prefix: str, n: int, seed: int = 11) -> list[str]:
    """`n` searches no two alike (so no answer comes from the cache): a piece of an item name,
    sometimes with a district, a filter, a flag or a later page."""
    rnd = random.Random(seed)
    seen: set[str] = set()
    while len(seen) < n:
        name = rnd.choice(ITEMS)[0]
        start = rnd.randrange(max(1, len(name) - 1))
        q = name[start:start + rnd.randint(2, 4)]
        if len(q) < 2:
            continue
        if rnd.random() < 0.3:
            q += " " + rnd.choice(DISTRICTS)
        path = f"/search?q={q.replace(' ', '+')}"
        path += rnd.choice(["", "&city=442000", "&city=440300", "&audience=person", "&audience=company",
                            "&flag=fully_online", "&flag=no_certificate", "&item_type=20"])
        path += f"&limit={rnd.choice([10, 20])}&offset={rnd.choice([0, 0, 0, 20, 40])}"
        seen.add(prefix + path)
    return sorted(seen, key=lambda _: rnd.random())


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
                     themes[:1], cities, [dept_name, rnd.choice(depts)], tokens(texts), tokens([name, *aliases]),
                     initials([name, *aliases])))
    return rows, ids


COLUMNS = ["id", "basic_code", "name", "aliases", "exercise_level", "case_type", "version", "created_by", "status",
           "flags", "materials", "implementing_body", "service_objects", "themes", "cities", "departments",
           "search_tokens", "title_tokens", "initials"]


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
    statuses: dict[int, int] = {}
    start = time.perf_counter() + 0.05

    async def one(k: int, path: str) -> None:
        nonlocal errors
        due = start + k / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        status = await client.get(path)
        latencies.append((time.perf_counter() - due) * 1000)
        if status != 200:
            errors += 1
            statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(one(k, paths[k % len(paths)]) for k in range(int(rate * seconds))))
    if statuses:
        print(f"  non-200 answers by status: {dict(sorted(statuses.items()))}")
    return latencies, errors


class CpuMeter:
    """CPU seconds (user + system) used by the service process and by PostgreSQL's backends."""

    def __init__(self, service_pid: int, postmaster_pid: int) -> None:
        self.service, self.postmaster = psutil.Process(service_pid), psutil.Process(postmaster_pid)

    def read(self) -> tuple[float, float]:
        t = self.service.cpu_times()
        pg = 0.0
        for child in self.postmaster.children():
            try:
                if "127.0.0.1(" not in " ".join(child.cmdline()):
                    continue  # not a client backend: autovacuum, checkpointer, ...
                c = child.cpu_times()
                pg += c.user + c.system
            except psutil.NoSuchProcess:
                pass
        return t.user + t.system, pg


async def closed_loop(client: Http, paths: list[str], workers: int,
                      meter: CpuMeter) -> tuple[list[float], float, float, float]:
    """Each worker sends its next request when the previous answer arrives: the capacity of the
    service for these requests, with no queue building up; and the CPU ms per request spent by
    the service and by PostgreSQL."""
    latencies: list[float] = []
    queue = list(reversed(paths))
    svc0, pg0 = meter.read()
    start = time.perf_counter()

    async def worker() -> None:
        while queue:
            path = queue.pop()
            t = time.perf_counter()
            await client.get(path)
            latencies.append((time.perf_counter() - t) * 1000)

    await asyncio.gather(*(worker() for _ in range(workers)))
    per_second = len(paths) / (time.perf_counter() - start)
    svc1, pg1 = meter.read()
    return latencies, per_second, (svc1 - svc0) * 1000 / len(paths), (pg1 - pg0) * 1000 / len(paths)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


TERMS = ["身份证", "份证", "公积金贷款", "营业执照", "不动产登记", "新生儿", "社保", "结婚证", "食品经营许可", "医保"]


def _jieba_tokens(texts: list[str], memo: dict[str, list[str]]) -> list[str]:
    import jieba  # optional: only this comparison needs it

    out: set[str] = set()
    for text in texts:
        if text not in memo:
            memo[text] = [w for w in jieba.cut_for_search(text) if w.strip()]
        out.update(memo[text])
    return sorted(out)


async def compare_matching(pg: PostgresProcess, rows: list[tuple], rounds: int = 15) -> list[tuple]:
    """The issue's question, measured on the same 100,000 items: which way of matching Chinese text
    should the service use? In a database whose LC_CTYPE is C.utf8 (so pg_trgm sees CJK characters
    as letters; with C it extracts nothing from them): a trigram GIN index on the texts, the
    service's bigram tokens (GIN), and jieba's search-mode words (GIN). Per term: median ms of
    count(*), rows found, and rows that really contain the term (recall against a LIKE scan)."""
    try:
        with warnings.catch_warnings():  # jieba imports pkg_resources, which warns
            warnings.simplefilter("ignore")
            import jieba
        jieba.setLogLevel(60)
    except ImportError:
        jieba = None
    admin = await asyncpg.connect(pg.url)
    await admin.execute("CREATE DATABASE bench_match TEMPLATE template0 LC_CTYPE 'C.utf8' LC_COLLATE 'C'")
    await admin.close()
    conn = await asyncpg.connect(pg.url_for("bench_match"))
    out = []
    try:
        await conn.execute("CREATE EXTENSION pg_trgm; CREATE TABLE t (id int PRIMARY KEY, body text, "
                           "bigrams text[], words text[])")
        memo: dict[str, list[str]] = {}
        t = time.perf_counter()
        records = []
        for i, r in enumerate(rows):
            name, aliases, dept, materials = r[2], r[3], r[11], [m["name"] for m in json.loads(r[10])]
            texts = [name, *aliases, dept, *materials]
            records.append((i, " ".join(texts), r[16], _jieba_tokens(texts, memo) if jieba else []))
        segmented = time.perf_counter() - t
        await conn.copy_records_to_table("t", records=records)
        built = {}
        for label, ddl in [("trigram", "CREATE INDEX t_trgm ON t USING gin (body gin_trgm_ops)"),
                           ("bigram", "CREATE INDEX t_bigram ON t USING gin (bigrams)"),
                           ("jieba", "CREATE INDEX t_words ON t USING gin (words)")]:
            t = time.perf_counter()
            await conn.execute(ddl)
            size = await conn.fetchval("SELECT pg_relation_size($1::regclass)",
                                       {"trigram": "t_trgm", "bigram": "t_bigram", "jieba": "t_words"}[label])
            built[label] = (time.perf_counter() - t, size)
        await conn.execute("ANALYZE t")
        for term in TERMS:
            truth = await conn.fetchval("SELECT count(*) FROM t WHERE body LIKE $1", f"%{term}%")
            words = sorted({w for w in jieba.cut_for_search(term) if w.strip()}) if jieba else []
            row = [term, truth]
            for sql, arg in [("SELECT count(*) FROM t WHERE body LIKE $1", f"%{term}%"),
                             ("SELECT count(*) FROM t WHERE bigrams @> $1", query_tokens(term)),
                             ("SELECT count(*) FROM t WHERE words @> $1", words)]:
                if sql.endswith("words @> $1") and not jieba:
                    row += [None, None, None]
                    continue
                times, n = [], 0
                for _ in range(rounds):
                    t = time.perf_counter()
                    n = await conn.fetchval(sql, arg)
                    times.append((time.perf_counter() - t) * 1000)
                real = await conn.fetchval(
                    sql.replace("count(*)", "count(*) FILTER (WHERE body LIKE '%' || $2 || '%')"), arg, term)
                row += [statistics.median(times), n, real]
            out.append(tuple(row))
        out.append(("__build__", segmented, built))
    finally:
        await conn.close()
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--distinct-seconds", type=float, default=5.0)
    ap.add_argument("--no-matching", action="store_true", help="skip the trigram / bigram / jieba table")
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
        # VACUUM as well: the steady state (visibility map set), and no autovacuum of the fresh rows
        # running in the middle of the measurements.
        await conn.execute("VACUUM (ANALYZE) catalog.item")
        loaded = time.perf_counter() - t
        await conn.close()
        print(f"{args.items} items: search keys computed in {built:.1f} s, COPY + VACUUM ANALYZE in {loaded:.1f} s")

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
        distinct = distinct_searches(prefix, int(args.rate * args.distinct_seconds))
        for label, paths, seconds in [
            (BASE, by_key, args.seconds),
            (GOAL, searches, args.seconds),
            ("search, every request distinct (no cache)", distinct, args.distinct_seconds),
        ]:
            lat, errors = await drive(client, paths, args.rate, seconds)
            results[label] = (lat, errors)
        fresh = distinct_searches(prefix, 600, seed=12)
        meter = CpuMeter(svc.proc.pid, pg.proc.pid)
        capacity = {
            "select by key": await closed_loop(client, by_key[:400], 4, meter),
            "search, 10 shapes (cached)": await closed_loop(client, (searches * 40)[:400], 4, meter),
            "search, distinct (no cache)": await closed_loop(
                client, [p for p in fresh if p not in set(distinct)][:400], 4, meter),
        }
        per_query = {}
        for s in SEARCHES:
            lat, _ = await drive(client, [prefix + s], 50, 2)
            per_query[s] = lat
        client.close()

        base_p99 = pct(results[BASE][0], 99)
        print(f"\nopen loop at {args.rate:.0f} requests/s for {args.seconds:.0f} s each, svc-catalog under uvicorn "
              f"(1 worker), {args.items} items")
        print(f"{'scenario':42} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
              f"{'max ms':>8} {'p99/base':>8}")
        for label, (lat, errors) in results.items():
            print(f"{label:42} {len(lat):8d} {errors:6d} {pct(lat, 50):8.2f} {pct(lat, 90):8.2f} {pct(lat, 99):8.2f} "
                  f"{max(lat):8.2f} {pct(lat, 99) / base_p99:8.2f}")
        print("\nclosed loop, 4 requests at a time, 400 requests (capacity, no queue; CPU ms per request):")
        for label, (closed, per_second, svc_ms, pg_ms) in capacity.items():
            print(f"{label:42} {per_second:6.0f} requests/s  p50 {pct(closed, 50):7.2f} ms  "
                  f"p99 {pct(closed, 99):7.2f} ms  CPU service {svc_ms:5.2f} ms + postgres {pg_ms:5.2f} ms")
        print("\nper query shape, 50 requests/s for 2 s:")
        print(f"{'query':48} {'p50 ms':>8} {'p99 ms':>8}")
        for s, lat in per_query.items():
            print(f"{s:48} {pct(lat, 50):8.2f} {pct(lat, 99):8.2f}")
        if not args.no_matching:
            matching = await compare_matching(pg, rows)
            _, segmented, built = matching.pop()
            print("\nmatching Chinese text, same items, database LC_CTYPE=C.utf8 (median of 15 count(*) per term;"
                  " found / of which really contain the term; truth = LIKE scan):")
            print(f"{'term':12} {'truth':>6} | {'trigram ms':>10} {'found':>6} {'real':>6} | "
                  f"{'bigram ms':>9} {'found':>6} {'real':>6} | {'jieba ms':>8} {'found':>6} {'real':>6}")
            for term, truth, *cells in matching:
                parts = []
                for ms, n, real in zip(cells[0::3], cells[1::3], cells[2::3], strict=True):
                    parts.append("        -      -      -" if ms is None else f"{ms:10.2f} {n:6d} {real:6d}")
                print(f"{term:12} {truth:6d} | " + " | ".join(parts))
            sizes = ", ".join(f"{k} {v[0]:.1f} s {v[1] / 1e6:.1f} MB" for k, v in built.items())
            print(f"index build s / size MB: {sizes}; jieba segmentation of the texts {segmented:.1f} s "
                  "(memoised per distinct text)")
        print(f"catalog_search_p99_ms: {pct(results[GOAL][0], 99):.1f}")
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
