import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from tongban.cases.bundle import repository, service
from tongban.cases.bundle.schemas import BundleCaseCreate, BundleCaseRead
from tongban.cases.case.errors import CaseNotFound, ItemNotAvailable, NotAllowedForRole
from tongban.cases.credentials_client import CredentialsClient
from tongban.cases.material.errors import CredentialsNotConfigured, DocumentUnusable, LicenceNotUsable, \
    MaterialsMissing
from tongban.shared.service_auth import UpstreamUnavailable
from tongban.shared.auth import AUTH_ERRORS, AnyPrincipal, Principal, Requires
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/bundle-cases", tags=["bundle cases"])
CaseReader = Annotated[Principal, Depends(Requires("cases:read"))]


@router.post("", status_code=201, response_model=BundleCaseRead,
             responses=responses(*AUTH_ERRORS, InvalidField, ItemNotAvailable, NotAllowedForRole,
                                 IdempotencyKeyReused, MaterialsMissing, DocumentUnusable, LicenceNotUsable,
                                 CredentialsNotConfigured, UpstreamUnavailable))
async def submit_bundle_case(body: BundleCaseCreate, request: Request, session: SessionDep, actor: AnyPrincipal,
                             idem: IdempotencyDep):
    """Apply for a one-thing bundle with one form: a child case per item goes to each department
    at once. Same roles and `Idempotency-Key` behaviour as a single case."""
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    parent = await service.submit(session, body, actor, request.app.state.settings.default_city_code,
                                  request.headers.get("authorization"),
                                  CredentialsClient(getattr(request.app.state, "credentials", None)))
    return await idem.remember(session, 201, parent)


@router.get("", response_model=Page[BundleCaseRead], responses=responses(*AUTH_ERRORS))
async def list_bundle_cases(session: SessionDep, page: PageDep, actor: CaseReader) -> Page[BundleCaseRead]:
    """The caller's bundle cases (clerks, admins and auditors: all), newest first, without children."""
    everyone = actor.role in ("clerk", "admin", "auditor")
    return await paginate(session, repository.list_query(service.owned_ids(actor), everyone), page,
                          BundleCaseRead.model_validate)


@router.get("/{bundle_case_id}", response_model=BundleCaseRead, responses=responses(*AUTH_ERRORS, CaseNotFound))
async def get_bundle_case(bundle_case_id: uuid.UUID, session: SessionDep, actor: CaseReader) -> BundleCaseRead:
    """A bundle case with its child cases and, once complete, its outcome (approved, partial, denied)."""
    return await service.read(session, bundle_case_id, actor)
