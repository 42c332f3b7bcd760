"""A case's state machine: which step is allowed from which state and for which side (the policy
says who is on each side: `case.act.<side>` in tongban.cases.policy), what a step does to the
case's fields and legal clock, and how it is recorded (timeline, audit, event through the outbox).

Flows that reach beyond the case (settling a bundle when its child case ends, a bundle child's
material list) live above, in tongban.cases.flows; this module never imports them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from tongban.cases.case import clock, repository
from tongban.cases.case.access import decide, get_visible
from tongban.cases.case.errors import WrongCaseState
from tongban.cases.case.models import Case, CaseTimelineEntry
from tongban.cases.case.schemas import CaseAction
from tongban.cases.catalog_copy import repository as catalog
from tongban.cases.catalog_copy.models import CatalogImplementation, CatalogItem
from tongban.cases.db import audit, outbox
from tongban.cases.item_config import repository as item_configs
from tongban.cases.item_config.service import validate_form
from tongban.cases.material import repository as materials_repo
from tongban.cases.material import required
from tongban.cases.material.errors import MaterialsMissing
from tongban.cases.workday import calendar
from tongban.cases.workday import repository as workdays
from tongban.shared import clock as shared_clock
from tongban.shared.auth import Principal
from tongban.shared.contracts import cases as contract
from tongban.shared.errors import Conflict, InvalidField
from tongban.shared.events.envelope import make_event

OPEN = frozenset({"draft", "submitted", "accepted", "supplement_requested", "in_review"})
SETTLED = frozenset({"completed", "refused", "withdrawn", "revoked"})


@dataclass(frozen=True)
class Step:
    from_states: frozenset[str]
    to_state: str | None          # None: the state does not change (extend, fulfil_gaps)
    who: str                      # applicant | clerk | approver | staff
    needs_reason: bool = False
    event: str | None = None


STEPS: dict[str, Step] = {
    "submit": Step(frozenset({"draft"}), "submitted", "applicant", event=contract.CASE_SUBMITTED),
    "accept": Step(frozenset({"submitted"}), "accepted", "clerk", event=contract.CASE_ACCEPTED),
    "refuse": Step(frozenset({"submitted"}), "refused", "clerk", True, contract.CASE_REFUSED),
    "request_supplement": Step(frozenset({"submitted", "accepted", "in_review"}), "supplement_requested", "clerk",
                               True, contract.CASE_SUPPLEMENT_REQUESTED),
    "resubmit": Step(frozenset({"supplement_requested"}), "submitted", "applicant", event=contract.CASE_RESUBMITTED),
    "review": Step(frozenset({"accepted"}), "in_review", "approver", event=contract.CASE_REVIEW_STARTED),
    "approve": Step(frozenset({"in_review"}), "approved", "approver", event=contract.CASE_APPROVED),
    "deny": Step(frozenset({"in_review"}), "denied", "approver", True, contract.CASE_DENIED),
    "complete": Step(frozenset({"approved", "denied"}), "completed", "staff", event=contract.CASE_COMPLETED),
    "withdraw": Step(OPEN, "withdrawn", "applicant", event=contract.CASE_WITHDRAWN),
    "extend": Step(frozenset({"submitted", "accepted", "in_review"}), None, "approver", True, contract.CASE_EXTENDED),
    "revoke": Step(frozenset({"approved", "completed"}), "revoked", "approver", True, contract.CASE_REVOKED),
    "fulfil_gaps": Step(frozenset({"accepted", "in_review", "suspended"}), None, "applicant"),
}
# Commitment approval (承诺制) decides on the applicant's signed commitment, without a review.
COMMITMENT_FROM = frozenset({"accepted", "in_review"})


class GapsOutstanding(Conflict):
    code, title = "gaps_outstanding", "Materials accepted with gaps are still missing"


def now() -> dt.datetime:
    return shared_clock.now()


# The material list a case is held to: its item's (or implementation's), unless a flow above knows
# better (a bundle child's part of its bundle's list: tongban.cases.flows.listed_for).
Listed = Callable[[AsyncSession, Case], Awaitable[list[dict[str, Any]] | None]]


def listed_of(item: CatalogItem, impl: CatalogImplementation | None) -> list[dict[str, Any]] | None:
    """The materials the case's implementation lists (the city's own list), else the item's."""
    return impl.materials if impl is not None and impl.materials else item.materials


async def item_listed(session: AsyncSession, case: Case) -> list[dict[str, Any]] | None:
    """The list of the case's own item and implementation (from the catalogue's read copy)."""
    item = await catalog.by_basic_code(session, case.basic_code)
    if item is None:
        return None
    return listed_of(item, await catalog.implementation(session, case.implementation_code, case.basic_code,
                                                        case.city_code))


async def check_materials(session: AsyncSession, case: Case, listed: Listed = item_listed) -> None:
    """On (re)submission of an existing case: refuse while a required material is missing, and
    keep the missing 容缺 ones on the case."""
    if case.channel == "partner":
        return
    short = required.shortfall(await listed(session, case), await materials_repo.given(session, case.id))
    if short.missing:
        raise MaterialsMissing(short.missing)
    case.missing_materials = short.gaps or None


# --- transitions -------------------------------------------------------------------------------

# --- transitions -------------------------------------------------------------------------------

async def transition(session: AsyncSession, case_id: uuid.UUID, action: str, body: CaseAction, p: Principal,
                     today: dt.date | None = None, listed: Listed = item_listed) -> Case:
    """Apply `action` to the case if the policy lets the caller take this step on it (`case.act`
    on the case: 404 for a stranger; then the step's side), then if its state allows it (409
    naming the state if not): the policy is asked before the case's state is told."""
    today = today or calendar.today()
    step = STEPS[action]
    case = await get_visible(session, case_id, p, for_update=True, permission="case.act")
    decide(f"case.act.{step.who}", case, p)
    from_states = step.from_states | (COMMITMENT_FROM if action == "approve" and body.commitment else frozenset())
    if case.state not in from_states:
        raise WrongCaseState(action.replace("_", " "), case.state, from_states)
    if step.needs_reason and not (body.reason and body.reason.strip()):
        raise InvalidField("reason", f"a reason is required to {action.replace('_', ' ')}")
    overrides = await workdays.overrides_from(session, (case.received_on or today) - dt.timedelta(days=1))
    detail: dict[str, Any] = {}
    if action in ("submit", "resubmit"):
        await check_materials(session, case, listed)
    if action == "accept" and case.missing_materials:
        uncovered = [m for m in case.missing_materials if m not in (body.gaps or [])]
        if uncovered:
            raise InvalidField("gaps", f"materials still missing: {', '.join(uncovered)}; accept with them as "
                                       "gaps (容缺, with gaps_due_on) or request a supplement")
    if action == "accept" and body.gaps:
        if body.gaps_due_on is None or body.gaps_due_on < today:
            raise InvalidField("gaps_due_on", "accepting with gaps needs a due date from today on")
        case.gaps, case.gaps_due_on = list(body.gaps), body.gaps_due_on
        detail = {"gaps": list(body.gaps), "gaps_due_on": body.gaps_due_on.isoformat()}
    elif action == "resubmit" and body.form_data is not None:
        config = await item_configs.get(session, case.basic_code)
        case.form_data = validate_form(config.form_fields if config else None, body.form_data)
    elif action == "approve":
        if case.gaps:
            raise GapsOutstanding(f"still missing: {', '.join(case.gaps)}")
        if body.commitment:
            if not case.commitment_signed:
                raise InvalidField("commitment", "the applicant has not signed a commitment")
            case.commitment_approval = True
            detail = {"commitment": True}
        if body.licence_data:
            if not case.result_licence_type:
                raise InvalidField("licence_data", "this item produces no licence")
            # What the department decides for the licence (证照联办): kept on the timeline, sent
            # with the approval over the applicant's form fields of the same name.
            detail = {**detail, "licence_data": body.licence_data}
    elif action == "extend":
        if body.extension_days is None:
            raise InvalidField("extension_days", "required to extend")
        clock.extend(case, body.extension_days, overrides)
        detail = {"extension_days": body.extension_days}
    elif action == "revoke" and not case.commitment_approval:
        raise WrongCaseState("revoke", f"{case.state} (not on a commitment)", frozenset({"commitment approval"}))
    elif action == "fulfil_gaps":
        if not case.gaps:
            raise WrongCaseState("fulfil gaps", f"{case.state} without missing materials", frozenset())
        if case.missing_materials:
            raise MaterialsMissing(case.missing_materials)
        detail = {"gaps": case.gaps}
        case.gaps, case.gaps_due_on, case.gaps_reminded_at = None, None, None
        if case.state == "suspended":
            await move(session, case, p, action, Step(frozenset(), "accepted", "applicant"), body.reason, today,
                        overrides, detail)
            return case
    await move(session, case, p, action, step, body.reason, today, overrides, detail)
    return case


@dataclass(frozen=True)
class Moved:
    """A step applied to the case's fields, waiting to be recorded (timeline, audit, event)."""

    actor: Principal | str
    action: str
    step: Step
    from_state: str
    to_state: str
    reason: str | None
    at: dt.datetime
    detail: dict[str, Any]


def apply(case: Case, actor: Principal | str, action: str, step: Step, reason: str | None, today: dt.date,
           overrides: Mapping[dt.date, bool], detail: dict[str, Any]) -> Moved:
    from_state = case.state
    to_state = step.to_state or case.state
    at = now()
    case.state = to_state
    if step.to_state is not None:
        case.state_reason = reason
    if action == "submit":
        case.submitted_at = at
        clock.start(case, today, overrides)
    elif to_state in ("supplement_requested", "suspended"):
        clock.pause(case, today)
    elif from_state in ("supplement_requested", "suspended") and to_state in clock.RUNNING:
        clock.resume(case, today, overrides)
    if to_state in ("approved", "denied", "refused") and step.to_state is not None:
        case.decided_at, case.decision = at, to_state
    if to_state == "completed":
        case.completed_at = at
    if case.deadline_basis is not None and (action == "submit" or from_state in ("supplement_requested", "suspended")):
        # The step that set the clock says, on the timeline, that its deadline is provisional.
        detail = {**detail, "deadline_on": case.deadline_on.isoformat() if case.deadline_on else None,
                  "deadline_provisional": True, "deadline_basis": case.deadline_basis}
    return Moved(actor, action, step, from_state, to_state, reason, at, detail)


async def emit(session: AsyncSession, case: Case, *moves: Moved) -> None:
    """Record applied steps: timeline entries first (they go in with one batched INSERT at the next
    flush), then each step's audit record and event (one INSERT each for all the steps)."""
    for m in moves:
        await repository.add_entry(session, entry(case, m.actor, m.action, m.from_state, m.to_state, m.reason,
                                                   m.detail))
    # The steps' audit records go in with one INSERT and their events with another (a 秒批
    # submission's two steps: two round trips fewer, inside the case number's row lock).
    async with audit.batched(session), outbox.batched(session):
        for m in moves:
            await audit.record(session, m.actor, f"case.{m.action}", "case", str(case.id), m.reason,
                               {"from": m.from_state, "to": m.to_state, "case_number": case.case_number, **m.detail})
            await publish(session, case, m)


async def publish(session: AsyncSession, case: Case, m: Moved) -> None:
    if m.step.event == contract.CASE_APPROVED:
        await outbox.add(session, make_event("cases", contract.CASE_APPROVED,
                                             approved_payload(case, m.at, m.detail.get("licence_data")),
                                             subject=str(case.id)))
    elif m.step.event is not None:
        # A submission decided at once carries its rule version on the approval, not on the submission.
        rule_version = None if m.action == "submit" else case.decided_by_rule_version
        await outbox.add(session, make_event("cases", m.step.event, contract.CaseTransitionedV1(
            case_id=case.id, case_number=case.case_number, item_basic_code=case.basic_code,
            department=case.department, from_state=m.from_state, state=m.to_state, actor=actor_of(m.actor)[0],
            reason=m.reason, at=m.at, rule_version=rule_version, deadline_on=case.deadline_on,
            deadline_provisional=case.deadline_basis is not None, applicant_sub=applicant_sub(case),
            missing_materials=supplement_list(case, m), **origin_fields(case)), subject=str(case.id)))


async def move(session: AsyncSession, case: Case, actor: Principal | str, action: str, step: Step,
                reason: str | None, today: dt.date, overrides: Mapping[dt.date, bool],
                detail: dict[str, Any]) -> None:
    await emit(session, case, apply(case, actor, action, step, reason, today, overrides, detail))


def origin_fields(case: Case) -> dict[str, str | None]:
    """The additive fields every `cases.case.*` event carries (svc-interop calls partners back)."""
    return {"channel": case.channel, "partner_region": case.partner_region,
            "partner_case_number": case.partner_case_number}


def applicant_sub(case: Case) -> str | None:
    """The applicant's own account, when she submitted online herself (not a clerk at a counter,
    not a partner city): what a notifier tells, without any personal number on the event."""
    return case.submitted_by if case.submitter_role in ("citizen", "company") else None


def supplement_list(case: Case, m: Moved) -> list[str] | None:
    """On a supplement request (补正), the materials still missing: told to the applicant once."""
    if m.to_state != "supplement_requested":
        return None
    return list(case.missing_materials or []) or ([m.reason] if m.reason else None)


def approved_payload(case: Case, at: dt.datetime,
                     licence_data: dict[str, Any] | None = None) -> contract.CaseApprovedV1:
    """The approval event: `data` is the form, with the department's licence fields over it."""
    return contract.CaseApprovedV1(
        case_id=case.id, case_number=case.case_number, item_basic_code=case.basic_code,
        implementation_code=case.implementation_code, applicant_type=case.applicant_type,  # type: ignore[arg-type]
        applicant_id=case.applicant_id, applicant_name=case.applicant_name,
        result_licence_type_code=case.result_licence_type, department=case.department, approved_at=at,
        data={**(case.form_data or {}), **(licence_data or {})}, state=case.state, applicant_sub=applicant_sub(case),
        rule_version=case.decided_by_rule_version, deadline_on=case.deadline_on, **origin_fields(case))


def actor_of(actor: Principal | str) -> tuple[str, str]:
    return (actor.sub, actor.role) if isinstance(actor, Principal) else (actor, "system")


def entry(case: Case, actor: Principal | str, action: str, from_state: str | None, to_state: str,
           reason: str | None, detail: dict[str, Any]) -> CaseTimelineEntry:
    sub, role = actor_of(actor)
    principal = delegation = None
    if isinstance(actor, Principal) and role in ("citizen", "company"):
        principal = case.applicant_id  # an applicant-side step: done in the applicant's name
        agent_for = actor.agent_for
        if agent_for is not None and agent_for.id == case.applicant_id:
            found = agent_for.covering(case.basic_code, "apply", shared_clock.now())
            delegation = found.id if found else None
    return CaseTimelineEntry(case_id=case.id, action=action, from_state=from_state, to_state=to_state, actor=sub,
                             actor_role=role, principal=principal, delegation_id=delegation, reason=reason,
                             detail=detail or None)


async def record(session: AsyncSession, case: Case, actor: Principal | str, action: str, from_state: str | None,
                  to_state: str, reason: str | None, detail: dict[str, Any]) -> None:
    await repository.add_entry(session, entry(case, actor, action, from_state, to_state, reason, detail))
    await audit.record(session, actor, f"case.{action}", "case", str(case.id), reason,
                       {"from": from_state, "to": to_state, "case_number": case.case_number, **detail})


async def record_system_step(session: AsyncSession, case: Case, actor: str, action: str, to_state: str,
                             reason: str, today: dt.date, overrides: Mapping[dt.date, bool],
                             event: str | None = None) -> None:
    """A step taken by the platform itself (the deadline checker suspending a case, say)."""
    await move(session, case, actor, action, Step(frozenset(), to_state, "system", event=event), reason, today,
                overrides, {})

