"""Every list is paginated the same way: `limit` (1-200, default 50) and `offset` (bounded), answered
with the page's items, the total and the next offset."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")
MAX_LIMIT = 200
# Far past any list of the platform, and small enough that `offset + limit` stays a 32-bit integer
# wherever a repository hands it to the database.
MAX_OFFSET = 2**31 - 1 - MAX_LIMIT


class PageParams(BaseModel):
    limit: int = 50
    offset: int = 0


async def _page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="items to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(_page_params)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
    next_offset: int | None


async def paginate(session: AsyncSession, stmt: Select[Any], params: PageParams,
                   convert: Callable[[Any], T] | None = None, mappings: bool = False) -> Page[T]:
    """Run `stmt` (ordered by the caller, with a unique tie-breaker) for one page, plus its total.

    ORM statements yield entities; Core table statements pass `mappings=True` to get row dicts.
    """
    total = (await session.execute(select(func.count()).select_from(stmt.order_by(None).subquery()))).scalar_one()
    result = await session.execute(stmt.limit(params.limit).offset(params.offset))
    rows: Sequence[Any] = result.mappings().all() if mappings else result.scalars().all()
    return page_of([convert(r) for r in rows] if convert else list(rows), total, params)


def page_of(items: list[T], total: int, params: PageParams) -> Page[T]:
    nxt = params.offset + len(items)
    return Page[Any](items=items, total=total, limit=params.limit, offset=params.offset,
                     next_offset=nxt if nxt < total else None)
