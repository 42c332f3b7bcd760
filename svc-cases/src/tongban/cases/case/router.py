import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from tongban.cases import flows, submission_flow
from tongban.cases.case import repository, service
from tongban.cases.case.access import get_visible
from tongban.cases.case.errors import (
    CaseNotFound,
    ImplementationNotFound,
    ItemNotAvailable,
    ItemNotOfferedInCity,
    NotAllowedForRole,
    WrongCaseState,
)
from tongban.cases.case.schemas import (
    Action,
    CaseAction,
    CaseCreate,
    CaseRead,
    CaseState,
    ProgressRead,
    TimelineEntryRead,
)
from tongban.cases.credentials_client import CredentialsClient
from tongban.cases.material.errors import CredentialsNotConfigured, DocumentUnusable, LicenceNotUsable, MaterialsMissing
from tongban.cases.db import Sessions
from tongban.cases.policy import POLICY
from tongban.shared.auth import AUTH_ERRORS, OutsideDelegation, OutsideScope, RealNameRequired
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate
from tongban.shared.policy import Access, Authorize
from tongban.shared.service_auth import UpstreamUnavailable

router = APIRouter(prefix="/cases", tags=["cases"])
Submitter = Annotated[Access, Depends(Authorize(POLICY, "case.submit"))]
Reader = Annotated[Access, Depends(Authorize(POLICY, "case.read"))]
LookUp = Annotated[Access, Depends(Authorize(POLICY, "case.lookup"))]
StaffReader = Annotated[Access, Depends(Authorize(POLICY, "case.worklist"))]
Actor = Annotated[Access, Depends(Authorize(POLICY, "case.act"))]
Public = Annotated[Access, Depends(Authorize(POLICY, "case.progress"))]
TRUST_ERRORS = (RealNameRequired, OutsideDelegation, OutsideScope)
WORKLISTS = {"approver": frozenset({"accepted", "in_review"}),
             "clerk": frozenset({"submitted", "supplement_requested", "approved", "denied"})}


@router.post("", summary="申请办事", status_code=201, response_model=CaseRead,
             responses=responses(*AUTH_ERRORS, *TRUST_ERRORS, InvalidField, ItemNotAvailable, NotAllowedForRole,
                                 ImplementationNotFound, ItemNotOfferedInCity,
                                 IdempotencyKeyReused, DocumentUnusable, LicenceNotUsable,
                                 MaterialsMissing, CredentialsNotConfigured, UpstreamUnavailable,
                                 WrongCaseState))
async def submit_case(body: CaseCreate, request: Request, sessions: Sessions, access: Submitter,
                      idem: IdempotencyDep):
    """Submit a case: citizens and company users (cases:apply) for themselves, clerks (cases:process)
    for a walk-in applicant. Instant-approval items come back already `approved`. Send an
    `Idempotency-Key`: a retry returns the same answer (409 `submission_in_progress` while the
    first is still running). With licence-backed materials the case is a draft until
    svc-credentials has recorded the consent and the use; if it refuses, the answer names the
    draft (`case_id`), which stays a draft with the reason on its timeline."""
    actor = access.principal
    assert actor is not None  # the policy admits no anonymous submission
    return await submission_flow.submit(sessions, request, body, actor, idem,
                                        CredentialsClient(getattr(request.app.state, "credentials", None)),
                                        request.app.state.settings.default_city_code)


@router.get("", summary="我的办件", response_model=Page[CaseRead], responses=responses(*AUTH_ERRORS, *TRUST_ERRORS))
async def list_cases(session: SessionDep, page: PageDep, access: Reader, state: CaseState | None = None,
                     basic_code: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None) -> Page[CaseRead]:
    """The cases the caller may see (their own, their principal's for delegated items, their
    halls' and departments'), newest first."""
    actor = access.principal
    return await paginate(session, repository.list_query(actor, state, basic_code), page,
                          await service.reader(session, actor))


@router.get("/worklist", response_model=Page[CaseRead], responses=responses(*AUTH_ERRORS))
async def worklist(session: SessionDep, page: PageDep, access: StaffReader) -> Page[CaseRead]:
    """Staff worklist, least remaining working time first: approvers get their department's cases
    to review, clerks their intake (new, resubmitted, decided but not completed)."""
    actor = access.principal
    states = WORKLISTS.get(actor.role, WORKLISTS["approver"] | WORKLISTS["clerk"])
    return await paginate(session, repository.worklist_query(actor, states), page,
                          await service.reader(session, actor))


@router.get("/progress", summary="凭受理编号查询办件进度", response_model=ProgressRead, responses=responses(CaseNotFound))
async def follow_progress(session: SessionDep, _: Public,
                          case_number: Annotated[str, Query(pattern=r"^\d{19}$")],
                          lookup_code: Annotated[str, Query(pattern=r"^[0-9A-Za-z]{8}$")]) -> ProgressRead:
    """Public (no login): a case's progress by its number and lookup code, without personal data."""
    return await service.progress(session, case_number, lookup_code)


@router.get("/{case_id}", summary="办件详情与状态",
            response_model=CaseRead, responses=responses(*AUTH_ERRORS, *TRUST_ERRORS, CaseNotFound))
async def get_case(case_id: uuid.UUID, session: SessionDep, access: LookUp) -> CaseRead:
    """One case, if the caller may see it (404 otherwise; 403 naming what failed for agents and
    staff). svc-credentials (scope `cases:lookup`) reads any case this way, to bind a consent
    taken at a counter to it."""
    actor = access.principal
    case = await get_visible(session, case_id, actor, permission="case.lookup")
    return (await service.reader(session, actor))(case)


@router.get("/{case_id}/timeline", summary="办件办理过程", response_model=Page[TimelineEntryRead],
            responses=responses(*AUTH_ERRORS, *TRUST_ERRORS, CaseNotFound))
async def case_timeline(case_id: uuid.UUID, session: SessionDep, page: PageDep,
                        access: Reader) -> Page[TimelineEntryRead]:
    """Every step of the case: who, for whom (an agent under which delegation), when, why, from
    which state to which; the applicant sees what was done in her name."""
    actor = access.principal
    await get_visible(session, case_id, actor)
    return await paginate(session, repository.timeline_query(case_id), page, TimelineEntryRead.model_validate)


@router.post("/{case_id}/{action}", summary="办件操作（撤回、补正、受理、审批等）", response_model=CaseRead,
             responses=responses(*AUTH_ERRORS, *TRUST_ERRORS, CaseNotFound, WrongCaseState, NotAllowedForRole,
                                 InvalidField, MaterialsMissing))
async def act_on_case(case_id: uuid.UUID, action: Action, session: SessionDep, access: Actor,
                      body: CaseAction | None = None) -> CaseRead:
    """A step of the case: clerks accept (with `gaps` + `gaps_due_on` for 容缺), refuse,
    request_supplement; approvers of the case's department review, approve (`commitment` for 承诺制),
    deny, extend (`extension_days` + reason), revoke a commitment approval; the applicant submits a
    draft, resubmits, withdraws, fulfil_gaps; staff complete. 409 names the current state."""
    actor = access.principal
    case = await flows.transition(session, case_id, action, body or CaseAction(), actor)
    return (await service.reader(session, actor))(case)
