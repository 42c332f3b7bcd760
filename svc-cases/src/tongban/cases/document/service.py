"""Notices and decisions of a case: open one (its content fixed from the case), record it sealed,
or record why it was not. Never commits; the flow (tongban.cases.document_flow) holds the
transactions and the call to svc-credentials between them."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from tongban.cases.case import repository as cases
from tongban.cases.case.models import Case
from tongban.cases.credentials_client import SealedDocument
from tongban.cases.db import audit
from tongban.cases.document import content, repository
from tongban.cases.document.models import CaseDocument
from tongban.cases.material import repository as materials
from tongban.shared import clock
from tongban.shared.auth import Principal


async def open_document(session: AsyncSession, case: Case, kind: str, actor: Principal,
                        verify_base: str) -> CaseDocument:
    """A new document of `kind` for the case, its content fixed now (DocumentNotDue if the case
    has not reached the step it records), waiting for the seal."""
    entries = await cases.timeline(session, case.id)
    given = [name for name, _ in await materials.given(session, case.id)]
    sequence = await repository.count_of_kind(session, case.id, kind) + 1
    document_id = uuid.uuid4()
    facts = content.facts(case, entries, kind, given, sequence, clock.today(),
                          f"{verify_base.rstrip('/')}/{document_id}")
    row = CaseDocument(id=document_id, case_id=case.id, kind=kind, title=facts["title"], number=facts["number"],
                       facts=facts, status="sealing", created_by=actor.sub)
    await repository.add(session, row)
    await audit.record(session, actor, "case_document.opened", "case", str(case.id),
                       detail={"document": str(row.id), "kind": kind, "number": row.number})
    return row


async def sealed(session: AsyncSession, row: CaseDocument, seal: SealedDocument, actor: Principal) -> None:
    await repository.mark(session, row.id, status="sealed", pdf=seal.pdf, sha256=seal.sha256, seal_id=seal.seal_id,
                          seal_name=seal.seal_name, seal_use_id=seal.seal_use_id, sealed_at=seal.sealed_at)
    await audit.record(session, actor, "case_document.sealed", "case", str(row.case_id),
                       detail={"document": str(row.id), "kind": row.kind, "seal": str(seal.seal_id),
                               "seal_use": seal.seal_use_id, "sha256": seal.sha256})


async def failed(session: AsyncSession, row: CaseDocument, reason: str, actor: Principal) -> None:
    await repository.mark(session, row.id, status="failed", failure=reason[:2000])
    await audit.record(session, actor, "case_document.failed", "case", str(row.case_id), reason=reason[:500],
                       detail={"document": str(row.id), "kind": row.kind})
