import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request

from tongban.cases.credit import repository, service
from tongban.cases.credit.errors import CheckNotFound
from tongban.cases.credit.platform import CreditPlatform
from tongban.cases.credit.schemas import CheckOutcome, CheckRead, CreditRead, ListEntryCreate, ListEntryRead
from tongban.cases.policy import POLICY
from tongban.shared.auth import AUTH_ERRORS, NotOwner, OutsideDelegation, OutsideScope, RealNameRequired
from tongban.shared.db import SessionDep
from tongban.shared.errors import Conflict, InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate
from tongban.shared.policy import Access, Authorize, Target

router = APIRouter(tags=["credit"])
Reader = Annotated[Access, Depends(Authorize(POLICY, "credit.read"))]
Manager = Annotated[Access, Depends(Authorize(POLICY, "credit.manage"))]
CheckReader = Annotated[Access, Depends(Authorize(POLICY, "commitment_check.read"))]
CheckDecider = Annotated[Access, Depends(Authorize(POLICY, "commitment_check.decide"))]
SubjectId = Annotated[str, Path(pattern=r"^[0-9A-Z]{17}[0-9A-Z]$", description="resident ID number or credit code")]


async def _platform(request: Request) -> CreditPlatform:
    return request.app.state.credit_platform  # type: ignore[no-any-return]


Platform = Annotated[CreditPlatform, Depends(_platform)]


@router.get("/credit-records/{subject_id}", response_model=CreditRead,
            responses=responses(*AUTH_ERRORS, NotOwner, OutsideDelegation, RealNameRequired))
async def read_credit(subject_id: SubjectId, session: SessionDep, access: Reader, platform: Platform) -> CreditRead:
    """A subject's credit record (its own; staff any) and what it allows: 告知承诺制, 容缺 waived."""
    access.check(Target(owner=subject_id))
    return await service.read(session, platform, subject_id)


@router.post("/credit-records/{subject_id}/list-entries", status_code=201, response_model=ListEntryRead,
             responses=responses(*AUTH_ERRORS, IdempotencyKeyReused, InvalidField))
async def add_list_entry(subject_id: SubjectId, body: ListEntryCreate, session: SessionDep, actor: Manager,
                         platform: Platform, idem: IdempotencyDep):
    """Add a red or black list entry with its source, dates and reason (admins)."""
    if (replay := await idem.claim(session, actor.principal.sub)) is not None:
        return replay
    row = await service.add_entry(session, platform, subject_id, body, actor.principal)
    return await idem.remember(session, 201, ListEntryRead.model_validate(row))


@router.get("/commitment-checks", response_model=Page[CheckRead], responses=responses(*AUTH_ERRORS))
async def list_checks(session: SessionDep, page: PageDep, access: CheckReader,
                      state: Literal["pending", "due", "kept", "broken"] | None = None) -> Page[CheckRead]:
    """Follow-up checks of commitments in your departments, soonest due first."""
    return await paginate(session, repository.checks_query(access.reach(), state), page, CheckRead.model_validate)


@router.post("/commitment-checks/{check_id}/outcome", response_model=CheckRead,
             responses=responses(*AUTH_ERRORS, OutsideScope, CheckNotFound, Conflict))
async def record_check(check_id: uuid.UUID, body: CheckOutcome, session: SessionDep, access: CheckDecider,
                       platform: Platform) -> CheckRead:
    """Record a follow-up check; found untrue, the case is revoked and the subject black-listed."""
    return CheckRead.model_validate(await service.decide_check(session, platform, check_id, body, access))
