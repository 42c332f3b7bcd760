import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends

from tongban.cases.case.errors import CaseNotFound, WrongCaseState
from tongban.cases.rating import repository, service
from tongban.cases.rating.schemas import RatingCreate, RatingPolicy, RatingRead, RatingStatistic, RemedyClose, \
    RemedyRead
from tongban.cases.policy import POLICY
from tongban.shared.auth import AUTH_ERRORS, OutsideDelegation, OutsideScope, RealNameRequired
from tongban.shared.policy import Access, Authorize
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(tags=["ratings"])
Rater = Annotated[Access, Depends(Authorize(POLICY, "rating.submit"))]
RatingReader = Annotated[Access, Depends(Authorize(POLICY, "rating.read"))]
RemedyReader = Annotated[Access, Depends(Authorize(POLICY, "remedy.read"))]
RemedyCloser = Annotated[Access, Depends(Authorize(POLICY, "remedy.close"))]
SettingReader = Annotated[Access, Depends(Authorize(POLICY, "setting.read"))]
SettingManager = Annotated[Access, Depends(Authorize(POLICY, "setting.manage"))]
TRUST_ERRORS = (RealNameRequired, OutsideDelegation, OutsideScope)


@router.post("/ratings", summary="评价办件（好差评）", status_code=201, response_model=RatingRead,
             responses=responses(*AUTH_ERRORS, *TRUST_ERRORS, CaseNotFound, WrongCaseState, service.AlreadyRated,
                                 IdempotencyKeyReused))
async def rate_case(body: RatingCreate, session: SessionDep, access: Rater, idem: IdempotencyDep):
    """The applicant rates a completed case (once). 不满意 or 非常不满意 opens a remedy task."""
    actor = access.principal
    assert actor is not None  # the policy admits no anonymous rating
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    rating = await service.rate(session, body, access)
    return await idem.remember(session, 201, RatingRead.model_validate(rating))


@router.get("/ratings", summary="我的评价", response_model=Page[RatingRead], responses=responses(*AUTH_ERRORS))
async def list_ratings(session: SessionDep, page: PageDep, access: RatingReader) -> Page[RatingRead]:
    """Ratings (staff, of their departments; admins and auditors all), newest first."""
    return await paginate(session, repository.list_query(access.reach()), page, RatingRead.model_validate)


@router.get("/ratings/statistics", response_model=Page[RatingStatistic],
            responses=responses(*AUTH_ERRORS))
async def rating_statistics(session: SessionDep, page: PageDep, access: RatingReader,
                            group_by: Literal["item", "department", "counter"] = "item") -> Page[RatingStatistic]:
    """Ratings and the positive rate (4-5) per item, department or counter."""
    return await paginate(session, repository.statistics_query(access.reach(), group_by), page,
                          lambda r: RatingStatistic(key=r["key"], ratings=r["ratings"], positive=r["positive"],
                                                    positive_rate=round(float(r["positive_rate"]), 4)),
                          mappings=True)


@router.get("/remedies", response_model=Page[RemedyRead], responses=responses(*AUTH_ERRORS))
async def list_remedies(session: SessionDep, page: PageDep, access: RemedyReader,
                        state: Literal["open", "closed"] | None = None) -> Page[RemedyRead]:
    """Remedy tasks, earliest due first (staff: their departments')."""
    return await paginate(session, repository.remedies_query(access.reach(), state), page, RemedyRead.model_validate)


@router.post("/remedies/{remedy_id}/close", response_model=RemedyRead,
             responses=responses(*AUTH_ERRORS, OutsideScope, service.RemedyNotFound, WrongCaseState))
async def close_remedy(remedy_id: uuid.UUID, body: RemedyClose, session: SessionDep,
                       access: RemedyCloser) -> RemedyRead:
    """The handling department closes its remedy task, with the callback's result."""
    return RemedyRead.model_validate(await service.close_remedy(session, remedy_id, body, access))


@router.get("/settings/rating-policy", response_model=RatingPolicy, responses=responses(*AUTH_ERRORS))
async def get_rating_policy(session: SessionDep, _: SettingReader) -> RatingPolicy:
    """The default rating of unrated cases and the remedy limit."""
    return await service.policy(session)


@router.put("/settings/rating-policy", response_model=RatingPolicy, responses=responses(*AUTH_ERRORS))
async def put_rating_policy(body: RatingPolicy, session: SessionDep, access: SettingManager) -> RatingPolicy:
    """Change the rating policy (admins)."""
    return await service.set_policy(session, body, access.principal)
