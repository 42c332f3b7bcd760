"""One-thing bundles (一件事): the read copy of bundles, and bundle cases whose children (one per
item) run in parallel in their departments; the parent completes when every child is settled."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from tongban.cases.bundle import repository
from tongban.cases.bundle.models import BundleCase, CatalogBundle
from tongban.cases.bundle.schemas import BundleCaseCreate, BundleCaseRead
from tongban.cases.case import repository as cases_repo
from tongban.cases.case import service as cases
from tongban.cases.case import submission
from tongban.cases.case.access import target
from tongban.cases.case.errors import CaseNotFound, ItemNotAvailable, WrongCaseState
from tongban.cases.case.models import Case
from tongban.cases.case.schemas import CaseCreate
from tongban.cases.case.steps import SETTLED
from tongban.cases.catalog_copy.service import materials_of
from tongban.cases.credentials_client import CredentialsClient
from tongban.cases.db import audit, outbox
from tongban.cases.material import required
from tongban.cases.material.errors import MaterialsMissing
from tongban.cases.material.schemas import MaterialIn
from tongban.cases.material.service import SubmissionMaterials
from tongban.cases.workday import calendar
from tongban.shared import clock
from tongban.shared.auth import NotOwner, Principal
from tongban.shared.contracts import cases as contract
from tongban.shared.contracts.catalog import BundlePublishedV1
from tongban.shared.errors import AppError
from tongban.shared.events.envelope import make_event
from tongban.shared.policy import Access


async def apply_bundle_published(session: AsyncSession, data: BundlePublishedV1) -> None:
    """Insert the bundle, or take a newer version; an older version arriving late changes nothing."""
    current = await repository.get_copy(session, data.bundle_id)
    materials = materials_of((data.record or {}).get("merged"))
    if current is None:
        await repository.add(session, CatalogBundle(bundle_id=data.bundle_id, code=data.code, name=data.name,
                                                    version=data.version, item_codes=data.item_codes,
                                                    city_code=data.city_code, materials=materials))
    elif data.version > current.version:
        current.code, current.name, current.version = data.code, data.name, data.version
        current.item_codes, current.city_code, current.materials = data.item_codes, data.city_code, materials


@dataclass
class Started:
    """A bundle case begun by `start`: `read` when it was submitted at once; else `held`, its
    children committed as drafts until svc-credentials has confirmed their licence-backed
    materials (tongban.cases.submission_flow), each with its materials."""

    parent: BundleCase
    read: BundleCaseRead | None = None
    held: list[tuple[submission.Opened, SubmissionMaterials]] = field(default_factory=list)


async def start(session: AsyncSession, body: BundleCaseCreate, p: Principal, default_city: str,
                user_auth: str | None = None, credentials: CredentialsClient | None = None) -> Started:
    """One form and one set of materials for the bundle: a parent case and one child case per item
    (each routed to its department, with the materials its item asks for). Every required material
    of the bundle's deduplicated list must be there (容缺 ones may be missing: those children then
    wait for acceptance with gaps). Without licence-backed materials the children are submitted
    here; with them, the parent and its children are written as drafts (`finish` submits them)."""
    bundle = await repository.bundle_by_code(session, body.bundle_code)
    if bundle is None or not bundle.item_codes:
        raise ItemNotAvailable(body.bundle_code, "no such bundle in the catalogue")
    short = required.shortfall(bundle.materials, [(m.name, m.licence_type_code) for m in body.materials])
    if short.missing:
        raise MaterialsMissing(short.missing)
    today = calendar.today()
    city = body.city_code or bundle.city_code or default_city
    first = CaseCreate.model_validate({"basic_code": bundle.item_codes[0], "city_code": city,
                                       "form_data": body.form_data, "applicant": body.applicant})
    origin = submission.applicant_of(first, p)
    hold = any(m.document_id is None for m in body.materials)
    seq = await cases_repo.next_number(session, city, today)
    parent = BundleCase(id=uuid.uuid4(), case_number=f"{city}{today:%Y%m%d}{seq:05d}", bundle_code=bundle.code,
                        name=bundle.name, applicant_type=origin.applicant_type, applicant_id=origin.applicant_id,
                        submitted_by=p.sub, state="draft" if hold else "in_progress")
    await repository.add(session, parent)
    await audit.record(session, p, "bundle_case.submit", "bundle_case", str(parent.id), None,
                       {"bundle_code": bundle.code, "items": bundle.item_codes, "case_number": parent.case_number})
    started, children = Started(parent), []
    for code in bundle.item_codes:
        child = first.model_copy(update={"basic_code": code})
        mine = [(i, m) for i, m in enumerate(body.materials) if _asked_by(code, m, bundle.materials)]
        # Even without materials: the plan reads the wallet when the child's rule names a licence.
        plan = SubmissionMaterials(session, [m for _, m in mine], p, user_auth, credentials or CredentialsClient(None),
                                   positions=[i for i, _ in mine], shared_with=[c.id for c in children])
        listed = required.for_item(bundle.materials, code)
        if not hold:
            children.append(await submission.submit(session, child, p, default_city, today, bundle_case_id=parent.id,
                                                    materials=plan, listed_materials=listed))
            continue
        opened = await submission.open_submission(session, child, p, default_city, today, parent.id,
                                                  materials=plan, listed_materials=listed)
        await submission.hold(session, opened, p, plan)
        started.held.append((opened, plan))
        children.append(opened.case)
    if not hold:
        started.read = await _submitted(session, parent, children)
    return started


async def finish(session: AsyncSession, started: Started, p: Principal,
                 licence_facts: list[dict[str, Any]]) -> BundleCaseRead:
    """The held bundle, its children's licence-backed materials confirmed: each child submitted
    (instant approval tried), the parent in progress. 409 if a child draft moved meanwhile."""
    parent = await repository.get(session, started.parent.id, for_update=True)
    if parent is None or parent.state != "draft":
        raise WrongCaseState("submit", parent.state if parent is not None else "gone", frozenset({"draft"}))
    children = [await submission.finish(session, opened, p, plan, facts)
                for (opened, plan), facts in zip(started.held, licence_facts, strict=True)]
    parent.state = "in_progress"
    return await _submitted(session, parent, children)


async def fail(session: AsyncSession, started: Started, p: Principal, reason: str, detail: dict[str, Any]) -> None:
    """The held bundle was not submitted: it and its children stay drafts, each child's timeline
    saying why (and what was undone at svc-credentials)."""
    for opened, _ in started.held:
        await submission.fail(session, opened.case.id, p, reason, detail)
    await audit.record(session, p, "bundle_case.submission_failed", "bundle_case", str(started.parent.id), None,
                       {"reason": reason[:500], **detail})


async def _submitted(session: AsyncSession, parent: BundleCase, children: list[Any]) -> BundleCaseRead:
    """Tell the bundle's submission (in the transaction that submitted its children)."""
    await outbox.add(session, make_event("cases", contract.BUNDLE_SUBMITTED, contract.BundleCaseV1(
        bundle_case_id=parent.id, case_number=parent.case_number, bundle_code=parent.bundle_code, state=parent.state,
        child_case_ids=[c.id for c in children], at=clock.now()), subject=str(parent.id)))
    return BundleCaseRead.model_validate(parent).model_copy(update={"children": children})


def _asked_by(basic_code: str, material: MaterialIn, listed: list[dict[str, Any]] | None) -> bool:
    """Whether the bundle's list has the item ask for this material; one it does not list goes to every child."""
    given = [(material.name, material.licence_type_code)]
    matches = [m for m in listed or () if required.satisfied(m, given)]
    return not matches or any(basic_code in (m.get("for_items") or [basic_code]) for m in matches)


async def child_settled(session: AsyncSession, child: Case, actor: Principal | str) -> None:
    """Complete the parent once every child is settled, saying which items were not approved."""
    assert child.bundle_case_id is not None
    parent = await repository.get(session, child.bundle_case_id, for_update=True)
    if parent is None or parent.state == "completed":
        return
    children = await repository.children(session, parent.id)
    if any(c.state not in SETTLED for c in children):
        return
    approved = [c.basic_code for c in children if c.state == "completed" and c.decision == "approved"]
    failed = [{"basic_code": c.basic_code, "case_number": c.case_number, "state": c.state, "decision": c.decision}
              for c in children if c.basic_code not in approved]
    parent.outcome = "approved" if not failed else "denied" if not approved else "partial"
    parent.outcome_detail = {"approved": approved, "not_approved": failed}
    parent.state, parent.completed_at = "completed", clock.now()
    await audit.record(session, actor, "bundle_case.complete", "bundle_case", str(parent.id), parent.outcome,
                       parent.outcome_detail)
    await outbox.add(session, make_event("cases", contract.BUNDLE_COMPLETED, contract.BundleCaseV1(
        bundle_case_id=parent.id, case_number=parent.case_number, bundle_code=parent.bundle_code, state=parent.state,
        child_case_ids=[c.id for c in children], outcome=parent.outcome, outcome_detail=parent.outcome_detail,
        at=parent.completed_at), subject=str(parent.id)))


async def read(session: AsyncSession, bundle_case_id: uuid.UUID, access: Access) -> BundleCaseRead:
    """The bundle case with the children the caller may reach (`bundle.read` asked of each child:
    its applicant's side, staff in scope). 404 when the caller reaches none of them."""
    p = access.principal
    assert p is not None  # the policy admits no anonymous reader
    parent = await repository.get(session, bundle_case_id)
    if parent is None:
        raise CaseNotFound()
    reached, refusal = [], None
    for child in await repository.children(session, parent.id):
        try:
            access.check(target(child))
            reached.append(child)
        except NotOwner:
            continue
        except AppError as exc:
            refusal = refusal or exc
    if not reached:
        raise refusal or CaseNotFound()
    convert = await cases.reader(session, p)
    return BundleCaseRead.model_validate(parent).model_copy(update={"children": [convert(c) for c in reached]})
