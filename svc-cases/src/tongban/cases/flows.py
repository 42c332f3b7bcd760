"""Flows that span aggregates, above them: the aggregates below never import this module.

A bundle case (一件事) is settled when its last child case ends; a bundle child is held to its
part of the bundle's material list; a document is read through any case that lists it. The case
aggregate knows nothing of bundles: these flows hand it what it needs (`listed`) and act on what
it did (a child case settled)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from tongban.cases.bundle import repository as bundles_repo
from tongban.cases.bundle import service as bundles
from tongban.cases.case import repository as cases_repo
from tongban.cases.case import service as cases
from tongban.cases.case import steps
from tongban.cases.case.access import decide, get_visible, target
from tongban.cases.case.models import Case
from tongban.cases.case.schemas import CaseAction
from tongban.cases.case.service import MaterialsPlan
from tongban.cases.credit import service as credit
from tongban.cases.material import repository as materials_repo
from tongban.cases.material import required
from tongban.cases.material.errors import DocumentNotFound
from tongban.cases.material.models import Document
from tongban.cases.payment import service as payments
from tongban.cases.policy import POLICY
from tongban.shared.auth import NotOwner, Principal
from tongban.shared.errors import AppError
from tongban.shared.policy import admit


async def listed_for(session: AsyncSession, case: Case) -> list[dict[str, Any]] | None:
    """The material list a case is held to: a bundle child's part of the bundle's list, else its own."""
    if case.bundle_case_id is None:
        return await steps.item_listed(session, case)
    parent = await bundles_repo.get(session, case.bundle_case_id)
    bundle = await bundles_repo.bundle_by_code(session, parent.bundle_code) if parent is not None else None
    return required.for_item(bundle.materials, case.basic_code) if bundle is not None else None


async def settle_bundle(session: AsyncSession, case: Case, actor: Principal | str) -> None:
    """A bundle child that ended may complete its bundle case."""
    if case.bundle_case_id is not None and case.state in steps.SETTLED:
        await bundles.child_settled(session, case, actor)


async def transition(session: AsyncSession, case_id: uuid.UUID, action: str, body: CaseAction,
                     p: Principal) -> Case:
    """A step of a case (steps.transition), then of its bundle if it settled the last child.
    Unified payment: 先缴后审 accepts only a paid case; 先审后缴 holds an unpaid case's approval
    (and so its licence) until it is paid (tongban.cases.payment.service). Credit: good credit
    waives 容缺 materials at acceptance; an approval on a commitment asks the credit record."""
    if action == "accept":
        # The policy first (404 for a stranger, 403 for the wrong side), as steps.transition asks it:
        # whether a fee is outstanding is the case's business.
        found = await get_visible(session, case_id, p, for_update=True, permission="case.act")
        decide(f"case.act.{steps.STEPS[action].who}", found, p)
        await payments.require_paid(session, found)
        if not body.gaps:
            await credit.waive_gaps(session, case_id, p)  # good credit: 容缺 materials need not follow
    case = await steps.transition(session, case_id, action, body, p, listed=listed_for)
    if action == "approve":
        if body.commitment:
            await credit.on_commitment_approval(session, case)  # refused by credit: the step rolls back
        await payments.hold_approval(session, case)
    await settle_bundle(session, case, p)
    return case


async def add_materials(session: AsyncSession, case: Case, materials: MaterialsPlan, reason: str | None,
                        p: Principal) -> Case:
    """Materials onto an open case, what is still missing measured against the list it is held to."""
    return await cases.add_materials(session, case, materials, reason, p, listed=listed_for)


async def record_licence(session: AsyncSession, case_id: uuid.UUID, identifier: str, type_code: str,
                         holder_id: str) -> bool:
    """证照联办: the issued licence completes its case (and perhaps the case's bundle). False when
    the case is unknown here."""
    case = await cases.record_licence(session, case_id, identifier, type_code, holder_id)
    if case is None:
        return False
    await settle_bundle(session, case, "system:credentials")
    return True


async def readable_document(session: AsyncSession, document_id: uuid.UUID, p: Principal,
                            with_content: bool = False) -> Document:
    """The document for its uploader (policy.UPLOADER_READS), or for whoever the policy lets read
    the materials of a case that lists it (a bundle's children share one). 404 for anyone else;
    403 naming the question that failed for an agent or staff who would reach it but for that."""
    doc = await materials_repo.get_document(session, document_id, with_content)
    if doc is None:
        raise DocumentNotFound()
    if doc.uploaded_by == p.sub:
        return doc
    access = admit(POLICY, "document.read", p)
    refusal: AppError | None = None
    for case_id in await materials_repo.cases_listing(session, doc.id):
        case = await cases_repo.get(session, case_id)
        if case is None:
            continue
        try:
            access.check(target(case))
            return doc
        except NotOwner:
            continue
        except AppError as exc:
            refusal = refusal or exc
    if refusal is not None:
        raise refusal
    raise DocumentNotFound()
