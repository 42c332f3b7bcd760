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
from tongban.cases.policy import POLICY
from tongban.shared.auth import AUTH_ERRORS, OutsideDelegation, OutsideScope, RealNameRequired
from tongban.shared.policy import Access, Authorize
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/bundle-cases", tags=["bundle cases"])
Submitter = Annotated[Access, Depends(Authorize(POLICY, "bundle.submit"))]
Reader = Annotated[Access, Depends(Authorize(POLICY, "bundle.read"))]
TRUST_ERRORS = (RealNameRequired, OutsideDelegation, OutsideScope)


@router.post("", status_code=201, response_model=BundleCaseRead,
             responses=responses(*AUTH_ERRORS, *TRUST_ERRORS, InvalidField, ItemNotAvailable, NotAllowedForRole,
                                 IdempotencyKeyReused, MaterialsMissing, DocumentUnusable, LicenceNotUsable,
                                 CredentialsNotConfigured, UpstreamUnavailable))
async def submit_bundle_case(body: BundleCaseCreate, request: Request, session: SessionDep, access: Submitter,
                             idem: IdempotencyDep):
    """Apply for a one-thing bundle with one form: a child case per item goes to each department
    at once. Same roles and `Idempotency-Key` behaviour as a single case."""
    actor = access.principal
    assert actor is not None  # the policy admits no anonymous submission
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    parent = await service.submit(session, body, actor, request.app.state.settings.default_city_code,
                                  request.headers.get("authorization"),
                                  CredentialsClient(getattr(request.app.state, "credentials", None)))
    return await idem.remember(session, 201, parent)


@router.get("", response_model=Page[BundleCaseRead], responses=responses(*AUTH_ERRORS))
async def list_bundle_cases(session: SessionDep, page: PageDep, access: Reader) -> Page[BundleCaseRead]:
    """The bundle cases the caller may reach (its own, its principal's, its halls' and departments'),
    newest first, without children."""
    return await paginate(session, repository.list_query(access.principal), page, BundleCaseRead.model_validate)


@router.get("/{bundle_case_id}", response_model=BundleCaseRead,
            responses=responses(*AUTH_ERRORS, *TRUST_ERRORS, CaseNotFound))
async def get_bundle_case(bundle_case_id: uuid.UUID, session: SessionDep, access: Reader) -> BundleCaseRead:
    """A bundle case with the child cases the caller may reach and, once complete, its outcome
    (approved, partial, denied)."""
    return await service.read(session, bundle_case_id, access)
