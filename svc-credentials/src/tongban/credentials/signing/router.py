from typing import Annotated

from fastapi import APIRouter, Path, Response
from tongban.credentials.policy import ERRORS as AUTH_ERRORS
from tongban.credentials.policy import Caller, Public
from tongban.credentials.signing import repository, service
from tongban.credentials.signing.errors import IssuerNotFound
from tongban.credentials.signing.schemas import IssuerRead, IssuerUpdate, KeyRead, KeySet
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.ids import CREDIT_ALPHABET
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(tags=["keys"])
Admin = Caller("issuer.write")
IssuerCode = Annotated[str, Path(pattern=rf"^[{CREDIT_ALPHABET}]{{18}}$")]


@router.get("/keys", response_model=KeySet, dependencies=[Public("status.read")])
async def published_keys(session: SessionDep, response: Response) -> KeySet:
    """Every issuer's public keys (public, cacheable): what offline verifiers check signatures with."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return KeySet.model_validate(await service.key_set(session))


@router.get("/issuers", response_model=Page[IssuerRead], dependencies=[Public("issuer.read")])
async def list_issuers(session: SessionDep, page: PageDep) -> Page[IssuerRead]:
    """Issuing departments and the algorithm each signs with (public)."""
    return await paginate(session, repository.issuers_query(), page, IssuerRead.model_validate)


@router.put("/issuers/{code}", response_model=IssuerRead, responses=responses(*AUTH_ERRORS))
async def put_issuer(code: IssuerCode, body: IssuerUpdate, session: SessionDep, actor: Admin) -> IssuerRead:
    """Create or update an issuer (admins); switching to SM2 rotates to an SM2 key."""
    return IssuerRead.model_validate(await service.update_issuer(session, code, body, actor))


@router.post("/issuers/{code}/keys", status_code=201, response_model=KeyRead,
             responses=responses(*AUTH_ERRORS, IssuerNotFound, IdempotencyKeyReused))
async def rotate_key(code: IssuerCode, session: SessionDep, actor: Admin, idem: IdempotencyDep):
    """Rotate an issuer's key (admins): the old key is retired but still published."""
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    key = await service.rotate_key(session, code, actor, "rotation requested")
    return await idem.remember(session, 201, KeyRead.model_validate(key))
