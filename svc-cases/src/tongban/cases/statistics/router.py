import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from tongban.cases.statistics import service
from tongban.cases.statistics.schemas import CaseStatistic
from tongban.cases.policy import POLICY
from tongban.shared.auth import AUTH_ERRORS
from tongban.shared.policy import Access, Authorize
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.pagination import Page, PageDep, page_of

router = APIRouter(tags=["statistics"])
Reader = Annotated[Access, Depends(Authorize(POLICY, "statistics.read"))]


@router.get("/statistics/cases", response_model=Page[CaseStatistic],
            responses=responses(*AUTH_ERRORS, InvalidField))
async def case_statistics(session: SessionDep, page: PageDep, access: Reader,
                          group_by: Literal["item", "department"] = "item",
                          start: Annotated[dt.date | None, Query(alias="from")] = None,
                          end: Annotated[dt.date | None, Query(alias="to")] = None) -> Page[CaseStatistic]:
    """Staff: cases decided from `from` to `to` (default the last 30 days, at most a year) per item
    or department: on-time rate, average and longest working days taken, open overdue cases.
    Clerks see their halls' and departments' cases, approvers their departments' (`statistics.read`)."""
    stats = await service.case_statistics(session, access.principal, group_by, start, end)
    return page_of(stats[page.offset:page.offset + page.limit], len(stats), page)
