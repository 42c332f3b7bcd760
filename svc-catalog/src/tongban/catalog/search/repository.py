"""The search query: candidates from the GIN indexes (bigram tokens, trigram-indexed pinyin
initials), filters, a relevance score, and facet counts over the whole filtered set."""

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, case, cast, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.catalog.elements import FLAG_NAMES
from tongban.catalog.item.models import Item
from tongban.catalog.search.text import is_initials_query, normalise, query_tokens


@dataclass
class SearchFilters:
    q: str | None = None
    city: str | None = None
    department: str | None = None
    audience: str | None = None
    theme: str | None = None
    item_type: str | None = None
    flags: list[str] = field(default_factory=list)


def _terms(q: str | None) -> list[str]:
    return [t for t in normalise(q or "").split() if t][:8]


def _where(f: SearchFilters) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [Item.status == "published"]
    for term in _terms(f.q):
        keys = query_tokens(term)
        by_tokens = Item.search_tokens.contains(keys) if keys else literal(False)
        if is_initials_query(term):
            conds.append(or_(Item.initials.like(f"%{term}%"), by_tokens))
        else:
            conds.append(by_tokens)
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


def _score(f: SearchFilters) -> ColumnElement[Any]:
    """Name hits above alias hits above department and material hits; shorter names first."""
    parts: list[ColumnElement[Any]] = []
    aliases = func.array_to_string(Item.aliases, " ")
    departments = func.array_to_string(Item.departments, " ")
    for term in _terms(f.q):
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


async def search(session: AsyncSession, f: SearchFilters, limit: int, offset: int,
                 with_facets: bool) -> tuple[list[dict[str, Any]], int, dict[str, dict[str, int]]]:
    """One page of matching published items (summary columns and score), the total, and the facets."""
    conds = and_(*_where(f))
    score = _score(f).label("score")
    rows = (await session.execute(
        select(*SUMMARY, score).where(conds).order_by(score.desc(), Item.basic_code).limit(limit).offset(offset)
    )).mappings().all()
    hits = [dict(r) for r in rows]
    if not with_facets:
        total = (await session.execute(select(func.count()).select_from(Item).where(conds))).scalar_one()
        return hits, total, {}
    matched = select(Item.item_type, Item.cities, Item.service_objects, Item.themes, Item.flags).where(
        conds).cte("matched")
    m = matched.c

    def unnest(kind: str, column: Any) -> Any:
        inner = select(func.unnest(column).label("value")).select_from(matched).subquery()
        return select(literal(kind), inner.c.value, func.count()).group_by(inner.c.value)

    # One row per facet value; the flags come as one row of counts (a JSON object), with the total.
    flag_counts = func.jsonb_build_object(*[x for name in FLAG_NAMES for x in (
        literal(name), func.count().filter(m.flags[name].as_boolean()))])
    facet_sql = union_all(
        select(literal("total"), cast(flag_counts, Text), func.count()).select_from(matched),
        select(literal("item_type"), m.item_type, func.count()).select_from(matched).group_by(m.item_type),
        unnest("city", m.cities), unnest("audience", m.service_objects), unnest("theme", m.themes),
    )
    facets: dict[str, dict[str, int]] = {"item_type": {}, "city": {}, "audience": {}, "theme": {}, "flag": {}}
    total = 0
    for facet, value, n in (await session.execute(facet_sql)).all():
        if facet == "total":
            total = n
            facets["flag"] = {k: v for k, v in json.loads(value).items() if v}
        else:
            facets[facet][value] = n
    return hits, total, facets
