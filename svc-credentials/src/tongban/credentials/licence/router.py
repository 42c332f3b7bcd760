import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from tongban.credentials.identifier import parse_identifier
from tongban.credentials.licence import repository, service
from tongban.credentials.licence.errors import (
    CaseHasLicence,
    InvalidTransition,
    LicenceNotFound,
    NotIssuer,
    StatusListNotFound,
)
from tongban.credentials.licence.schemas import (
    LicenceChange,
    LicenceCreate,
    LicenceRead,
    LicenceStatusRead,
    StatusChange,
)
from tongban.credentials.licence_type.errors import LicenceTypeNotFound
from tongban.credentials.policy import ERRORS as AUTH_ERRORS
from tongban.credentials.policy import Can, Public
from tongban.shared.db import SessionDep
from tongban.shared.errors import AppError, InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.ids import InvalidIdentifier
from tongban.shared.fields import Id32
from tongban.shared.pagination import Page, PageDep, paginate
from tongban.shared.policy import Access, Target

router = APIRouter(tags=["licences"])
Issuer = Can("licence.issue")
Wallet = Can("licence.wallet")
Reader = Can("licence.read")
Changer = Can("licence.change")
StatusSetter = Can("licence.status")
Public = Public("status.read")


class NotAHolder(AppError):
    code, status, title = "not_a_holder", 403, "Only citizens and company users hold licences"


def licence_record(licence) -> Target:  # noqa: ANN001 - a Licence
    """What the policy sees of a licence: whose it is and which department issued it."""
    return Target(owner=licence.holder_id, department=licence.issuer_code)


async def _of_department(session, access: Access, licence_id: uuid.UUID) -> None:  # noqa: ANN001
    """The policy's department scope, on the licence's issuing department (404 when there is none)."""
    licence = await repository.get(session, licence_id)
    if licence is None:
        raise LicenceNotFound()
    access.check(Target(department=licence.issuer_code))


def base_url(request: Request) -> str:
    return request.app.state.settings.public_base_url


@router.post("/licences", status_code=201, response_model=LicenceRead,
             responses=responses(*AUTH_ERRORS, NotIssuer, LicenceTypeNotFound, InvalidField, CaseHasLicence,
                                 IdempotencyKeyReused))
async def issue_licence(body: LicenceCreate, request: Request, session: SessionDep, access: Issuer,
                        idem: IdempotencyDep):
    """Issue a licence (staff of the type's issuing department). With `source_case_id` it is that
    approved case's result: the case completes with it (svc-cases checks type and holder)."""
    actor = access.principal
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    licence = await service.issue(session, body, actor)
    return await idem.remember(session, 201, service.to_read(licence, actor, base_url(request)))


@router.get("/me/licences", summary="我的电子证照（证照夹）",
            response_model=Page[LicenceRead], responses=responses(*AUTH_ERRORS, NotAHolder))
async def my_licences(request: Request, session: SessionDep, page: PageDep, access: Wallet,
                      include_superseded: bool = False) -> Page[LicenceRead]:
    """The caller's own licences (the wallet), newest first; a company's agent sees the company's
    under a delegation granting `licence.read`."""
    holder = access.principal
    if holder.role == "citizen" and holder.id_number:
        access.check(Target(owner=holder.id_number))
        stmt = repository.holder_query("111", holder.id_number, include_superseded)
    elif holder.role == "company" and holder.credit_code:
        access.check(Target(owner=holder.credit_code))
        stmt = repository.holder_query("001", holder.credit_code, include_superseded)
    else:
        raise NotAHolder()
    url = base_url(request)
    wallet = await paginate(session, stmt, page, lambda lic: service.to_read(lic, holder, url))
    await service.with_type_names(session, wallet.items)
    return wallet


@router.get("/licences/{licence_id}", summary="电子证照详情", response_model=LicenceRead,
            responses=responses(*AUTH_ERRORS, LicenceNotFound))
async def get_licence(licence_id: uuid.UUID, request: Request, session: SessionDep, access: Reader) -> LicenceRead:
    """One licence version: for its holder (or an agent under a delegation), the issuing department
    and admins."""
    found = await repository.get_with_type_name(session, licence_id)
    if found is None:
        raise LicenceNotFound()
    licence, type_name = found
    access.check(licence_record(licence))
    read = service.to_read(licence, access.principal, base_url(request))
    read.type_name = type_name
    return read


@router.post("/licences/{licence_id}/versions", status_code=201, response_model=LicenceRead,
             responses=responses(*AUTH_ERRORS, LicenceNotFound, NotIssuer, InvalidTransition, InvalidField,
                                 IdempotencyKeyReused))
async def change_licence(licence_id: uuid.UUID, body: LicenceChange, request: Request, session: SessionDep,
                         access: Changer, idem: IdempotencyDep):
    """Change a licence: issues version n+1; version n stays verifiable as superseded."""
    actor = access.principal
    await _of_department(session, access, licence_id)
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    licence = await service.change(session, licence_id, body, actor)
    return await idem.remember(session, 201, service.to_read(licence, actor, base_url(request)))


def _status_route(action: str, doc: str):  # noqa: ANN202 - a route factory
    async def route(licence_id: uuid.UUID, body: StatusChange, request: Request, session: SessionDep,
                    access: StatusSetter) -> LicenceRead:
        await _of_department(session, access, licence_id)
        licence = await service.set_status(session, licence_id, action, body.reason, access.principal)
        return service.to_read(licence, access.principal, base_url(request))

    route.__doc__ = doc
    route.__name__ = f"{action}_licence"
    return route


for _action, _doc in (("suspend", "Suspend a licence, with a reason (issuing department or admins)."),
                      ("reinstate", "Lift a suspension, with a reason (issuing department or admins)."),
                      ("revoke", "Revoke a licence for good, with a reason (issuing department or admins).")):
    router.add_api_route(f"/licences/{{licence_id}}/{_action}", _status_route(_action, _doc), methods=["POST"],
                         response_model=LicenceRead,
                         responses=responses(*AUTH_ERRORS, LicenceNotFound, NotIssuer, InvalidTransition))


@router.get("/licence-status/{identifier}", summary="查询证照状态", response_model=LicenceStatusRead,
            responses=responses(LicenceNotFound, InvalidField), dependencies=[Public])
async def licence_status(identifier: str, session: SessionDep) -> LicenceStatusRead:
    """The status of a licence version by its identifier (public; no personal data)."""
    try:
        parse_identifier(identifier, legacy=True)   # identifiers issued before 2026-12 are looked up too
    except InvalidIdentifier as exc:
        raise InvalidField("identifier", str(exc)) from None
    licence = await repository.get_by_identifier(session, identifier)
    if licence is None:
        raise LicenceNotFound()
    return LicenceStatusRead(identifier=licence.identifier, status=service.effective_status(licence),  # type: ignore[arg-type]
                             issuer_code=licence.issuer_code, type_code=licence.type_code, version=licence.version)


@router.get("/status-lists/{list_id}", responses=responses(StatusListNotFound), dependencies=[Public])
async def status_list(list_id: Id32, request: Request, response: Response, session: SessionDep,
                      purpose: Annotated[Literal["revocation", "suspension"], Query()] = "revocation") -> dict:
    """A W3C Bitstring Status List (public, cacheable for a minute), signed with a Data Integrity
    proof (eddsa-jcs-2022; the key is in GET /keys), so a cached or relayed copy can be trusted."""
    response.headers["Cache-Control"] = "public, max-age=60"
    settings = request.app.state.settings
    return await service.status_list_credential(session, list_id, purpose, base_url(request),
                                                settings.status_list_signer_code, settings.status_list_signer_name)
