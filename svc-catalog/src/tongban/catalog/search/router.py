from typing import Annotated

from fastapi import APIRouter, Query

from tongban.catalog.elements import FLAG_NAMES, ServiceObject
from tongban.catalog.search import repository
from tongban.catalog.search.schemas import SearchHit, SearchResult
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.pagination import PageDep, page_of

router = APIRouter(tags=["search"])


@router.get("/search", response_model=SearchResult, responses=responses(InvalidField))
async def search(
    session: SessionDep, page: PageDep,
    q: Annotated[str | None, Query(max_length=100, description="keywords, or pinyin initials such as `sfz`")] = None,
    city: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    department: Annotated[str | None, Query(max_length=200)] = None,
    audience: ServiceObject | None = None,
    theme: Annotated[str | None, Query(max_length=100, description="a theme or a life event")] = None,
    item_type: Annotated[str | None, Query(pattern=r"^\d{2}$")] = None,
    flag: Annotated[list[str], Query(description="only items with every flag given")] = [],  # noqa: B006
    facets: bool = True,
) -> SearchResult:
    """Search the published catalogue by keywords (names, aliases, departments, materials) or
    pinyin initials, with filters, relevance ranking and facet counts (public)."""
    for f in flag:
        if f not in FLAG_NAMES:
            raise InvalidField("flag", f"{f!r} is not one of {', '.join(FLAG_NAMES)}")
    filters = repository.SearchFilters(q=q, city=city, department=department, audience=audience, theme=theme,
                                       item_type=item_type, flags=flag)
    hits, total, counts = await repository.search(session, filters, page.limit, page.offset, facets)
    items = [SearchHit.model_validate(h) for h in hits]
    p = page_of(items, total, page)
    return SearchResult(items=p.items, total=p.total, limit=p.limit, offset=p.offset, next_offset=p.next_offset,
                        facets=counts)

