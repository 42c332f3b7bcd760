import csv
import datetime as dt
import io
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as FastPath
from pydantic import ValidationError

from tongban.cases.workday import repository, service
from tongban.cases.workday.errors import ScheduleExists, ScheduleInvalid, ScheduleNotFound
from tongban.cases.workday.schemas import (
    CalendarStatus, DeadlineRead, ScheduleCreate, ScheduleRead, WorkdayOverrideRead, WorkdayOverrideUpdate,
)
from tongban.cases.policy import POLICY
from tongban.shared.auth import AUTH_ERRORS
from tongban.shared.policy import Access, Authorize
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, NotFound, responses
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/workdays", tags=["working-day calendar"])
CasesAdmin = Annotated[Access, Depends(Authorize(POLICY, "calendar.manage"))]
CaseReader = Annotated[Access, Depends(Authorize(POLICY, "calendar.read"))]


@router.get("/deadline", response_model=DeadlineRead, responses=responses(*AUTH_ERRORS))
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
    return WorkdayOverrideRead.model_validate(await service.set_override(session, day, body, actor.principal))


@router.delete("/{day}", status_code=204, responses=responses(*AUTH_ERRORS, NotFound))
async def remove_override(day: dt.date, session: SessionDep, actor: CasesAdmin) -> Response:
    """Forget the override of a date."""
    if not await service.remove_override(session, day, actor.principal):
        raise NotFound(f"no override for {day.isoformat()}")
    return Response(status_code=204)


calendar_router = APIRouter(prefix="/calendar", tags=["working-day calendar"])
Year = Annotated[int, FastPath(ge=2000, le=2100)]
SCHEDULE_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": ScheduleCreate.model_json_schema()},
    "text/csv": {"schema": {"type": "string", "description": (
        "one line per day: `date,kind` (kind `holiday` or `workday` for 调休), an optional header line; "
        "the notice's number and date as query parameters `notice_number` and `notice_date`")}}}}}


async def _schedule(request: Request, notice_number: str | None, notice_date: dt.date | None) -> ScheduleCreate:
    """The schedule from a JSON body, or from CSV with the notice in the query."""
    raw = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind in ("text/csv", "application/csv"):
            if not notice_number or notice_date is None:
                raise InvalidField("notice_number", "a CSV schedule needs notice_number and notice_date in the query")
            return schedule_from_csv(raw.decode("utf-8-sig"), notice_number, notice_date)
        return ScheduleCreate.model_validate_json(raw)
    except UnicodeDecodeError as exc:
        raise InvalidField("body", "the CSV is not UTF-8") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidField(".".join(str(x) for x in first["loc"]) or "body", first["msg"]) from exc


def schedule_from_csv(text: str, notice_number: str, notice_date: dt.date) -> ScheduleCreate:
    """`date,kind` lines (kind: holiday | workday) into a schedule; a bad line is named by number."""
    holidays_: list[dt.date] = []
    adjusted: list[dt.date] = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip():
            continue
        cells = [c.strip() for c in row]
        if number == 1 and cells[0].lower() == "date":
            continue
        if len(cells) < 2 or cells[1].lower() not in ("holiday", "workday"):
            raise InvalidField(f"line {number}", "expected `date,holiday` or `date,workday`")
        try:
            day = dt.date.fromisoformat(cells[0])
        except ValueError as exc:
            raise InvalidField(f"line {number}", f"{cells[0]!r} is not a date (YYYY-MM-DD)") from exc
        (holidays_ if cells[1].lower() == "holiday" else adjusted).append(day)
    return ScheduleCreate(notice_number=notice_number, notice_date=notice_date, holidays=holidays_,
                          adjusted_workdays=adjusted)


IMPORT_ERRORS = responses(*AUTH_ERRORS, InvalidField, ScheduleInvalid)
NoticeNumber = Annotated[str | None, Query(max_length=100)]


@calendar_router.post("/years/{year}", status_code=201, response_model=ScheduleRead, openapi_extra=SCHEDULE_BODY,
                      responses={**IMPORT_ERRORS, **responses(ScheduleExists)})
async def import_schedule(year: Year, request: Request, session: SessionDep, actor: CasesAdmin,
                          notice_number: NoticeNumber = None, notice_date: dt.date | None = None) -> ScheduleRead:
    """Import a year's official holiday schedule (admins): JSON or CSV. Every date must lie in
    that year; an adjusted working day must be a weekend day; no day twice; a year already
    imported is refused (replace it with PUT). Open cases' deadlines follow within seconds."""
    body = await _schedule(request, notice_number, notice_date)
    return ScheduleRead.model_validate(await service.import_schedule(session, year, body, actor.principal, replace=False))


@calendar_router.put("/years/{year}", response_model=ScheduleRead, openapi_extra=SCHEDULE_BODY,
                     responses={**IMPORT_ERRORS, **responses(ScheduleNotFound)})
async def replace_schedule(year: Year, request: Request, session: SessionDep, actor: CasesAdmin,
                           notice_number: NoticeNumber = None, notice_date: dt.date | None = None) -> ScheduleRead:
    """Replace an imported year's schedule with a corrected one (admins); deadlines are recomputed again."""
    body = await _schedule(request, notice_number, notice_date)
    return ScheduleRead.model_validate(await service.import_schedule(session, year, body, actor.principal, replace=True))


@calendar_router.get("/years", response_model=Page[ScheduleRead], responses=responses(*AUTH_ERRORS))
async def list_schedules(session: SessionDep, page: PageDep, _: CaseReader) -> Page[ScheduleRead]:
    """The imported official schedules, by year."""
    return await paginate(session, repository.years_query(), page, ScheduleRead.model_validate)


@calendar_router.get("/years/{year}", response_model=ScheduleRead, responses=responses(*AUTH_ERRORS, ScheduleNotFound))
async def get_schedule(year: Year, session: SessionDep, _: CaseReader) -> ScheduleRead:
    row = await repository.get_year(session, year)
    if row is None:
        raise ScheduleNotFound(f"no schedule imported for {year}")
    return ScheduleRead.model_validate(row)


@calendar_router.get("/status", response_model=CalendarStatus, responses=responses(*AUTH_ERRORS))
async def calendar_status(session: SessionDep, _: CaseReader) -> CalendarStatus:
    """Which years are known officially; whether next year's schedule is still missing."""
    return await service.status(session)
