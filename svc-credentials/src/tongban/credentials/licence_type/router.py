from typing import Annotated

from fastapi import APIRouter, Depends, Query

from tongban.credentials.licence_type import repository, service
from tongban.credentials.licence_type.errors import LicenceTypeNotFound, LicenceTypeTaken
from tongban.credentials.licence_type.schemas import LicenceTypeCreate, LicenceTypeRead
from tongban.shared.auth import AUTH_ERRORS, Principal, Requires
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/licence-types", tags=["licence types"])
Admin = Annotated[Principal, Depends(Requires("credentials:admin"))]


@router.post("", status_code=201, response_model=LicenceTypeRead,
             responses=responses(*AUTH_ERRORS, LicenceTypeTaken, InvalidField, IdempotencyKeyReused))
async def create_licence_type(body: LicenceTypeCreate, session: SessionDep, actor: Admin, idem: IdempotencyDep):
    """Define a licence type (admins)."""
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    row = await service.create(session, body, actor)
    return await idem.remember(session, 201, LicenceTypeRead.model_validate(row))


@router.get("", response_model=Page[LicenceTypeRead])
async def list_licence_types(
    session: SessionDep, page: PageDep,
    issuer_code: Annotated[str | None, Query(max_length=18)] = None,
) -> Page[LicenceTypeRead]:
    """Licence types (public)."""
    return await paginate(session, repository.list_query(issuer_code), page, LicenceTypeRead.model_validate)


@router.get("/{code}", response_model=LicenceTypeRead, responses=responses(LicenceTypeNotFound))
async def get_licence_type(code: str, session: SessionDep) -> LicenceTypeRead:
    """One licence type (public)."""
    row = await repository.get(session, code)
    if row is None:
        raise LicenceTypeNotFound()
    return LicenceTypeRead.model_validate(row)
