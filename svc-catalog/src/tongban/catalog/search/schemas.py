from pydantic import BaseModel

from tongban.catalog.item.schemas import ItemSummary


class SearchHit(ItemSummary):
    score: float


class SearchResult(BaseModel):
    items: list[SearchHit]
    total: int
    limit: int
    offset: int
    next_offset: int | None
    facets: dict[str, dict[str, int]]
