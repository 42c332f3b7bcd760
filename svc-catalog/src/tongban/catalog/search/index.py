"""An in-process, rank-ordered index of the published catalogue: a search no cache has seen
costs about what a select by key costs, however many items its words match.

Every published item has a position, its rank by (name length, basic code): the order in which
the first ranking tier reads its candidates. Each search key (a CJK unigram or bigram, an ASCII
word, a bigram of the pinyin initials, a filter or facet value) maps to the bitmap of the
positions holding it, a Python int (AND and popcount run in C over 100,000 bits in microseconds).
A search is a few ANDs; the window of shortest names is the bitmap's first set bits; the total
and the facets are popcounts. Each item's search hit is kept serialised (its JSON, the score
appended per answer), so a search asks PostgreSQL nothing but the generation (see below).
The answers are those of the SQL statement in `repository` (kept for a replica whose index is
not built yet), except that each tier's window is the truly shortest of all its matches.

Freshness: `cache.bump` stamps every written item with the search generation its transaction
takes (`item.search_seq`). Generations are taken under the generation row's lock, so they
commit in order: an index at generation g that reads, in one statement, the current generation
and the items stamped after g is exactly the catalogue at that generation. The router brings the
index up to the generation the answer cache read (at most a second old, current after a write
of this process) before each search. Items changed since the last build sit after the ranked
positions (out of rank order) and are merged by rank key when read; past `REBUILD_AFTER` of
them the next catch-up rebuilds the whole index.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import asyncpg
import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession
from tongban.catalog.elements import FLAG_NAMES
from tongban.catalog.item.schemas import ItemSummary
from tongban.catalog.search import repository
from tongban.catalog.search.repository import SearchFilters, SearchPage, terms
from tongban.catalog.search.text import alternatives, is_initials_query

log = logging.getLogger("tongban.catalog.search")
REBUILD_AFTER = 2000   # changed items kept out of rank order before a full rebuild
_SUMMARY = ("id", "basic_code", "item_type", "name", "aliases", "implementing_body", "service_objects", "themes",
            "cities", "flags", "status", "version")
_DOC = ", ".join([*_SUMMARY, "departments", "initials", "life_events"])
_RANK = "char_length(name), basic_code, id"
_FACETS = ("item_type", "city", "audience", "theme")


def _bitmap(positions: np.ndarray, size: int) -> int:
    bits = np.zeros(size + 8, dtype=bool)
    bits[positions] = True
    return int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little")


def _positions(bitmap: int, first: int | None = None) -> np.ndarray:
    """The set bits of `bitmap`, ascending (only the `first` ones if given): only its non-zero
    bytes are unpacked, so a sparse bitmap costs what it holds, not its length."""
    if not bitmap:
        return np.empty(0, dtype=np.int64)
    raw = np.frombuffer(bitmap.to_bytes((bitmap.bit_length() + 7) // 8, "little"), dtype=np.uint8)
    nonzero = np.flatnonzero(raw)
    if first is not None:
        nonzero = nonzero[:first]  # each holds at least one bit: the first `first` bytes hold enough
    bits = np.unpackbits(raw[nonzero], bitorder="little").reshape(-1, 8)
    where = np.nonzero(bits)
    found = nonzero[where[0]] * 8 + where[1]
    return found if first is None else found[:first]


def _initials_bigrams(initials: str) -> set[str]:
    return {initials[i:i + 2] for i in range(len(initials) - 1) if " " not in initials[i:i + 2]}


# What ranking and the page read of an item at a position: a plain tuple of strings, ints and
# bytes, which the garbage collector stops tracking (100,000 of them cost no collection time).
_ID, _CODE, _NAME, _LENGTH, _ALIASES, _DEPARTMENTS, _INITIALS, _HIT = range(8)


class SearchIndex:
    def __init__(self) -> None:
        self.generation = -1
        self.docs: list[tuple[Any, ...]] = []
        self.ranked = 0                     # positions [0, ranked) are in rank order
        self.by_id: dict[str, int] = {}
        self.live = 0
        self.anywhere: dict[str, int] = {}    # search_tokens (every text) → positions
        self.title: dict[str, int] = {}     # title_tokens (name and aliases)
        self.initials: dict[str, int] = {}  # bigrams of the pinyin initials
        self.facet: dict[str, dict[str, int]] = {f: {} for f in _FACETS}
        self.theme_or_event: dict[str, int] = {}
        self.department: dict[str, int] = {}
        self.flag: dict[str, int] = {}
        self.lock = asyncio.Lock()

    @property
    def ready(self) -> bool:
        return self.generation >= 0

    # --- building and catching up ----------------------------------------------------------------

    async def build(self, dsn: str) -> None:
        """Read the whole published catalogue in one snapshot and index it."""
        conn = await asyncpg.connect(dsn)
        await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                gen = await conn.fetchval("SELECT n FROM catalog.search_generation WHERE id = 1") or 0
                ranked = (f"SELECT (row_number() OVER (ORDER BY {_RANK}) - 1)::int AS pos, * FROM catalog.item "
                          "WHERE status = 'published'")
                docs = await conn.fetch(f"SELECT {_DOC} FROM catalog.item WHERE status = 'published' "
                                        f"ORDER BY {_RANK}")
                postings = {}
                for column in ("search_tokens", "title_tokens"):
                    # Positions as packed int4s: the index's bulk, moved without a Python object each.
                    postings[column] = await conn.fetch(
                        f"SELECT t, string_agg(int4send(pos), ''::bytea ORDER BY pos) AS p FROM ({ranked}) r, "
                        f"unnest(r.{column}) t GROUP BY t")
        finally:
            await conn.close()
        built = await asyncio.to_thread(self._built, docs, postings)
        self.__dict__.update({k: v for k, v in built.__dict__.items() if k != "lock"})
        self.generation = gen
        log.info("search index built: %d items at generation %d", len(self.docs), gen)

    @staticmethod
    def _built(docs: list[asyncpg.Record], postings: dict[str, list[asyncpg.Record]]) -> SearchIndex:
        new = SearchIndex()
        size = len(docs)
        for column, target in (("search_tokens", new.anywhere), ("title_tokens", new.title)):
            for row in postings[column]:
                target[row["t"]] = _bitmap(np.frombuffer(row["p"], dtype=">i4"), size)
        lists: dict[tuple[str, str], list[int]] = {}
        for pos, row in enumerate(docs):
            new._describe(pos, row, lambda key, value, p=pos: lists.setdefault((key, value), []).append(p))
        for (key, value), positions in lists.items():
            new._map(key)[value] = _bitmap(np.array(positions), size)
        new.ranked = size
        new.live = (1 << size) - 1
        return new

    def _map(self, key: str) -> dict[str, int]:
        if key in _FACETS:
            return self.facet[key]
        return {"initials": self.initials, "theme_or_event": self.theme_or_event, "department": self.department,
                "flag": self.flag}[key]

    def _describe(self, pos: int, row: Any, add: Any) -> None:
        """Record the item `row` at `pos`; `add(key, value)` files it under each filter and facet."""
        aliases = row["aliases"] or []
        summary = ItemSummary.model_validate({k: row[k] for k in _SUMMARY}).model_dump_json().encode()
        item_id = str(row["id"])
        self.docs.append((item_id, row["basic_code"], row["name"].lower(), len(row["name"]), " ".join(aliases).lower(),
                          " ".join(row["departments"] or []), row["initials"] or "", summary[:-1] + b',"score":'))
        self.by_id[item_id] = pos
        add("item_type", row["item_type"])
        for key, column in (("city", "cities"), ("audience", "service_objects"), ("theme", "themes"),
                            ("department", "departments")):
            for value in set(row[column] or []):
                add(key, value)
        for value in {*(row["themes"] or []), *(row["life_events"] or [])}:
            add("theme_or_event", value)
        flags = row["flags"] or {}
        for name in FLAG_NAMES:
            if flags.get(name) is True:
                add("flag", name)
        for bigram in _initials_bigrams(row["initials"] or ""):
            add("initials", bigram)

    async def catch_up(self, session: AsyncSession, generation: int, dsn: str) -> None:
        """Bring the index to `generation` or later (one statement: the current generation and
        every item written after the index's)."""
        if self.generation >= generation:
            return
        async with self.lock:
            if self.generation >= generation:
                return
            conn = (await (await session.connection()).get_raw_connection()).driver_connection
            rows = await conn.fetch(
                f"SELECT g.n AS generation, i.* FROM catalog.search_generation g LEFT JOIN LATERAL "
                f"(SELECT {_DOC}, search_tokens, title_tokens FROM catalog.item WHERE search_seq > $1) i ON true "
                "WHERE g.id = 1", self.generation)
            changed = [r for r in rows if r["id"] is not None]
            if len(self.docs) - self.ranked + len(changed) > REBUILD_AFTER:
                await self.build(dsn)
                return
            for row in changed:
                self._apply(row)
            self.generation = max(self.generation, rows[0]["generation"] if rows else 0)

    def _apply(self, row: Any) -> None:
        """An item written since the index was built: its old position leaves, its new one (if
        published) is appended after the ranked positions."""
        old = self.by_id.pop(str(row["id"]), None)
        if old is not None:
            self.live &= ~(1 << old)
        if row["status"] != "published":
            return
        pos = len(self.docs)
        bit = 1 << pos

        def add(key: str, value: str) -> None:
            target = self._map(key)
            target[value] = target.get(value, 0) | bit

        self._describe(pos, row, add)
        for column, target in (("search_tokens", self.anywhere), ("title_tokens", self.title)):
            for token in row[column] or []:
                target[token] = target.get(token, 0) | bit
        self.live |= bit

    # --- searching -------------------------------------------------------------------------------

    def _term(self, term: str, title: bool) -> int:
        """Positions holding `term`: every key of its text (or of another spelling of it) in the
        title's (or all) tokens, or as pinyin initials."""
        source = self.title if title else self.anywhere
        found = 0
        for keys in alternatives(term):  # its own keys, or those of another spelling of it
            one = self.live
            for key in keys:
                one &= source.get(key, 0)
                if not one:
                    break
            found |= one
        if is_initials_query(term):
            found |= self._initials_match(term)
        return found

    def _initials_match(self, term: str) -> int:
        candidates = self.live
        for bigram in _initials_bigrams(term):
            candidates &= self.initials.get(bigram, 0)
            if not candidates:
                return 0
        if len(term) > 2:  # the bigrams are all there; is the run itself? (exact, as LIKE is)
            docs = self.docs
            misses = [p for p in _positions(candidates).tolist() if term not in docs[p][_INITIALS]]
            if misses:
                candidates &= ~_bitmap(np.array(misses), len(docs))
        return candidates

    def _filters(self, f: SearchFilters) -> int:
        found = self.live
        for value, source in ((f.city, self.facet["city"]), (f.department, self.department),
                              (f.audience, self.facet["audience"]), (f.theme, self.theme_or_event),
                              (f.item_type, self.facet["item_type"])):
            if value:
                found &= source.get(value, 0)
        for flag in f.flags:
            found &= self.flag.get(flag, 0)
        return found

    def _shortest(self, bitmap: int, k: int) -> list[int]:
        """The `k` positions of `bitmap` with the shortest names (then basic codes)."""
        if k <= 0 or not bitmap:
            return []
        ranked = _positions(bitmap & ((1 << self.ranked) - 1), k).tolist()
        later = bitmap >> self.ranked
        if not later:
            return ranked
        merged = ranked + [self.ranked + p for p in _positions(later).tolist()]
        docs = self.docs
        return sorted(merged, key=lambda p: (docs[p][_LENGTH], docs[p][_CODE], docs[p][_ID]))[:k]

    def _ranked(self, positions: list[int], words: list[tuple[str, bool]], tier: int) -> list[tuple[int, float]]:
        """Scored as the SQL statement scores (name over alias over department hits, shorter names
        first), best first, then by basic code."""
        docs = self.docs
        scored = []
        for p in positions:
            d = docs[p]
            name = d[_NAME]
            score = tier * 100 - d[_LENGTH] * 0.01
            for t, initials in words:
                at = name.find(t)
                if at == 0:
                    score += 15
                elif at > 0:
                    score += 10
                if t in d[_ALIASES]:
                    score += 4
                if t in d[_DEPARTMENTS]:
                    score += 2
                if initials:
                    at = d[_INITIALS].find(t)
                    if at == 0:
                        score += 8
                    elif at > 0:
                        score += 5
            scored.append((p, score))
        return sorted(scored, key=lambda ps: (-ps[1], docs[ps[0]][_CODE]))

    def _counted(self, matched: int, cap: int) -> int:
        """The first `cap` matches (in position order): what the facets describe."""
        if matched.bit_count() <= cap:
            return matched
        last = int(_positions(matched, cap)[cap - 1])
        return matched & ((1 << (last + 1)) - 1)

    def page(self, f: SearchFilters, limit: int, offset: int,
             with_facets: bool) -> tuple[list[tuple[int, float]], int, dict[str, dict[str, int]]]:
        """The page's (position, score) in order, the number of matches, and the facets."""
        words = terms(f.q)
        window = max(repository.WINDOW, offset + limit)
        end = offset + limit
        filters = self._filters(f)
        matched, in_title = filters, filters
        for t in words:
            matched &= self._term(t, title=False)
            in_title &= self._term(t, title=True) if in_title else 0
        scoring = [(t, is_initials_query(t)) for t in words]
        first = self._ranked(self._shortest(in_title if words else matched, window), scoring, 1)
        hits = first[offset:end]
        if words and end > len(first):
            missing = end - len(first)
            second = self._ranked(self._shortest(matched & ~in_title, missing), scoring, 0)
            hits += second[max(0, offset - len(first)):missing]
        facets: dict[str, dict[str, int]] = {"item_type": {}, "city": {}, "audience": {}, "theme": {}, "flag": {}}
        if with_facets:
            counted = self._counted(matched, repository.COUNT_CAP)
            for name in _FACETS:
                for value, bitmap in self.facet[name].items():
                    if n := (counted & bitmap).bit_count():
                        facets[name][value] = n
            for name, bitmap in self.flag.items():
                if n := (counted & bitmap).bit_count():
                    facets["flag"][name] = n
        return hits, matched.bit_count(), facets

    def search(self, f: SearchFilters, limit: int, offset: int, with_facets: bool) -> SearchPage:
        """As `repository.search`, from the index alone: each hit is its SearchHit JSON, kept
        serialised since the item was indexed (`SearchPage.hits_json`)."""
        hits, n, facets = self.page(f, limit, offset, with_facets)
        docs = self.docs
        page = [docs[pos][_HIT] + repr(round(score, 2)).encode() + b"}" for pos, score in hits]
        cap = repository.COUNT_CAP
        return SearchPage(hits=[], hits_json=page, total=min(n, cap), total_is_exact=n <= cap, facets=facets)


def dsn(database_url: str) -> str:
    """asyncpg's form of the service's database URL."""
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql://" + database_url[len(prefix):]
    return database_url


def of(app: Any) -> SearchIndex:
    """The app's own index (one per app: tests run several apps, each on its own database)."""
    if not hasattr(app.state, "search_index"):
        app.state.search_index = SearchIndex()
    return app.state.search_index
