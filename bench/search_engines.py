"""The catalogue's distinct searches on the same items, three ways: svc-catalog's in-process
bitmap index (search/index.py), its SQL statement (search/repository.py, PostgreSQL GIN over the
same bigram tokens), and tantivy (when installed: `pip install tantivy`) indexing the same tokens
pre-tokenised, with the rank (name length, basic code) as a fast field so it returns the window of
shortest names itself and counts the matches. Per engine: median and p99 ms per search,
single-threaded, in this process: the whole answer (window, ranking, page, total, facets) for the
bitmap index and the statement, and the part tantivy is given (the terms' keys and the city filter:
the window of shortest names and the count) for tantivy and, the same part, for the bitmap index.

    .venv/bin/python bench/search_engines.py DATABASE_URL [--n 500]

DATABASE_URL: a catalog database holding items (e.g. one loaded by bench/catalog_search.py).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
from tongban.catalog.search import index, repository
from tongban.catalog.search.text import query_tokens
from tongban.shared.db import make_engine, make_sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent))
from catalog_search import distinct_searches


def filters(path: str) -> tuple[repository.SearchFilters, int, int]:
    qs = parse_qs(urlsplit(path).query)
    one = {k: v[0] for k, v in qs.items()}
    f = repository.SearchFilters(q=one.get("q"), city=one.get("city"), audience=one.get("audience"),
                                 item_type=one.get("item_type"), theme=one.get("theme"), flags=qs.get("flag", []))
    return f, int(one.get("limit", 20)), int(one.get("offset", 0))


def stats(times: list[float]) -> str:
    s = sorted(times)
    return f"median {statistics.median(s):6.2f} ms  p99 {s[int(0.99 * (len(s) - 1))]:7.2f} ms"


async def tantivy_engine(url: str):
    import tantivy

    conn = await asyncpg.connect(url)
    rows = await conn.fetch("SELECT (row_number() OVER (ORDER BY char_length(name), basic_code) - 1)::int AS pos, "
                            "search_tokens, title_tokens, cities FROM catalog.item WHERE status = 'published'")
    await conn.close()
    b = tantivy.SchemaBuilder()
    b.add_text_field("anywhere", tokenizer_name="raw", index_option="basic")
    b.add_text_field("city", tokenizer_name="raw", index_option="basic")
    b.add_integer_field("rank", fast=True, stored=True)
    idx = tantivy.Index(b.build())
    writer = idx.writer(heap_size=200_000_000)
    t = time.perf_counter()
    for r in rows:
        writer.add_document(tantivy.Document(anywhere=list(r["search_tokens"]), city=list(r["cities"]), rank=r["pos"]))
    writer.commit()
    idx.reload()
    built = time.perf_counter() - t
    searcher = idx.searcher()
    schema = idx.schema

    def search(f: repository.SearchFilters, window: int) -> int:
        must = []
        for term in repository.terms(f.q):
            keys = query_tokens(term)
            must += [(tantivy.Occur.Must, tantivy.Query.term_query(schema, "anywhere", k)) for k in keys]
        if f.city:
            must.append((tantivy.Occur.Must, tantivy.Query.term_query(schema, "city", f.city)))
        q = tantivy.Query.boolean_query(must) if must else tantivy.Query.all_query()
        result = searcher.search(q, limit=window, count=True, order_by_field="rank", order=tantivy.Order.Asc)
        return result.count

    return search, built


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--n", type=int, default=500)
    args = ap.parse_args()
    paths = distinct_searches("", args.n, seed=21)
    idx = index.SearchIndex()
    t = time.perf_counter()
    await idx.build(args.url)
    print(f"bitmap index built in {time.perf_counter() - t:.1f} s ({len(idx.docs)} items)")
    times: dict[str, list[float]] = {"bitmap index (whole answer)": [], "SQL statement (whole answer)": []}
    engine = make_engine(args.url)
    sm = make_sessionmaker(engine)
    for path in paths:
        f, limit, offset = filters(path)
        t = time.perf_counter()
        idx.search(f, limit, offset, True)
        times["bitmap index (whole answer)"].append((time.perf_counter() - t) * 1000)
        async with sm() as s, s.begin():
            t = time.perf_counter()
            await repository.search(s, f, limit, offset, True)
            times["SQL statement (whole answer)"].append((time.perf_counter() - t) * 1000)
    await engine.dispose()
    try:
        search, built = await tantivy_engine(args.url)
    except ImportError:
        search = None
    if search is not None:
        print(f"tantivy index built in {built:.1f} s")
        label = "tantivy (terms + city: window + count)"
        times[label] = []
        for path in paths:
            f, limit, offset = filters(path)
            t = time.perf_counter()
            search(f, max(repository.WINDOW, offset + limit))
            times[label].append((time.perf_counter() - t) * 1000)
        label = "bitmap index (terms + city: window + count)"
        times[label] = []
        for path in paths:
            f, limit, offset = filters(path)
            f = repository.SearchFilters(q=f.q, city=f.city)  # what the tantivy run matches on
            t = time.perf_counter()
            matched = idx._filters(f)
            for term in repository.terms(f.q):
                matched &= idx._term(term, title=False)
            idx._shortest(matched, max(repository.WINDOW, offset + limit))
            matched.bit_count()
            times[label].append((time.perf_counter() - t) * 1000)
    print(f"\n{args.n} distinct searches of the bench's kind, one at a time, this process:")
    for label, values in times.items():
        print(f"  {label:46} {stats(values)}")


if __name__ == "__main__":
    asyncio.run(main())
