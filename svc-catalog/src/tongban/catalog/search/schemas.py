from pydantic import BaseModel, Field

from tongban.catalog.item.schemas import ItemSummary


class SearchHit(ItemSummary):
    score: float


class SearchResult(BaseModel):
    items: list[SearchHit]
    total: int = Field(description="matches, counted exactly up to 1000; see total_is_exact")
    total_is_exact: bool = Field(description="false: more than `total` match (show it as \"1000+\")")
    facets_exact: bool = Field(description="false: the facets count the first 1000 matches only")
    limit: int
    offset: int
    next_offset: int | None
    facets: dict[str, dict[str, int]]
