import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from tongban.catalog.elements import FLAG_NAMES, ServiceObject
from tongban.catalog.policy import Public
from tongban.catalog.search import cache, index, repository
from tongban.catalog.search.errors import SearchBusy, SearchTimedOut
from tongban.catalog.search.schemas import SearchHit, SearchResult
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.pagination import PageDep

router = APIRouter(tags=["search"])
# A guard, not the plan: the query is bounded by design, but a pathological one must not hold a
# connection; it answers 503 instead.
STATEMENT_TIMEOUT_MS = 2000
_NO_ITEMS = b'{"items":[]'  # how SearchResult's JSON starts (items is its first field)


@router.get("/search", summary="搜索办事事项",
            response_model=SearchResult, responses=responses(InvalidField, SearchBusy, SearchTimedOut),
            dependencies=[Public("search")])
async def search(
    request: Request, session: SessionDep, page: PageDep,
    q: Annotated[str | None, Query(max_length=100, description=(
        "keywords, pinyin initials (`sfz`) or full pinyin (`yingyezhizhao`, also with spaces); "
        "common synonyms and wrong characters are forgiven"))] = None,
    city: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    department: Annotated[str | None, Query(max_length=200)] = None,
    audience: ServiceObject | None = None,
    theme: Annotated[str | None, Query(max_length=100, description="a theme or a life event")] = None,
    item_type: Annotated[str | None, Query(pattern=r"^\d{2}$")] = None,
    flag: Annotated[list[str], Query(description="only items with every flag given")] = [],  # noqa: B006
    facets: bool = True,
) -> Response:
    """Search the published catalogue by keywords (names, aliases, departments, materials), pinyin
    initials or full pinyin, forgiving common synonyms (俗称) and wrong characters, with filters,
    relevance ranking and facet counts (public)."""
    for f in flag:
        if f not in FLAG_NAMES:
            raise InvalidField("flag", f"{f!r} is not one of {', '.join(FLAG_NAMES)}")
    if page.offset + page.limit > repository.MAX_DEPTH:
        raise InvalidField("offset", f"offset + limit may not exceed {repository.MAX_DEPTH}; narrow the search "
                                     "with more words or filters")
    filters = repository.SearchFilters(q=q, city=city, department=department, audience=audience, theme=theme,
                                       item_type=item_type, flags=flag)
    key = (tuple(repository.terms(q)), city, department, audience, theme, item_type, tuple(sorted(set(flag))),
           facets, page.limit, page.offset)
    answers = cache.of(request.app)
    gen = await answers.generation(session)
    if (hit := answers.get(key, gen)) is not None:
        return Response(hit, media_type="application/json")  # serialised once, when computed
    try:
        async with asyncio.timeout(cache.SLOT_WAIT_SECONDS):
            await answers.slots.acquire()
    except TimeoutError:
        raise SearchBusy() from None
    try:
        idx = index.of(request.app)
        if idx.ready:
            await idx.catch_up(session, gen, index.dsn(request.app.state.settings.database_url))
            found = idx.search(filters, page.limit, page.offset, facets)
        else:  # this replica's index is not built (or is switched off): one bounded statement
            found = await repository.search(session, filters, page.limit, page.offset, facets, STATEMENT_TIMEOUT_MS)
    finally:
        answers.slots.release()
    raw = found.hits_json
    items = [SearchHit.model_validate(h) for h in found.hits] if raw is None else []
    count = len(items) if raw is None else len(raw)
    total = max(found.total, page.offset + count) if found.total_is_exact else found.total
    next_offset = page.offset + count if page.offset + count < total else None
    if not found.total_is_exact and next_offset is None and page.offset + count < repository.MAX_DEPTH:
        next_offset = page.offset + count  # more than the counted matches exist
    result = SearchResult(items=items, total=total, total_is_exact=found.total_is_exact,
                          facets_exact=found.total_is_exact, limit=page.limit, offset=page.offset,
                          next_offset=next_offset, facets=found.facets)
    body = result.model_dump_json().encode()
    if raw is not None and body.startswith(_NO_ITEMS):  # the index's hits, serialised when indexed: spliced in
        body = b'{"items":[' + b",".join(raw) + body[len(_NO_ITEMS) - 1:]
    answers.put(key, gen, body)
    return Response(body, media_type="application/json")

