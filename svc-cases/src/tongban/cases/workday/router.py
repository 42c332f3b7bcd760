import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from tongban.cases.workday import repository, service
from tongban.cases.workday.errors import UnknownCalendarDate
from tongban.cases.workday.schemas import DeadlineRead, WorkdayOverrideRead, WorkdayOverrideUpdate
from tongban.shared.auth import AUTH_ERRORS, Principal, Requires
from tongban.shared.db import SessionDep
from tongban.shared.errors import NotFound, responses
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/workdays", tags=["working-day calendar"])
CasesAdmin = Annotated[Principal, Depends(Requires("cases:admin"))]
CaseReader = Annotated[Principal, Depends(Requires("cases:read"))]


@router.get("/deadline", response_model=DeadlineRead, responses=responses(*AUTH_ERRORS, UnknownCalendarDate))
async def compute_deadline(session: SessionDep, _: CaseReader, start: dt.date,
                           working_days: Annotated[int, Query(ge=0, le=3650)]) -> DeadlineRead:
    """The deadline of a limit of `working_days` for a submission on `start`."""
    return await service.deadline(session, start, working_days)


@router.get("/overrides", response_model=Page[WorkdayOverrideRead], responses=responses(*AUTH_ERRORS))
async def list_overrides(session: SessionDep, page: PageDep, _: CaseReader,
                         start: dt.date | None = None) -> Page[WorkdayOverrideRead]:
    """The admins' overrides of chinese-calendar, by date."""
    return await paginate(session, repository.list_query(start), page, WorkdayOverrideRead.model_validate)


@router.put("/{day}", response_model=WorkdayOverrideRead, responses=responses(*AUTH_ERRORS))
async def set_override(day: dt.date, body: WorkdayOverrideUpdate, session: SessionDep,
                       actor: CasesAdmin) -> WorkdayOverrideRead:
    """Declare a date a working day or a holiday (admins; idempotent by date)."""
    return WorkdayOverrideRead.model_validate(await service.set_override(session, day, body, actor))


@router.delete("/{day}", status_code=204, responses=responses(*AUTH_ERRORS, NotFound))
async def remove_override(day: dt.date, session: SessionDep, actor: CasesAdmin) -> Response:
    """Forget the override of a date."""
    if not await service.remove_override(session, day, actor):
        raise NotFound(f"no override for {day.isoformat()}")
    return Response(status_code=204)
