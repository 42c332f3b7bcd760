import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from tongban.credentials.consent import repository, service
from tongban.credentials.consent.errors import ConsentNotFound, ConsentRevoked, NoDepartment, NotAtCounter, UseRefused
from tongban.credentials.consent.schemas import (
    ConsentCreate, ConsentRead, LicenceUseCreate, LicenceUseGranted, LicenceUseRead,
)
from tongban.credentials.licence import service as licence_rules
from tongban.credentials.licence_type.errors import LicenceTypeNotFound
from tongban.shared.auth import AUTH_ERRORS, NotOwner, Principal, Requires
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, problem_response, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(tags=["consent and use"])
Holder = Annotated[Principal, Depends(Requires("credentials:read"))]
User = Annotated[Principal, Depends(Requires("credentials:use"))]


@router.post("/consents", status_code=201, response_model=ConsentRead,
             responses=responses(*AUTH_ERRORS, NotOwner, NotAtCounter, InvalidField, IdempotencyKeyReused))
async def give_consent(body: ConsentCreate, session: SessionDep, holder: Holder, idem: IdempotencyDep):
    """Consent to a department reading one type of your licences for one case, until a time.

    A clerk records a walk-in applicant's consent at the counter: `holder_id` names the applicant,
    and the consent is kept as witnessed by the clerk at their hall and counter."""
    if (replay := await idem.claim(session, holder.sub)) is not None:
        return replay
    consent = await service.give(session, body, holder)
    return await idem.remember(session, 201, ConsentRead.model_validate(consent))


@router.post("/consents/{consent_id}/withdraw", response_model=ConsentRead,
             responses=responses(*AUTH_ERRORS, ConsentNotFound, NotOwner, ConsentRevoked))
async def withdraw_consent(consent_id: uuid.UUID, session: SessionDep, holder: Holder) -> ConsentRead:
    """Withdraw a consent you gave."""
    return ConsentRead.model_validate(await service.withdraw(session, consent_id, holder))


@router.get("/me/consents", response_model=Page[ConsentRead], responses=responses(*AUTH_ERRORS, NotOwner))
async def my_consents(session: SessionDep, page: PageDep, holder: Holder) -> Page[ConsentRead]:
    """The consents you gave, newest first."""
    return await paginate(session, repository.consents_query(service.holder_of(holder)[1]), page,
                          ConsentRead.model_validate)


@router.get("/me/licence-uses", response_model=Page[LicenceUseRead], responses=responses(*AUTH_ERRORS, NotOwner))
async def my_licence_uses(session: SessionDep, page: PageDep, holder: Holder) -> Page[LicenceUseRead]:
    """Who used (or tried to use) your licences, for which case and why, newest first."""
    return await paginate(session, repository.uses_query(service.holder_of(holder)[1]), page,
                          LicenceUseRead.model_validate)


@router.post("/licence-uses", status_code=201, response_model=LicenceUseGranted,
             responses=responses(*AUTH_ERRORS, UseRefused, NoDepartment, LicenceTypeNotFound, InvalidField,
                                 IdempotencyKeyReused))
async def use_licence(body: LicenceUseCreate, request: Request, session: SessionDep, actor: User,
                      idem: IdempotencyDep):
    """Read a holder's licence for a case under their consent, stating the purpose (departments).

    A refusal is answered 403 and logged all the same (the transaction commits the log row)."""
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    row, licence = await service.use(session, body, actor)
    if licence is None:
        await idem.remember(session, UseRefused.status, {"code": UseRefused.code, "refusal": row.refusal})
        return problem_response(UseRefused.status, UseRefused.code, UseRefused.title,
                                f"refused: {row.refusal}", request.url.path, refusal=row.refusal)
    return await idem.remember(session, 201, LicenceUseGranted(
        use=LicenceUseRead.model_validate(row),
        licence=licence_rules.to_read(licence, actor, request.app.state.settings.public_base_url)))
