from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from tongban.cases.material import service
from tongban.cases.material.errors import DocumentTooLarge, DocumentUnusable, UnsupportedDocumentType
from tongban.cases.material.schemas import DocumentRead
from tongban.cases.policy import POLICY
from tongban.shared.auth import AUTH_ERRORS, RealNameRequired
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.policy import Access, Authorize

# Only the upload is this aggregate's own: reading a document, and a case's materials, go through
# the cases that list them (tongban.cases.case_material_router, above both aggregates).
router = APIRouter(tags=["materials"])
Uploader = Annotated[Access, Depends(Authorize(POLICY, "document.upload"))]


@router.post("/documents", summary="上传材料", status_code=201, response_model=DocumentRead,
             responses=responses(*AUTH_ERRORS, RealNameRequired, DocumentTooLarge, UnsupportedDocumentType,
                                 DocumentUnusable, IdempotencyKeyReused),
             openapi_extra={"requestBody": {"required": True, "content": {
                 t: {"schema": {"type": "string", "format": "binary"}} for t in
                 ("application/pdf", "image/jpeg", "image/png", "application/ofd")}}})
async def upload_document(request: Request, session: SessionDep, access: Uploader, idem: IdempotencyDep,
                          filename: Annotated[str, Query(min_length=1, max_length=200)]):
    """Upload a file to the document store (the body is the file; `Content-Type` its type). Name
    the returned id in a submission's `materials` (or `POST /cases/{id}/materials`) to attach it.
    413 over the size limit, 415 for a type not accepted, 422 when empty or not of its type."""
    actor = access.principal
    assert actor is not None  # the policy admits no anonymous upload
    settings = request.app.state.settings
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > settings.document_max_bytes:
        raise DocumentTooLarge(f"{length} bytes; the limit is {settings.document_max_bytes}")
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    mime_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    doc = await service.upload(session, await request.body(), mime_type, filename, actor, settings)
    return await idem.remember(session, 201, DocumentRead.model_validate(doc))
