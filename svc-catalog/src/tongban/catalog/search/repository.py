"""The search query, bounded so that its cost does not grow with how much of the catalogue a
query matches (a broad word such as 身份证 matches most items):

- ranking: of the first tier (every term in the name, an alias or the pinyin initials) at most
  `TITLE_SCAN` matches are read, the `WINDOW` shortest names (or down to the page's end if deeper)
  kept and ranked precisely. A second tier (a term found only in departments or materials) is
  read the same way from at most `MAX_DEPTH` matches, only when the first does not fill the page.
- total and facets: counted over at most `COUNT_CAP` + 1 matches. Up to the cap they are exact;
  beyond it the total is reported as the cap with `total_is_exact: false` ("1000+") and the facets
  describe the first `COUNT_CAP` matches (`facets_exact: false`).
"""

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, case, cast, func, literal, not_, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.catalog.elements import FLAG_NAMES
from tongban.catalog.item.models import Item
from tongban.catalog.search.text import is_initials_query, normalise, query_tokens

WINDOW = 200      # first-tier candidates ranked precisely for the first pages
MAX_DEPTH = 1000  # offset + limit may not go past this (refine the query); the second tier reads as many
COUNT_CAP = 1000  # matches counted exactly; beyond, "1000+"
TITLE_SCAN = 5000  # first-tier matches read at most (then sorted by name length)


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


def terms(q: str | None) -> list[str]:
    return [t for t in normalise(q or "").split() if t][:8]


def _filters(f: SearchFilters) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [Item.status == "published"]
    if f.city:
        conds.append(Item.cities.contains([f.city]))
    if f.department:
        conds.append(Item.departments.contains([f.department]))
    if f.audience:
        conds.append(Item.service_objects.contains([f.audience]))
    if f.theme:
        conds.append(or_(Item.themes.contains([f.theme]), Item.life_events.contains([f.theme])))
    if f.item_type:
        conds.append(Item.item_type == f.item_type)
    for flag in f.flags:
        conds.append(Item.flags.contains({flag: True}))
    return conds


def _matches(f: SearchFilters, column: Any) -> list[ColumnElement[bool]]:
    """Every term found in `column` (the title's or all the texts' tokens), or as pinyin initials."""
    conds: list[ColumnElement[bool]] = []
    for term in terms(f.q):
        keys = query_tokens(term)
        by_tokens = column.contains(keys) if keys else literal(False)
        conds.append(or_(Item.initials.like(f"%{term}%"), by_tokens) if is_initials_query(term) else by_tokens)
    return conds


def _score(f: SearchFilters) -> ColumnElement[Any]:
    """Name hits above alias hits above department and material hits; shorter names first."""
    parts: list[ColumnElement[Any]] = []
    aliases = func.array_to_string(Item.aliases, " ")
    departments = func.array_to_string(Item.departments, " ")
    for term in terms(f.q):
        parts += [case((func.strpos(func.lower(Item.name), term) == 1, 15),
                       (func.strpos(func.lower(Item.name), term) > 0, 10), else_=0),
                  case((func.strpos(func.lower(aliases), term) > 0, 4), else_=0),
                  case((func.strpos(departments, term) > 0, 2), else_=0)]
        if is_initials_query(term):
            parts.append(case((func.strpos(Item.initials, term) == 1, 8),
                              (func.strpos(Item.initials, term) > 0, 5), else_=0))
    base: ColumnElement[Any] = literal(0.0) - func.char_length(Item.name) * 0.01
    for p in parts:
        base = base + p
    return base


SUMMARY = [Item.id, Item.basic_code, Item.item_type, Item.name, Item.aliases, Item.implementing_body,
           Item.service_objects, Item.themes, Item.cities, Item.flags, Item.status, Item.version]


async def _tier(session: AsyncSession, f: SearchFilters, conds: list[ColumnElement[bool]], tier: int,
                window: int, scan: int) -> list[dict[str, Any]]:
    """Up to `window` candidates of one tier, shortest names first among at most `scan` matches
    read from the indexes, ranked precisely."""
    length = func.char_length(Item.name)
    if terms(f.q):
        # The GIN indexes narrow first; at most `scan` matches are read and sorted by length.
        matched = select(Item.id, Item.name, Item.basic_code).where(*conds).limit(scan).subquery()
        candidates = (select(matched.c.id).order_by(func.char_length(matched.c.name), matched.c.basic_code)
                      .limit(window).subquery())
    else:
        # Filters only: the partial index on char_length(name) gives the order without sorting.
        candidates = select(Item.id).where(*conds).order_by(length, Item.basic_code).limit(window).subquery()
    score = (_score(f) + tier * 100).label("score")
    rows = (await session.execute(select(*SUMMARY, score).join(candidates, candidates.c.id == Item.id)
                                  .order_by(score.desc(), Item.basic_code))).mappings().all()
    return [dict(r) for r in rows]


async def _ranked(session: AsyncSession, f: SearchFilters, limit: int, offset: int) -> list[dict[str, Any]]:
    filters, in_title, anywhere = _filters(f), _matches(f, Item.title_tokens), _matches(f, Item.search_tokens)
    window = max(WINDOW, offset + limit)
    hits = await _tier(session, f, filters + in_title, 1, window, TITLE_SCAN)
    if in_title and len(hits) < offset + limit:
        elsewhere = [*filters, *anywhere, not_(and_(*in_title))]
        hits += await _tier(session, f, elsewhere, 0, offset + limit - len(hits), MAX_DEPTH)
    return hits[offset:offset + limit]


async def _count(session: AsyncSession, f: SearchFilters,
                 with_facets: bool) -> tuple[int, bool, dict[str, dict[str, int]]]:
    """How many match (exactly up to COUNT_CAP), and the facet counts over those matches."""
    conds = [*_filters(f), *_matches(f, Item.search_tokens)]
    # One row more than the cap tells "exactly the cap" from "more"; the facets count the cap only.
    matched = (select(Item.item_type, Item.cities, Item.service_objects, Item.themes, Item.flags,
                      func.row_number().over().label("n"))
               .where(*conds).limit(COUNT_CAP + 1).cte("matched"))
    if not with_facets:
        n = (await session.execute(select(func.count()).select_from(matched))).scalar_one()
        return min(n, COUNT_CAP), n <= COUNT_CAP, {}
    m = matched.c
    counted = m.n <= COUNT_CAP

    def unnest(kind: str, column: Any) -> Any:
        inner = select(func.unnest(column).label("value")).where(counted).subquery()
        return select(literal(kind), inner.c.value, func.count()).group_by(inner.c.value)

    # One row per facet value; the flags come as one row of counts (a JSON object), with the total.
    flag_counts = func.jsonb_build_object(*[x for name in FLAG_NAMES for x in (
        literal(name), func.count().filter(and_(counted, m.flags[name].as_boolean())))])
    facet_sql = union_all(
        select(literal("total"), cast(flag_counts, Text), func.count()).select_from(matched),
        select(literal("item_type"), m.item_type, func.count()).where(counted).group_by(m.item_type),
        unnest("city", m.cities), unnest("audience", m.service_objects), unnest("theme", m.themes),
    )
    facets: dict[str, dict[str, int]] = {"item_type": {}, "city": {}, "audience": {}, "theme": {}, "flag": {}}
    n = 0
    for facet, value, count in (await session.execute(facet_sql)).all():
        if facet == "total":
            n = count
            facets["flag"] = {k: v for k, v in json.loads(value).items() if v}
        else:
            facets[facet][value] = count
    return min(n, COUNT_CAP), n <= COUNT_CAP, facets


async def search(session: AsyncSession, f: SearchFilters, limit: int, offset: int, with_facets: bool) -> SearchPage:
    """One page of matching published items (summary columns and score), the total, and the facets."""
    hits = await _ranked(session, f, limit, offset)
    total, exact, facets = await _count(session, f, with_facets)
    if exact and offset + len(hits) > total:  # cannot happen in one snapshot; keeps the page consistent
        total = offset + len(hits)
    return SearchPage(hits=hits, total=total, total_is_exact=exact, facets=facets)
