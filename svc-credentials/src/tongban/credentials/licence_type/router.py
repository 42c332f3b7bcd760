from typing import Annotated

from fastapi import APIRouter, Query
from tongban.credentials.licence_type import repository, service
from tongban.credentials.licence_type.errors import LicenceTypeNotFound, LicenceTypeTaken
from tongban.credentials.licence_type.schemas import LicenceTypeCreate, LicenceTypeRead
from tongban.credentials.policy import ERRORS as AUTH_ERRORS
from tongban.credentials.policy import Caller, Public
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/licence-types", tags=["licence types"])
Admin = Caller("licence_type.write")
Public = [Public("licence_type.read")]


@router.post("", status_code=201, response_model=LicenceTypeRead,
             responses=responses(*AUTH_ERRORS, LicenceTypeTaken, InvalidField, IdempotencyKeyReused))
async def create_licence_type(body: LicenceTypeCreate, session: SessionDep, actor: Admin, idem: IdempotencyDep):
    """Define a licence type (admins)."""
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    row = await service.create(session, body, actor)
    return await idem.remember(session, 201, LicenceTypeRead.model_validate(row))


@router.get("", summary="证照类型列表", response_model=Page[LicenceTypeRead], dependencies=Public)
async def list_licence_types(
    session: SessionDep, page: PageDep,
    issuer_code: Annotated[str | None, Query(max_length=18)] = None,
) -> Page[LicenceTypeRead]:
    """Licence types (public)."""
    return await paginate(session, repository.list_query(issuer_code), page, LicenceTypeRead.model_validate)


@router.get("/{code}", summary="证照类型详情",
            response_model=LicenceTypeRead, responses=responses(LicenceTypeNotFound), dependencies=Public)
async def get_licence_type(code: str, session: SessionDep) -> LicenceTypeRead:
    """One licence type (public)."""
    row = await repository.get(session, code)
    if row is None:
        raise LicenceTypeNotFound()
    return LicenceTypeRead.model_validate(row)
