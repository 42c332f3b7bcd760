import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from tongban.cases.case.errors import NotAllowedForRole
from tongban.cases.statistics import service
from tongban.cases.statistics.schemas import CaseStatistic
from tongban.shared.auth import AUTH_ERRORS, Principal, Requires
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.pagination import Page, PageDep, page_of

router = APIRouter(tags=["statistics"])
CaseReader = Annotated[Principal, Depends(Requires("cases:read"))]


@router.get("/statistics/cases", response_model=Page[CaseStatistic],
            responses=responses(*AUTH_ERRORS, NotAllowedForRole, InvalidField))
async def case_statistics(session: SessionDep, page: PageDep, actor: CaseReader,
                          group_by: Literal["item", "department"] = "item",
                          start: Annotated[dt.date | None, Query(alias="from")] = None,
                          end: Annotated[dt.date | None, Query(alias="to")] = None) -> Page[CaseStatistic]:
    """Staff: cases decided from `from` to `to` (default the last 30 days, at most a year) per item
    or department: on-time rate, average and longest working days taken, open overdue cases.
    Approvers see their own department's."""
    if not actor.is_staff:
        raise NotAllowedForRole("statistics are for staff")
    stats = await service.case_statistics(session, actor, group_by, start, end)
    return page_of(stats[page.offset:page.offset + page.limit], len(stats), page)
