import base64
import uuid

from fastapi import APIRouter, Request
from tongban.credentials.document import repository, service
from tongban.credentials.document.errors import (
    DocumentAlreadySealed,
    DocumentTooLarge,
    NotAPdf,
    SealedDocumentNotFound,
)
from tongban.credentials.document.schemas import (
    MAX_PDF,
    DocumentSealCreate,
    DocumentSealed,
    DocumentSummary,
    DocumentVerification,
)
from tongban.credentials.policy import ERRORS as AUTH_ERRORS
from tongban.credentials.policy import Caller, Public
from tongban.shared.auth import optional_principal
from tongban.shared.cjk_font import CjkFontMissing
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused

router = APIRouter(tags=["document seals"])
Sealer = Caller("document.seal")
PublicCheck = [Public("document.verify")]
# A PDF as generic clients send files too (the content is what is checked, not the label).
UPLOAD_TYPES = ("application/pdf", "application/octet-stream")


@router.post("/document-seals", status_code=201, response_model=DocumentSealed,
             responses=responses(*AUTH_ERRORS, DocumentAlreadySealed, CjkFontMissing, IdempotencyKeyReused))
async def seal_document(body: DocumentSealCreate, session: SessionDep, actor: Sealer, idem: IdempotencyDep):
    """Seal a notice or decision with its department's seal (svc-cases, as itself): a PAdES
    signature, the seal's picture on the first page, the use in the seal use log."""
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    row, seal, pdf = await service.seal_document(session, body, actor)
    return await idem.remember(session, 201, DocumentSealed(
        document_id=row.id, seal_id=seal.id, seal_name=seal.name, seal_use_id=row.seal_use_id,
        sealed_at=row.sealed_at, sha256=row.sealed_sha256, pdf=base64.b64encode(pdf).decode()))


@router.post("/document-verifications", response_model=DocumentVerification,
             responses=responses(NotAPdf, DocumentTooLarge), dependencies=PublicCheck,
             openapi_extra={"requestBody": {"required": True, "content": {
                 t: {"schema": {"type": "string", "format": "binary"}} for t in UPLOAD_TYPES}}})
async def verify_document(request: Request, session: SessionDep) -> DocumentVerification:
    """Upload a sealed notice or decision (the body is the PDF, `application/pdf` or
    `application/octet-stream`): is it authentic, unaltered, and by
    which seal? Public: no login (a logged-in verifier is recorded as such)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() not in UPLOAD_TYPES:
        raise NotAPdf("send the document as the request body with Content-Type: application/pdf")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_PDF:
        raise DocumentTooLarge(f"{length} bytes; the limit is {MAX_PDF}")
    pdf = await request.body()
    if len(pdf) > MAX_PDF:
        raise DocumentTooLarge(f"the limit is {MAX_PDF} bytes")
    if not pdf:
        raise NotAPdf("the body is empty")
    return await service.verify(session, pdf, await optional_principal(request))


@router.get("/document-verifications/{document_id}", response_model=DocumentSummary,
            responses=responses(SealedDocumentNotFound), dependencies=PublicCheck)
async def sealed_document(document_id: uuid.UUID, session: SessionDep) -> DocumentSummary:
    """What the QR code on a notice points to: the document sealed under this id (title, case
    number, when, the SHA-256 of the PDF as issued). Upload the file to check it byte for byte."""
    row = await repository.document(session, document_id)
    if row is None:
        raise SealedDocumentNotFound()
    return service.summary(row)
