"""Departments' document seals (公章 for notices and decisions): seal a PDF for svc-cases (PAdES,
the seal's picture on the page, the use in the seal use log like any seal use) and check an
uploaded PDF for anyone (public: authentic? unaltered? which seal?).

A department's document seal is a `Seal` of kind `department` keyed by the department's credit
code, made on first use with an Ed25519 key in the key store and a self-issued certificate
(document/pades.py). Revoking it (POST /seals/{id}/revoke, admins) stops new seals; documents
sealed before still verify, and say so.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from tongban.credentials.db import audit
from tongban.credentials.document import pades, repository
from tongban.credentials.document.errors import DocumentAlreadySealed
from tongban.credentials.document.models import SealCertificate, SealedDocument
from tongban.credentials.document.schemas import (
    DocumentSealCreate,
    DocumentSummary,
    DocumentVerification,
    SealSummary,
)
from tongban.credentials.seal import repository as seals
from tongban.credentials.seal.models import Seal, SealUse
from tongban.credentials.signing import keystore
from tongban.credentials.signing import repository as issuers
from tongban.shared import clock
from tongban.shared.auth import Principal

KIND = "department"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def department_seal(session: AsyncSession, department: str, name: str | None,
                          actor: Principal | str) -> tuple[Seal, SealCertificate]:
    """The department's active document seal and its certificate, made on first use (a concurrent
    first use loses the unique index's race and takes the winner's)."""
    seal = await repository.department_seal(session, department, KIND)
    if seal is None:
        issuer = await issuers.get_issuer(session, department)
        shown = name or (issuer.name if issuer is not None else department)
        try:
            async with session.begin_nested():
                seal = await _make(session, department, shown, actor)
        except IntegrityError:
            seal = await repository.department_seal(session, department, KIND)
            assert seal is not None
    cert = await repository.certificate(session, seal.id)
    assert cert is not None, "a department seal is made with its certificate"
    return seal, cert


async def _make(session: AsyncSession, department: str, name: str, actor: Principal | str) -> Seal:
    kid = f"dseal-{department}-{secrets.token_hex(6)}"
    public = keystore.current().generate(kid, pades.ALGORITHM)
    seal = Seal(id=uuid.uuid4(), company_code=department, company_name=name, kind=KIND, name=name, kid=kid,
                algorithm=pades.ALGORITHM, public_key=public, status="active", source="department",
                created_by=actor.sub if isinstance(actor, Principal) else actor)
    await seals.add(session, seal)
    der = pades.certificate(kid, name, department, int.from_bytes(seal.id.bytes[:8], "big"), clock.now(), public)
    await repository.add(session, SealCertificate(seal_id=seal.id, certificate=der, sha256=_sha256(der)))
    await audit.record(session, actor, "seal.issued", "seal", str(seal.id),
                       detail={"company_code": department, "kind": KIND, "kid": kid, "source": "department"})
    return seal


async def seal_document(session: AsyncSession, data: DocumentSealCreate,
                        actor: Principal) -> tuple[SealedDocument, Seal, bytes]:
    """Seal one PDF with its department's seal; returns the record, the seal and the sealed PDF."""
    if await repository.document(session, data.document_id) is not None:
        raise DocumentAlreadySealed(f"document {data.document_id} was sealed already")
    source = base64.b64decode(data.pdf)
    seal, cert = await department_seal(session, data.department, data.department_name, actor)
    now = clock.now().replace(microsecond=0)
    use = SealUse(seal_id=seal.id, company_code=seal.company_code, actor=actor.sub, actor_name=actor.name,
                  hash_algorithm="SHA-256", document_hash=_sha256(source), document_name=data.title[:200],
                  outcome="applied", at=now)
    await seals.add(session, use)
    sealed = await pades.sign(source, seal.kid, cert.certificate, seal.name, seal.name, data.title, pades.Placement())
    row = SealedDocument(id=data.document_id, seal_id=seal.id, seal_use_id=use.id, title=data.title,
                         reference=data.reference, source_sha256=use.document_hash, sealed_sha256=_sha256(sealed),
                         created_by=actor.sub, sealed_at=now)
    await repository.add(session, row)
    await audit.record(session, actor, "seal.applied", "seal_use", str(use.id),
                       detail={"seal": str(seal.id), "document": str(row.id), "reference": data.reference,
                               "principal": seal.company_code})
    return row, seal, sealed


def _seal_summary(seal: Seal) -> SealSummary:
    return SealSummary(seal_id=seal.id, name=seal.name, department=seal.company_code, status=seal.status)


def summary(row: SealedDocument) -> DocumentSummary:
    return DocumentSummary(document_id=row.id, title=row.title, reference=row.reference, sealed_at=row.sealed_at,
                           sha256=row.sealed_sha256)


async def verify(session: AsyncSession, pdf: bytes, verifier: Principal | None) -> DocumentVerification:
    """Check an uploaded PDF (audited: who asked, the answer, never the document)."""
    result = await _judge(session, pdf)
    await audit.record(session, verifier or "anonymous", "document.verified", "sealed_document",
                       str(result.document.document_id) if result.document else "unknown",
                       detail={"result": result.result, "sha256": _sha256(pdf)})
    return result


async def _judge(session: AsyncSession, pdf: bytes) -> DocumentVerification:
    trusted = [c.certificate for c in await repository.certificates(session)]
    checked = await pades.check(pdf, trusted)
    if not checked.readable:
        return DocumentVerification(result="unreadable", authentic=False, unaltered=False,
                                    reason=checked.problem or "not a readable PDF")
    if not checked.signed:
        return DocumentVerification(result="unsigned", authentic=False, unaltered=False,
                                    reason="the PDF carries no seal: it is not a document we issued")
    seal = await repository.seal_of_certificate(session, _sha256(checked.signer)) if checked.signer else None
    if seal is None:
        return DocumentVerification(result="not_ours", authentic=False, unaltered=False,
                                    reason="signed with a certificate none of our seals has")
    if checked.problem is not None or not checked.intact:
        return DocumentVerification(result="altered", authentic=False, unaltered=False, seal=_seal_summary(seal),
                                    reason="the document was changed after it was sealed: its digest is not "
                                           "the one the seal signed")
    if not checked.covers_whole_file:
        return DocumentVerification(result="altered", authentic=True, unaltered=False, seal=_seal_summary(seal),
                                    reason="the sealed part is intact, but content was added after sealing")
    row = await repository.document_by_digest(session, _sha256(pdf))
    reason = f"sealed by {seal.name}; not a byte changed since"
    if seal.status != "active":
        reason += "; the seal has since been revoked (what it sealed before stays valid)"
    return DocumentVerification(result="authentic", authentic=True, unaltered=True, reason=reason,
                                seal=_seal_summary(seal), document=summary(row) if row is not None else None)
