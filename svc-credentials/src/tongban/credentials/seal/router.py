import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from tongban.credentials.policy import ERRORS as AUTH_ERRORS
from tongban.credentials.policy import Caller, Can, Public
from tongban.credentials.seal import repository, service
from tongban.credentials.seal.errors import (
    DelegationNotFound,
    DelegationRevoked,
    MalformedStamp,
    NotLegalRepresentative,
    SealExists,
    SealNotFound,
    SealRevoked,
    SealUseRefused,
)
from tongban.credentials.seal.schemas import (
    DelegationCreate,
    DelegationRead,
    RegistrationItemPut,
    RegistrationItemRead,
    SealApplied,
    SealApply,
    SealCreate,
    SealRead,
    SealRevoke,
    SealUseRead,
    SealVerificationRequest,
    SealVerificationResult,
)
from tongban.credentials.signing.schemas import KeySet
from tongban.shared.auth import NotOwner, optional_principal
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, NotFound, problem_response, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate
from tongban.shared.policy import Access, Target

router = APIRouter(tags=["seals"])
Creator = Caller("seal.create")
Reader = Can("seal.read")
Manager = Can("seal.manage")
Delegator = Can("seal.delegate")
Applier = Can("seal.apply")
LogReader = Can("seal_use.list")
Admin = Caller("registration_item.manage")
Public = [Public("seal.verify")]
BasicCode = Annotated[str, Path(pattern=r"^[0-9A-Za-z-]{1,40}$")]
MANAGE_ERRORS = (*AUTH_ERRORS, SealNotFound, NotOwner, NotLegalRepresentative)


async def _of_company(session, access: Access, seal_id: uuid.UUID) -> None:  # noqa: ANN001
    """The policy, on the seal's company (404 when there is no such seal)."""
    seal = await repository.get(session, seal_id)
    if seal is None:
        raise SealNotFound()
    access.check(Target(owner=seal.company_code))


@router.post("/seals", status_code=201, response_model=SealRead,
             responses=responses(*AUTH_ERRORS, NotOwner, NotLegalRepresentative, SealExists, InvalidField,
                                 IdempotencyKeyReused))
async def create_seal(body: SealCreate, session: SessionDep, actor: Creator, idem: IdempotencyDep):
    """Issue a company seal on request (free): the legal representative for their company, or admins."""
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    seal = await service.create(session, body, actor)
    return await idem.remember(session, 201, SealRead.model_validate(seal))


@router.get("/seals", response_model=Page[SealRead], responses=responses(*AUTH_ERRORS, NotOwner))
async def list_seals(session: SessionDep, page: PageDep, access: Reader,
                     company_code: str | None = None) -> Page[SealRead]:
    """A company's seals (its representatives, its agents under a `seal.use` delegation), or any
    company's (admins, `company_code` to filter)."""
    company = service.visible_company(access.principal, company_code)
    if company is not None:
        access.check(Target(owner=company))
    stmt = repository.seals_query(company)
    return await paginate(session, stmt, page, SealRead.model_validate)


@router.get("/seal-keys", response_model=KeySet, dependencies=Public)
async def seal_keys(session: SessionDep, response: Response) -> KeySet:
    """Every seal's public key (public, cacheable): for checking stamps offline."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return KeySet.model_validate(await service.seal_key_set(session))


@router.get("/seals/{seal_id}", response_model=SealRead, responses=responses(*AUTH_ERRORS, SealNotFound, NotOwner))
async def get_seal(seal_id: uuid.UUID, session: SessionDep, access: Reader) -> SealRead:
    """One seal (the company's representatives, its agents under a `seal.use` delegation, admins)."""
    seal = await service.get_visible(session, seal_id, access.principal)
    access.check(Target(owner=seal.company_code))
    return SealRead.model_validate(seal)


@router.post("/seals/{seal_id}/revoke", response_model=SealRead, responses=responses(*MANAGE_ERRORS, SealRevoked))
async def revoke_seal(seal_id: uuid.UUID, body: SealRevoke, session: SessionDep, access: Manager) -> SealRead:
    """Revoke a seal for good, with a reason (legal representative, admins); old stamps still verify."""
    await _of_company(session, access, seal_id)
    return SealRead.model_validate(await service.revoke(session, seal_id, body.reason, access.principal))


@router.post("/seals/{seal_id}/delegations", status_code=201, response_model=DelegationRead,
             responses=responses(*MANAGE_ERRORS, SealRevoked, InvalidField, IdempotencyKeyReused))
async def delegate_seal(seal_id: uuid.UUID, body: DelegationCreate, session: SessionDep, access: Delegator,
                        idem: IdempotencyDep):
    """Let a named staff member apply this seal until a time (the legal representative)."""
    actor = access.principal
    await _of_company(session, access, seal_id)
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    delegation = await service.delegate(session, seal_id, body, actor)
    return await idem.remember(session, 201, DelegationRead.model_validate(delegation))


@router.get("/seals/{seal_id}/delegations", response_model=Page[DelegationRead], responses=responses(*MANAGE_ERRORS))
async def list_delegations(seal_id: uuid.UUID, session: SessionDep, page: PageDep,
                           access: Manager) -> Page[DelegationRead]:
    """Who may apply this seal, until when (legal representative, admins), newest first."""
    await _of_company(session, access, seal_id)
    seal = await service.get_visible(session, seal_id, access.principal)
    service.ensure_manager(access.principal, seal.company_code)
    return await paginate(session, repository.delegations_query(seal_id), page, DelegationRead.model_validate)


@router.post("/seals/{seal_id}/delegations/{delegation_id}/revoke", response_model=DelegationRead,
             responses=responses(*MANAGE_ERRORS, DelegationNotFound, DelegationRevoked))
async def revoke_delegation(seal_id: uuid.UUID, delegation_id: uuid.UUID, body: SealRevoke, session: SessionDep,
                            access: Manager) -> DelegationRead:
    """End a delegation now, with a reason (legal representative, admins)."""
    await _of_company(session, access, seal_id)
    return DelegationRead.model_validate(await service.revoke_delegation(session, seal_id, delegation_id,
                                                                         body.reason, access.principal))


@router.post("/seals/{seal_id}/applications", status_code=201, response_model=SealApplied,
             responses=responses(*AUTH_ERRORS, SealNotFound, SealUseRefused, IdempotencyKeyReused))
async def apply_seal(seal_id: uuid.UUID, body: SealApply, request: Request, session: SessionDep, access: Applier,
                     idem: IdempotencyDep):
    """Seal a document (用章): sign its SM3/SHA-256 digest with the seal. The legal representative,
    a company agent under a gateway delegation granting `seal.use`, or a user the seal was delegated
    to; anyone else gets 403 and the attempt is logged all the same (the router answers instead of
    raising, so the request's transaction commits the log row)."""
    actor = access.principal
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    settings = request.app.state.settings
    use, stamp = await service.apply(session, seal_id, body, actor, settings.tsa_code, settings.tsa_name)
    if stamp is None:
        await idem.remember(session, SealUseRefused.status, {"code": SealUseRefused.code, "refusal": use.refusal})
        return problem_response(SealUseRefused.status, SealUseRefused.code, SealUseRefused.title,
                                f"refused: {use.refusal}", request.url.path, refusal=use.refusal)
    return await idem.remember(session, 201, SealApplied(
        use=SealUseRead.model_validate(use), stamp=stamp, sealed_at=use.at, timestamp=use.timestamp_token,
        timestamped_at=service.timestamped_at(use)))


@router.get("/seal-uses", response_model=Page[SealUseRead], responses=responses(*AUTH_ERRORS, NotOwner))
async def seal_uses(session: SessionDep, page: PageDep, access: LogReader, seal_id: uuid.UUID | None = None,
                    company_code: str | None = None) -> Page[SealUseRead]:
    """The seal use log, refused attempts included, newest first: the legal representative sees the
    company's (every use in its name, with actor and delegation), agents their own, admins any company's."""
    viewer = access.principal
    company = service.visible_company(viewer, company_code)
    actor = None if viewer.has("credentials:admin") or service.is_legal_rep(viewer) else viewer.sub
    return await paginate(session, repository.uses_query(company, seal_id, actor), page, SealUseRead.model_validate)


@router.post("/seal-verifications", response_model=SealVerificationResult, responses=responses(MalformedStamp),
             dependencies=Public)
async def verify_seal(body: SealVerificationRequest, request: Request, session: SessionDep) -> SealVerificationResult:
    """Verify a sealed document from its digest and stamp (public: no login; audited)."""
    return await service.verify(session, body, await optional_principal(request))


@router.get("/seal-registration-items", response_model=Page[RegistrationItemRead])
async def registration_items(session: SessionDep, page: PageDep, admin: Admin) -> Page[RegistrationItemRead]:
    """Items whose approval for a company registers it, issuing its seals (admins)."""
    return await paginate(session, repository.registration_items_query(), page, RegistrationItemRead.model_validate)


@router.put("/seal-registration-items/{basic_code}", response_model=RegistrationItemRead,
            responses=responses(*AUTH_ERRORS))
async def put_registration_item(basic_code: BasicCode, body: RegistrationItemPut, session: SessionDep,
                                admin: Admin) -> RegistrationItemRead:
    """Mark an item (by basic code) as company registration (admins; idempotent)."""
    return RegistrationItemRead.model_validate(await service.put_registration_item(session, basic_code, body, admin))


@router.delete("/seal-registration-items/{basic_code}", status_code=204, responses=responses(*AUTH_ERRORS, NotFound))
async def delete_registration_item(basic_code: BasicCode, session: SessionDep, admin: Admin) -> Response:
    """Stop treating an item as company registration (admins)."""
    await service.delete_registration_item(session, basic_code, admin)
    return Response(status_code=204)
