"""Search latency of svc-catalog over a 100,000-item catalogue when every query is distinct,
at a fixed request rate, against the floor measured in the same run.

Starts a throw-away PostgreSQL as deployed (fsync, synchronous_commit, full_page_writes on;
`--fast` turns them off and is said so on every line), migrated with svc-catalog's own
migrations, and NATS; loads 100,000 synthetic items with COPY (search keys computed by the
service's own functions); runs svc-catalog under uvicorn (one worker) and the floor app
(bench/_floor.py: a minimal FastAPI endpoint, one worker, the shared engine's pool, one select
by primary key of the same items) and drives both open-loop at a fixed rate (default 200
requests/s; latency from each request's scheduled time, so a stall counts against every request
it delays):

- floor: `GET /floor/rows/{id}`, one select by key of catalog.item;
- the service's own `GET /items/{id}` (one select by key through the service's stack);
- search, every request distinct (the goal figure): no two requests alike, so no answer can come
  from a cache; with py-spy installed the service is sampled meanwhile (top frames printed);
- search, 10 popular shapes repeated (what the answer cache serves), for comparison only;
- closed loop, 4 at a time: capacity (requests/s) and CPU ms per request of the service process
  and of PostgreSQL's backends (the figure that moves least with the machine's noise).

A last table compares ways of matching Chinese text on the same items (pg_trgm, the service's
bigram tokens, jieba's words, and tantivy's index when installed): latency, what each finds and
its recall against a LIKE scan.

    .venv/bin/python bench/catalog_search.py [--items 100000] [--rate 200] [--seconds 15] [--fast]

The last line is the goal figure: `catalog_distinct_p99_ms: <p99 of distinct searches>`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import asyncpg
import jwt
import psutil
from cryptography.hazmat.primitives.asymmetric import ec
from tongban.catalog.main import SERVICE
from tongban.catalog.search.text import initials, pinyin_keys, query_tokens, title_keys, tokens
from tongban.catalog.seed_data import DEPARTMENTS, ITEMS, M
from tongban.shared import migrations
from tongban.shared.localinfra import NatsProcess, PostgresProcess, ServiceProcess, free_port

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _floor import (
    Http,
    Profile,
    closed_loop,
    disk_cost,
    disk_line,
    durability,
    open_loop,
    pct,
    print_profile,
    print_timeline,
    start_floor,
    start_postgres,
)

DISTRICTS = ["石岐", "东区", "西区", "南区", "五桂山", "火炬", "小榄", "古镇", "横栏", "南头", "东凤", "黄圃", "三角", "民众",
             "福田", "罗湖", "南山", "宝安", "龙岗", "盐田", "龙华", "坪山", "光明", "大鹏"]
KINDS = ["首次申请", "变更", "延续", "注销", "补领", "换领", "备案", "年度报告", "迁入", "迁出", "查询", "认定"]
SEARCHES = ["/search?q=身份证", "/search?q=sfz", "/search?q=公积金+贷款", "/search?q=营业执照&city=442000",
            "/search?q=不动产登记&flag=fully_online", "/search?q=gjjdk", "/search?q=新生儿&audience=person",
            "/search?theme=开办企业&city=440300", "/search?q=社会保障卡&item_type=20", "/search?q=食品经营许可"]


FLOOR = "floor: select by key (GET /floor/rows/{id})"
DISTINCT = "search, every request distinct (goal)"


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
                     themes[:1], cities, [dept_name, rnd.choice(depts)],
                     sorted({*tokens(texts), *pinyin_keys([name, *aliases])}), title_keys([name, *aliases]),
                     initials([name, *aliases])))
    return rows, ids


COLUMNS = ["id", "basic_code", "name", "aliases", "exercise_level", "case_type", "version", "created_by", "status",
           "flags", "materials", "implementing_body", "service_objects", "themes", "cities", "departments",
           "search_tokens", "title_tokens", "initials"]


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
    ap.add_argument("--fast", action="store_true", help="PostgreSQL without fsync (not the goal figure)")
    ap.add_argument("--no-matching", action="store_true", help="skip the matching comparison table")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-catalog-"))
    pg = start_postgres(root, fast=args.fast)
    nats = NatsProcess(root / "nats").start()
    svc = svc_sql = floor = None
    try:
        pg.create_database("bench_catalog")
        url = pg.url_for("bench_catalog")
        print(f"PostgreSQL: {await durability(url)}" + (" (--fast: not a deployment's figure)" if args.fast else ""))
        print(disk_line(await disk_cost(url)))
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
        jwks = json.dumps({"keys": [jwk]})
        port = free_port()
        env = {"CATALOG_DATABASE_URL": url, "CATALOG_NATS_URL": nats.url, "CATALOG_LOG_LEVEL": "WARNING",
               "CATALOG_JWKS_JSON": jwks, "CATALOG_RUN_WORKER": "false"}
        svc = ServiceProcess("catalog", "tongban.catalog.main:create_app", port, env,
                             log_file=root / "catalog.log").start()
        # The same service with its search index off (every search one SQL statement): the "before",
        # measured closed-loop only (at 200/s open loop it would queue for seconds and slow the rest).
        sql_port = free_port()
        svc_sql = ServiceProcess("catalog-sql", "tongban.catalog.main:create_app", sql_port,
                                 env | {"CATALOG_SEARCH_INDEX": "false"}, log_file=root / "catalog-sql.log").start()
        floor = await asyncio.to_thread(start_floor, root, url, 1, jwks, "catalog", "catalog.item")
        t = time.perf_counter()
        await asyncio.to_thread(svc.wait_ready)
        print(f"svc-catalog ready (search index built) {time.perf_counter() - t:.1f} s after the floor")
        await asyncio.to_thread(svc_sql.wait_ready)
        client, floor_client, sql_client = Http(port), Http(floor.port), Http(sql_port)
        prefix = "/api/v1/catalog"
        rnd = random.Random(3)
        keys = [rnd.choice(ids) for _ in range(2000)]
        searches = [prefix + s for s in SEARCHES]
        n = int(args.rate * args.seconds)
        distinct = distinct_searches(prefix, n + 1400)
        warm, distinct, fresh = distinct[:200], distinct[200:200 + n], distinct[200 + n:]

        def svc_get(paths: list[str]):
            return lambda k: client.get(paths[k % len(paths)])

        floor_get = lambda k: floor_client.get(f"/floor/rows/{keys[k % len(keys)]}")
        by_key = [f"{prefix}/items/{i}" for i in keys]
        # warm-up: connections, plans, caches of both apps
        await open_loop(lambda k: client.get((by_key[:100] + searches + warm)[k % 310]), 100, 3.1)
        await open_loop(floor_get, 100, 1)
        results = {}
        timelines: dict[str, list[tuple[float, float, int]]] = {}
        profile = Profile(svc.proc.pid, root / "search.pyspy")
        for label, call, prof in [
            ("floor: select by key (GET /floor/rows/{id})", floor_get, None),
            ("service: select by key (GET /items/{id})", svc_get(by_key), None),
            (DISTINCT, svc_get(distinct), profile),
            ("search, 10 shapes repeated (answer cache)", svc_get(searches), None),
        ]:
            with prof or contextlib.nullcontext():
                results[label] = await open_loop(call, args.rate, args.seconds, timelines.setdefault(label, []))
        meter = CpuMeter(svc.proc.pid, pg.proc.pid)
        floor_meter = CpuMeter(floor.proc.pid, pg.proc.pid)
        sql_meter = CpuMeter(svc_sql.proc.pid, pg.proc.pid)
        sql_profile = Profile(svc_sql.proc.pid, root / "sql.pyspy")
        half = len(fresh) // 2
        capacity = {}
        for label, call, m, count, prof in [
                ("floor: select by key", floor_get, floor_meter, 800, None),
                ("service: select by key", svc_get(by_key), meter, 800, None),
                ("search, distinct, index", svc_get(fresh[:half]), meter, half, None),
                ("search, distinct, SQL statement (no index)",
                 lambda k: sql_client.get(fresh[half + k]), sql_meter, len(fresh) - half, sql_profile)]:
            before = m.read()
            with prof or contextlib.nullcontext():
                per_second, lat, _ = await closed_loop(call, count, 4)
            after = m.read()
            capacity[label] = (per_second, lat, *((a - b) * 1000 / count for a, b in zip(after, before, strict=True)))
        for c in (client, floor_client, sql_client):
            c.close()

        floor_p99 = pct(results[FLOOR][0], 99)
        mode = "fast (fsync off)" if args.fast else "durable"
        print(f"\nopen loop at {args.rate:.0f} requests/s for {args.seconds:.0f} s each, one uvicorn worker each, "
              f"{args.items} items, PostgreSQL {mode}")
        print(f"{'scenario':46} {'requests':>8} {'non-2xx':>7} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
              f"{'max ms':>8} {'p99/floor':>9}")
        for label, (lat, statuses) in results.items():
            print(f"{label:46} {len(lat):8d} {sum(statuses.values()):7d} {pct(lat, 50):8.2f} {pct(lat, 90):8.2f} "
                  f"{pct(lat, 99):8.2f} {max(lat):8.2f} {pct(lat, 99) / floor_p99:9.2f}"
                  + (f"  {statuses}" if statuses else ""))
        print("\nclosed loop, 4 requests at a time (capacity, no queue; CPU ms per request):")
        floor_rate = capacity["floor: select by key"][0]
        for label, (per_second, lat, svc_ms, pg_ms) in capacity.items():
            print(f"{label:46} {per_second:6.0f} requests/s ({per_second / floor_rate:4.2f}x floor)  "
                  f"p50 {pct(lat, 50):7.2f} ms  p99 {pct(lat, 99):7.2f} ms  "
                  f"CPU service {svc_ms:5.2f} ms + postgres {pg_ms:5.2f} ms")
        for label, timeline in timelines.items():
            if label == DISTINCT or pct(results[label][0], 99) > 10 * floor_p99:  # where the time went
                print_timeline(f"{label}, open loop", timeline)
        print_profile("svc-catalog with its index, open loop, distinct searches", profile.top(10))
        print_profile("svc-catalog without its index (SQL statement), closed loop, distinct searches",
                      sql_profile.top(10))
        if not args.no_matching:
            await print_matching(pg, rows)
        print(f"catalog_distinct_p99_ms: {pct(results[DISTINCT][0], 99):.1f}")
    except Exception:
        for log in (root / "catalog.log", root / "floor.log"):
            if log.exists():
                print(log.read_text()[-3000:])
        raise
    finally:
        for proc in (svc, svc_sql, floor):
            if proc is not None:
                proc.stop()
        nats.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


async def print_matching(pg: PostgresProcess, rows: list[tuple]) -> None:
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


if __name__ == "__main__":
    asyncio.run(main())
