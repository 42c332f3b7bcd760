import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from tongban.cases import document_flow
from tongban.cases.case.access import get_visible
from tongban.cases.case.errors import CaseNotFound
from tongban.cases.credentials_client import CredentialsClient
from tongban.cases.db import Sessions
from tongban.cases.document import repository
from tongban.cases.document.errors import CaseDocumentNotFound, DocumentNotDue, DocumentNotSealed
from tongban.cases.document.schemas import CaseDocumentCreate, CaseDocumentRead
from tongban.cases.material.errors import CredentialsNotConfigured
from tongban.cases.policy import POLICY
from tongban.shared.auth import AUTH_ERRORS, OutsideDelegation, OutsideScope, RealNameRequired
from tongban.shared.cjk_font import CjkFontMissing
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate
from tongban.shared.policy import Access, Authorize
from tongban.shared.service_auth import UpstreamUnavailable

router = APIRouter(prefix="/cases", tags=["notices and decisions"])
Producer = Annotated[Access, Depends(Authorize(POLICY, "case_document.produce"))]
Reader = Annotated[Access, Depends(Authorize(POLICY, "case_document.read"))]
TRUST_ERRORS = (RealNameRequired, OutsideDelegation, OutsideScope)


@router.post("/{case_id}/documents", status_code=201, response_model=CaseDocumentRead,
             responses=responses(*AUTH_ERRORS, *TRUST_ERRORS, CaseNotFound, DocumentNotDue, IdempotencyKeyReused,
                                 CredentialsNotConfigured, UpstreamUnavailable, CjkFontMissing))
async def produce_document(case_id: uuid.UUID, body: CaseDocumentCreate, request: Request, sessions: Sessions,
                           access: Producer, idem: IdempotencyDep):
    """Issue a notice or decision on the case, sealed with the department's seal: `acceptance`
    (受理通知书), `supplement` (补正材料通知书), `refusal` (不予受理通知书) or `decision`
    (准予 / 不予行政许可决定书). Staff of the case's hall or department; 409 `document_not_due`
    when the case has not reached that step."""
    actor = access.principal
    assert actor is not None  # the policy admits staff only
    return await document_flow.produce(sessions, request, case_id, body.kind, actor, idem,
                                       CredentialsClient(getattr(request.app.state, "credentials", None)))


@router.get("/{case_id}/documents", response_model=Page[CaseDocumentRead],
            responses=responses(*AUTH_ERRORS, *TRUST_ERRORS, CaseNotFound))
async def list_documents(case_id: uuid.UUID, session: SessionDep, page: PageDep,
                         access: Reader) -> Page[CaseDocumentRead]:
    """The case's notices and decisions, oldest first: its applicant (or her agent), its staff."""
    await get_visible(session, case_id, access.principal, permission="case_document.read")
    return await paginate(session, repository.of_case(case_id), page, CaseDocumentRead.model_validate)


@router.get("/{case_id}/documents/{document_id}/pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}},
                       **responses(*AUTH_ERRORS, *TRUST_ERRORS, CaseNotFound, CaseDocumentNotFound,
                                   DocumentNotSealed)})
async def download_document(case_id: uuid.UUID, document_id: uuid.UUID, session: SessionDep,
                            access: Reader) -> Response:
    """The sealed PDF, as issued (`ETag` its SHA-256: what the public verification checks)."""
    await get_visible(session, case_id, access.principal, permission="case_document.read")
    row = await repository.get(session, case_id, document_id, with_pdf=True)
    if row is None:
        raise CaseDocumentNotFound()
    if row.status != "sealed" or row.pdf is None:
        raise DocumentNotSealed(f"the document is {row.status}")
    return Response(row.pdf, media_type="application/pdf", headers={
        "ETag": f'"{row.sha256}"', "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'attachment; filename="{row.kind}-{row.id}.pdf"'})
