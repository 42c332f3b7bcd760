"""Routes that reach documents and materials through the cases that list them: above the case and
material aggregates (like tongban.cases.flows), so material/ never imports case/. Same paths,
tag and permissions as the material aggregate's own upload route beside them."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from tongban.cases import flows, submission_flow
from tongban.cases.case.access import get_visible
from tongban.cases.case.errors import CaseNotFound, WrongCaseState
from tongban.cases.case.schemas import CaseRead
from tongban.cases.credentials_client import CredentialsClient
from tongban.cases.db import Sessions
from tongban.cases.material import repository
from tongban.cases.material.errors import CredentialsNotConfigured, DocumentNotFound, DocumentUnusable, LicenceNotUsable
from tongban.cases.material.schemas import DocumentRead, MaterialIn, MaterialRead
from tongban.cases.material.service import MAX_MATERIALS
from tongban.cases.policy import POLICY
from tongban.shared.auth import AUTH_ERRORS, OutsideDelegation, OutsideScope, RealNameRequired
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate
from tongban.shared.policy import Access, Authorize
from tongban.shared.service_auth import UpstreamUnavailable

router = APIRouter(tags=["materials"])
MaterialReader = Annotated[Access, Depends(Authorize(POLICY, "case.materials.read"))]
MaterialAdder = Annotated[Access, Depends(Authorize(POLICY, "case.materials.add"))]
DocumentReader = Annotated[Access, Depends(Authorize(POLICY, "document.read"))]
TRUST_ERRORS = (RealNameRequired, OutsideDelegation, OutsideScope)
LICENCE_ERRORS = (LicenceNotUsable, CredentialsNotConfigured, UpstreamUnavailable)


def credentials(request: Request) -> CredentialsClient:
    return CredentialsClient(getattr(request.app.state, "credentials", None))


class MaterialsAdd(BaseModel):
    materials: list[MaterialIn] = Field(min_length=1, max_length=MAX_MATERIALS)
    reason: str | None = Field(default=None, max_length=2000)


@router.get("/documents/{document_id}", summary="材料详情", response_model=DocumentRead,
            responses=responses(*AUTH_ERRORS, *TRUST_ERRORS, DocumentNotFound))
async def get_document(document_id: uuid.UUID, session: SessionDep, access: DocumentReader) -> DocumentRead:
    """A document's metadata: for its uploader, and once attached for the case's applicant,
    clerks and the handling department."""
    return DocumentRead.model_validate(await flows.readable_document(session, document_id, access.principal))


@router.get("/documents/{document_id}/content", summary="下载材料", response_class=Response,
            responses=responses(*AUTH_ERRORS, *TRUST_ERRORS, DocumentNotFound))
async def download_document(document_id: uuid.UUID, session: SessionDep, access: DocumentReader) -> Response:
    """The file itself (same readers as the metadata); `ETag` is its SHA-256."""
    doc = await flows.readable_document(session, document_id, access.principal, with_content=True)
    return Response(doc.content, media_type=doc.mime_type, headers={
        "ETag": f'"{doc.sha256}"', "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
        "Content-Disposition": "attachment"})


@router.get("/cases/{case_id}/materials", summary="办件的材料", response_model=Page[MaterialRead],
            responses=responses(*AUTH_ERRORS, *TRUST_ERRORS, CaseNotFound))
async def list_materials(case_id: uuid.UUID, session: SessionDep, page: PageDep,
                         access: MaterialReader) -> Page[MaterialRead]:
    """The case's materials: uploaded documents and licences used (免证办), oldest first."""
    await get_visible(session, case_id, access.principal, permission="case.materials.read")
    return await paginate(session, repository.materials_query(case_id), page, MaterialRead.model_validate)


@router.post("/cases/{case_id}/materials", summary="补交材料", response_model=CaseRead,
             responses=responses(*AUTH_ERRORS, *TRUST_ERRORS, CaseNotFound, WrongCaseState, DocumentUnusable,
                                 IdempotencyKeyReused, *LICENCE_ERRORS))
async def add_materials(case_id: uuid.UUID, body: MaterialsAdd, request: Request, sessions: Sessions,
                        access: MaterialAdder, idem: IdempotencyDep):
    """Add materials to an open case (a supplement, or materials accepted with gaps): the
    applicant, or a clerk for a counter case. The timeline records it. Licence-backed ones are
    recorded at svc-credentials with no cases transaction open; if it refuses, nothing is added,
    the consents given are withdrawn and the timeline says why. An `Idempotency-Key` replays the
    answer (409 `submission_in_progress` while the first is still running)."""
    actor = access.principal
    assert actor is not None  # the policy admits no anonymous caller
    return await submission_flow.add_materials(sessions, request, case_id, body.materials, body.reason, actor,
                                               idem, credentials(request))
