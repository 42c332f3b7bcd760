import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from tongban.credentials.cases_client import CasesClient, CasesNotConfigured
from tongban.credentials.consent import repository, service
from tongban.credentials.consent.errors import (
    ConsentNotFound,
    ConsentRevoked,
    NoDepartment,
    NotAtCounter,
    UnknownCase,
    UseRefused,
)
from tongban.credentials.consent.schemas import (
    ConsentCreate,
    ConsentRead,
    LicenceUseCreate,
    LicenceUseGranted,
    LicenceUseRead,
)
from tongban.credentials.licence import service as licence_rules
from tongban.credentials.licence_type.errors import LicenceTypeNotFound
from tongban.credentials.policy import ERRORS as AUTH_ERRORS
from tongban.credentials.policy import Caller, Can
from tongban.shared.auth import NotOwner
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, problem_response, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate
from tongban.shared.service_auth import UpstreamUnavailable

router = APIRouter(tags=["consent and use"])
Giver = Can("consent.give")
Withdrawer = Can("consent.withdraw")
ConsentLister = Can("consent.list")
UseLister = Can("licence_use.list")
User = Caller("licence_use.create")


async def cases_client(request: Request) -> CasesClient:
    return CasesClient(getattr(request.app.state, "cases", None))


Cases = Annotated[CasesClient, Depends(cases_client)]


@router.post("/consents", summary="授权使用证照", status_code=201, response_model=ConsentRead,
             responses=responses(*AUTH_ERRORS, NotAtCounter, UnknownCase, InvalidField, IdempotencyKeyReused,
                                 CasesNotConfigured, UpstreamUnavailable))
async def give_consent(body: ConsentCreate, session: SessionDep, access: Giver, cases: Cases, idem: IdempotencyDep):
    """Consent to a department reading one type of your licences for one case, until a time.

    A clerk records a walk-in applicant's consent at the counter: `holder_id` names the applicant,
    `case_id` a case svc-cases knows at the clerk's hall (its department becomes the consent's),
    and the consent is kept as witnessed by the clerk at their hall and counter."""
    if (replay := await idem.claim(session, access.principal.sub)) is not None:
        return replay
    consent = await service.give(session, body, access, cases)
    return await idem.remember(session, 201, ConsentRead.model_validate(consent))


@router.post("/consents/{consent_id}/withdraw", summary="撤回授权", response_model=ConsentRead,
             responses=responses(*AUTH_ERRORS, ConsentNotFound, ConsentRevoked))
async def withdraw_consent(consent_id: uuid.UUID, session: SessionDep, access: Withdrawer) -> ConsentRead:
    """Withdraw a consent given in your name."""
    return ConsentRead.model_validate(await service.withdraw(session, consent_id, access))


@router.get("/me/consents", summary="我的授权",
            response_model=Page[ConsentRead], responses=responses(*AUTH_ERRORS, NotOwner))
async def my_consents(session: SessionDep, page: PageDep, access: ConsentLister) -> Page[ConsentRead]:
    """The consents given in your name (by you, your agents, or at a counter), newest first; an agent
    with a delegation granting `consent.read` sees its principal's."""
    holder_type, holder_id = service.holder_of(access.principal)
    access.check(service.holder_record(holder_type, holder_id))
    return await paginate(session, repository.consents_query(holder_id), page,
                          ConsentRead.model_validate)


@router.get("/me/licence-uses", summary="我的证照使用记录",
            response_model=Page[LicenceUseRead], responses=responses(*AUTH_ERRORS, NotOwner))
async def my_licence_uses(session: SessionDep, page: PageDep, access: UseLister) -> Page[LicenceUseRead]:
    """Who used (or tried to use) your licences, for which case and why, and who acted in your name
    (an agent, under which delegation), newest first."""
    holder_type, holder_id = service.holder_of(access.principal)
    access.check(service.holder_record(holder_type, holder_id))
    return await paginate(session, repository.uses_query(holder_id), page,
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
