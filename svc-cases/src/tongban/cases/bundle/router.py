import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from tongban.cases import submission_flow
from tongban.cases.bundle import repository, service
from tongban.cases.bundle.schemas import BundleCaseCreate, BundleCaseRead
from tongban.cases.case.errors import CaseNotFound, ItemNotAvailable, NotAllowedForRole, WrongCaseState
from tongban.cases.credentials_client import CredentialsClient
from tongban.cases.db import Sessions
from tongban.cases.material.errors import CredentialsNotConfigured, DocumentUnusable, LicenceNotUsable, MaterialsMissing
from tongban.cases.policy import POLICY
from tongban.shared.auth import AUTH_ERRORS, OutsideDelegation, OutsideScope, RealNameRequired
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate
from tongban.shared.policy import Access, Authorize
from tongban.shared.service_auth import UpstreamUnavailable

router = APIRouter(prefix="/bundle-cases", tags=["bundle cases"])
Submitter = Annotated[Access, Depends(Authorize(POLICY, "bundle.submit"))]
Reader = Annotated[Access, Depends(Authorize(POLICY, "bundle.read"))]
TRUST_ERRORS = (RealNameRequired, OutsideDelegation, OutsideScope)


@router.post("", summary="申请“一件事”", status_code=201, response_model=BundleCaseRead,
             responses=responses(*AUTH_ERRORS, *TRUST_ERRORS, InvalidField, ItemNotAvailable, NotAllowedForRole,
                                 IdempotencyKeyReused, MaterialsMissing, DocumentUnusable, LicenceNotUsable,
                                 CredentialsNotConfigured, UpstreamUnavailable, WrongCaseState))
async def submit_bundle_case(body: BundleCaseCreate, request: Request, sessions: Sessions, access: Submitter,
                             idem: IdempotencyDep):
    """Apply for a one-thing bundle with one form: a child case per item goes to each department
    at once. Same roles and `Idempotency-Key` behaviour as a single case: with licence-backed
    materials the bundle and its cases are drafts until svc-credentials has recorded every consent
    and use; if it refuses, the answer names them (`bundle_case_id`, `case_ids`), and they stay
    drafts with the reason on each case's timeline."""
    actor = access.principal
    assert actor is not None  # the policy admits no anonymous submission
    return await submission_flow.submit_bundle(sessions, request, body, actor, idem,
                                               CredentialsClient(getattr(request.app.state, "credentials", None)),
                                               request.app.state.settings.default_city_code)


@router.get("", summary="我的“一件事”办件", response_model=Page[BundleCaseRead], responses=responses(*AUTH_ERRORS))
async def list_bundle_cases(session: SessionDep, page: PageDep, access: Reader) -> Page[BundleCaseRead]:
    """The bundle cases the caller may reach (its own, its principal's, its halls' and departments'),
    newest first, without children."""
    return await paginate(session, repository.list_query(access.principal), page, BundleCaseRead.model_validate)


@router.get("/{bundle_case_id}", summary="“一件事”办件详情", response_model=BundleCaseRead,
            responses=responses(*AUTH_ERRORS, *TRUST_ERRORS, CaseNotFound))
async def get_bundle_case(bundle_case_id: uuid.UUID, session: SessionDep, access: Reader) -> BundleCaseRead:
    """A bundle case with the child cases the caller may reach and, once complete, its outcome
    (approved, partial, denied)."""
    return await service.read(session, bundle_case_id, access)
