"""The search query, bounded so that its cost does not grow with how much of the catalogue a
query matches (a broad word such as 身份证 matches most items):

- total and facets: counted over at most `COUNT_CAP` + 1 matches. Up to the cap they are exact;
  beyond it the total is reported as the cap with `total_is_exact: false` ("1000+") and the facets
  describe the first `COUNT_CAP` matches (`facets_exact: false`).
- ranking: the first tier (every term in the name, an alias or the pinyin initials) ranks the
  `WINDOW` shortest names (or down to the page's end if deeper) of its candidates precisely: the
  title matches among the matches counted above, or, when those stopped at the cap with fewer
  than a window of title matches, at most `TITLE_SCAN` title matches read on their own. A second
  tier (a term found only in departments or materials) is read the same way from at most
  `MAX_DEPTH` matches, only when the first does not fill the page.

Cost: a search is one statement, one round trip. Ranking, the page, the total and the facets are
computed in PostgreSQL and only the page's rows (as JSON) and the counts come back. The statement
is SQL text with positional parameters, run on the session's own connection inside its
transaction: built as SQLAlchemy expressions, the same search cost ~10 ms of Python CPU (building,
compiling and caching a statement whose shape varies with the terms and filters given, and
reading back 200 candidate rows), more than PostgreSQL spent running it. Every value is a
parameter; only constants of this module are written into the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.catalog.elements import FLAG_NAMES
from tongban.catalog.search.errors import SearchTimedOut
from tongban.catalog.search.text import alternatives, is_initials_query, joined_pinyin, normalise

WINDOW = 200      # first-tier candidates ranked precisely for the first pages
MAX_DEPTH = 1000  # offset + limit may not go past this (refine the query); the second tier reads as many
COUNT_CAP = 1000  # matches counted exactly; beyond, "1000+"
TITLE_SCAN = 1000  # first-tier matches read at most (then sorted by name length); see the README

# The hit as the API shows it (ItemSummary plus the score), built in the database.
HIT_COLUMNS = ("json_build_object('id', i.id, 'basic_code', i.basic_code, 'item_type', i.item_type, 'name', i.name, "
               "'aliases', i.aliases, 'implementing_body', i.implementing_body, 'service_objects', i.service_objects, "
               "'themes', i.themes, 'cities', i.cities, 'flags', i.flags, 'status', i.status, 'version', i.version")
_HIT = HIT_COLUMNS + ", 'score', p.score)"
_FLAG_COUNTS = ", ".join(f"'{n}', count(*) FILTER (WHERE (flags ->> '{n}')::boolean)" for n in FLAG_NAMES)


@dataclass
class SearchFilters:
    q: str | None = None
    city: str | None = None
    department: str | None = None
    audience: str | None = None
    theme: str | None = None
    item_type: str | None = None
    flags: list[str] = field(default_factory=list)


@dataclass
class SearchPage:
    hits: list[dict[str, Any]]
    total: int
    total_is_exact: bool
    facets: dict[str, dict[str, int]]
    hits_json: list[bytes] | None = None  # the hits already serialised as SearchHit (the index's)


def terms(q: str | None) -> list[str]:
    """The query's words (pinyin typed with spaces joined into one), at most eight."""
    return joined_pinyin([t for t in normalise(q or "").split() if t])[:8]


class _Statement:
    """Positional parameters for a statement being written: `p(value)` is `$n`."""

    def __init__(self) -> None:
        self.args: list[Any] = []
        self.sql = ""

    def p(self, value: Any, cast: str = "") -> str:
        self.args.append(value)
        return f"${len(self.args)}{cast}"


def _filters(s: _Statement, f: SearchFilters) -> list[str]:
    # The status is a literal, not a parameter: the partial name-length index is chosen only when
    # the planner sees its predicate, including in a cached generic plan.
    conds = ["i.status = 'published'"]
    if f.city:
        conds.append(f"i.cities @> ARRAY[{s.p(f.city, '::varchar')}]")
    if f.department:
        conds.append(f"i.departments @> ARRAY[{s.p(f.department, '::varchar')}]")
    if f.audience:
        conds.append(f"i.service_objects @> ARRAY[{s.p(f.audience, '::varchar')}]")
    if f.theme:
        theme = s.p(f.theme, "::varchar")
        conds.append(f"(i.themes @> ARRAY[{theme}] OR i.life_events @> ARRAY[{theme}])")
    if f.item_type:
        conds.append(f"i.item_type = {s.p(f.item_type, '::varchar')}")
    for flag in f.flags:
        conds.append(f"i.flags @> jsonb_build_object({s.p(flag, '::text')}, true)")
    return conds


def _matches(s: _Statement, f: SearchFilters, column: str) -> list[str]:
    """Every term found in `column` (the title's or all the texts' tokens) by its own keys or
    those of another spelling of it (its pinyin, a synonym, a corrected character), or as pinyin
    initials."""
    conds = []
    for term in terms(f.q):
        # The term's own keys or those of one of its other spellings (text.alternatives).
        by_tokens = " OR ".join(f"i.{column} @> {s.p(list(keys), '::text[]')}" for keys in alternatives(term)) \
            or "false"
        conds.append(f"(i.initials LIKE {s.p(f'%{term}%', '::text')} OR {by_tokens})" if is_initials_query(term)
                     else f"({by_tokens})")
    return conds


def _score(s: _Statement, f: SearchFilters, tier: int) -> str:
    """Name hits above alias hits above department and material hits; shorter names first (over
    a candidate `c` carrying name, aliases, departments and initials)."""
    parts = [f"{tier * 100} - char_length(c.name) * 0.01"]
    for term in terms(f.q):
        t = s.p(term, "::text")
        parts += [f"CASE WHEN strpos(lower(c.name), {t}) = 1 THEN 15 WHEN strpos(lower(c.name), {t}) > 0 THEN 10 "
                  "ELSE 0 END",
                  f"CASE WHEN strpos(lower(array_to_string(c.aliases, ' ')), {t}) > 0 THEN 4 ELSE 0 END",
                  f"CASE WHEN strpos(array_to_string(c.departments, ' '), {t}) > 0 THEN 2 ELSE 0 END"]
        if is_initials_query(term):
            parts.append(f"CASE WHEN strpos(c.initials, {t}) = 1 THEN 8 WHEN strpos(c.initials, {t}) > 0 THEN 5 "
                         "ELSE 0 END")
    return " + ".join(parts)


_RANKED_BY = "id, name, basic_code, aliases, departments, initials"  # what the score reads of a candidate
_RANKED_BY_I = ", ".join(f"i.{c}" for c in _RANKED_BY.split(", "))


def _ranked(s: _Statement, f: SearchFilters, candidates: str, tier: int, window: str) -> str:
    """A tier's candidates ranked, as (id, score, pos): the `window` shortest names of
    `candidates` (rows with _RANKED_BY's columns), scored and numbered."""
    shortest = f"SELECT * FROM ({candidates}) u ORDER BY char_length(name), basic_code LIMIT {window}"
    scored = f"SELECT c.id, c.basic_code, {_score(s, f, tier)} AS score FROM ({shortest}) c"
    return f"SELECT id, score, row_number() OVER (ORDER BY score DESC, basic_code) AS pos FROM ({scored}) r"


def _statement(f: SearchFilters, limit: int, offset: int, with_facets: bool) -> _Statement:
    """One statement for the page, the total and the facets, returning one row.

    One scan of the matches (`matched`, at most COUNT_CAP + 1, in the tokens' index order) gives
    the total, the facets and, when it holds enough of them, the first tier's candidates (every
    term in the title). A second scan of the title matches alone (at most TITLE_SCAN) runs only
    when `matched` stopped at its cap with fewer than a window of title matches in it (a word
    found mostly in materials, such as 身份证). The second tier is read only when the first ends
    before the page does. Each optional scan sits under a LIMIT that is 0 when it is not needed,
    and PostgreSQL does not start a scan under a LIMIT 0."""
    s = _Statement()
    filters = _filters(s, f)
    in_title, anywhere = _matches(s, f, "title_tokens"), _matches(s, f, "search_tokens")
    window = s.p(max(WINDOW, offset + limit))
    start, end = s.p(offset), s.p(offset + limit)
    title = " AND ".join(in_title) or "true"
    # One row more than the cap tells "exactly the cap" from "more"; the facets count the cap only.
    ctes = [f"matched AS MATERIALIZED (SELECT {_RANKED_BY_I}, i.item_type, i.cities, "
            f"i.service_objects, i.themes, i.flags, {title} AS in_title FROM catalog.item i "
            f"WHERE {' AND '.join(filters + anywhere)} LIMIT {s.p(COUNT_CAP + 1)})"]
    if in_title:
        cap = s.p(COUNT_CAP + 1)
        ctes.append(f"rescan AS MATERIALIZED (SELECT count(*) = {cap} AND count(*) FILTER (WHERE in_title) < {window} "
                    "AS needed FROM matched)")
        rescan = (f"SELECT {_RANKED_BY} FROM (SELECT {_RANKED_BY_I} FROM catalog.item i "
                  f"WHERE {' AND '.join(filters + in_title)} "
                  f"LIMIT (SELECT CASE WHEN needed THEN {s.p(TITLE_SCAN)} ELSE 0 END FROM rescan)) r")
        first = (f"SELECT {_RANKED_BY} FROM matched WHERE in_title AND NOT (SELECT needed FROM rescan) "
                 f"UNION ALL {rescan}")
    else:
        # Filters only: the partial name-length index gives the order; nothing is sorted.
        first = (f"SELECT {_RANKED_BY_I} FROM catalog.item i WHERE {' AND '.join(filters)} "
                 f"ORDER BY char_length(i.name), i.basic_code LIMIT {window}")
    ctes.append(f"t1 AS MATERIALIZED ({_ranked(s, f, first, 1, window)})")
    page = f"SELECT id, score, pos FROM t1 WHERE pos > {start} AND pos <= {end}"
    if in_title:
        # The second tier fills what the first leaves of the page: its window is the rows still
        # missing, 0 when the first tier reaches the page's end.
        missing = f"(SELECT greatest({end} - count(*), 0) FROM t1)"
        elsewhere = " AND ".join([*filters, *anywhere, f"NOT ({title})"])
        second = (f"SELECT {_RANKED_BY} FROM (SELECT {_RANKED_BY_I} FROM catalog.item i "
                  f"WHERE {elsewhere} LIMIT (SELECT CASE WHEN {missing} > 0 THEN {s.p(MAX_DEPTH)} ELSE 0 END)) r")
        ctes.append(f"t2 AS ({_ranked(s, f, second, 0, missing)})")
        page += (" UNION ALL SELECT id, score, pos + (SELECT count(*) FROM t1) FROM t2 "
                 f"WHERE pos + (SELECT count(*) FROM t1) > {start}")
    ctes.append(f"page AS ({page})")
    columns = [f"(SELECT coalesce(json_agg({_HIT} ORDER BY p.pos), '[]') FROM page p "
               "JOIN catalog.item i ON i.id = p.id) AS hits",
               "(SELECT count(*) FROM matched) AS n"]
    if with_facets:
        ctes.append(f"counted AS MATERIALIZED (SELECT * FROM matched LIMIT {s.p(COUNT_CAP)})")
        # One pass for the four list facets: the arrays unnested side by side (shorter ones padded
        # with NULL) and counted per value of each column (grouping sets); the flags in a second.
        columns += ["(SELECT json_agg(json_build_array(t, c, a, th, n)) FROM (SELECT t, c, a, th, count(*) AS n "
                    "FROM counted, unnest(ARRAY[item_type], cities, service_objects, themes) AS u(t, c, a, th) "
                    "GROUP BY GROUPING SETS ((t), (c), (a), (th))) x) AS facets",
                    f"(SELECT json_build_object({_FLAG_COUNTS}) FROM counted) AS flag"]
    s.sql = f"WITH {', '.join(ctes)} SELECT {', '.join(columns)}"
    return s


async def search(session: AsyncSession, f: SearchFilters, limit: int, offset: int, with_facets: bool,
                 timeout_ms: int = 2000) -> SearchPage:
    """One page of matching published items (summary columns and score), the total, and the facets.
    `timeout_ms` bounds the statement (a guard: the query is bounded by design); past it the
    search answers 503 `search_timed_out`."""
    s = _statement(f, limit, offset, with_facets)
    # The session's own connection, inside its transaction: the statement bypasses only
    # SQLAlchemy's expression layer.
    conn: asyncpg.Connection = (await (await session.connection()).get_raw_connection()).driver_connection
    try:
        # Custom plans always: a generic plan cannot see how many items the tokens match, and the
        # choice between the token indexes and the name-length index depends on it.
        await conn.execute(f"SET LOCAL statement_timeout = {int(timeout_ms)}; "
                           "SET LOCAL plan_cache_mode = force_custom_plan")
        row = await conn.fetchrow(s.sql, *s.args)
    except asyncpg.QueryCanceledError as exc:
        raise SearchTimedOut() from exc
    n = row["n"]
    facets: dict[str, dict[str, int]] = {"item_type": {}, "city": {}, "audience": {}, "theme": {}, "flag": {}}
    if with_facets:
        for values in row["facets"] or []:
            *by_column, count = values
            for name, value in zip(("item_type", "city", "audience", "theme"), by_column, strict=True):
                if value is not None:  # the one column this grouping set counts (NULL: padding)
                    facets[name][value] = count
        facets["flag"] = {k: v for k, v in (row["flag"] or {}).items() if v}
    hits = row["hits"]
    total, exact = min(n, COUNT_CAP), n <= COUNT_CAP
    if exact and offset + len(hits) > total:  # cannot happen in one snapshot; keeps the page consistent
        total = offset + len(hits)
    return SearchPage(hits=hits, total=total, total_is_exact=exact, facets=facets)
