"""The rules of a case's life: who may submit, which transition is allowed from which state and
for which role, the legal clock, instant approval, and the events and audit records of each step."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession
from tongban.cases.case import clock, repository
from tongban.cases.case.errors import (
    CaseNotFound,
    ImplementationNotFound,
    ItemNotAvailable,
    ItemNotOfferedInCity,
    NotAllowedForRole,
    WrongCaseState,
)
from tongban.cases.case.models import Case, CaseTimelineEntry
from tongban.cases.case.schemas import CaseAction, CaseCreate, CaseRead, ProgressRead, ProgressStep
from tongban.cases.catalog_copy import repository as catalog
from tongban.cases.catalog_copy.models import CatalogImplementation, CatalogItem
from tongban.cases.db import audit, outbox
from tongban.cases.item_config import repository as item_configs
from tongban.cases.item_config.service import validate_form
from tongban.cases.material import repository as materials_repo
from tongban.cases.material import required
from tongban.cases.material.errors import MaterialsMissing
from tongban.cases.policy import POLICY
from tongban.cases.rule import service as rule_service
from tongban.cases.rule.models import ApprovalRule
from tongban.cases.workday import calendar
from tongban.cases.workday import repository as workdays
from tongban.shared import clock as shared_clock
from tongban.shared.auth import InsufficientScope, NotOwner, OutsideDelegation, Principal, RealNameRequired
from tongban.shared.contracts import cases as contract
from tongban.shared.errors import AppError, Conflict, InvalidField
from tongban.shared.events.envelope import make_event
from tongban.shared.ids import (
    InvalidIdentifier,
    mask_resident_id,
    mask_text,
    normalize_credit_code,
    normalize_resident_id,
)
from tongban.shared.policy import Decision, NotPermitted, Target, admit

DEFAULT_LIMIT_WORKING_DAYS = 20          # 行政许可法 第四十二条: twenty days unless the law says otherwise
LOOKUP_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
INSTANT = "system:instant-approval"
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


class Materials(Protocol):
    """What a submission's materials do around the creation of the case (material/service.py)."""

    def given(self) -> list[required.Given]: ...
    async def prepare(self, case: Case, rule: ApprovalRule | None = None) -> dict[str, Any]: ...
    async def attach(self, case: Case) -> None: ...


def now() -> dt.datetime:
    return shared_clock.now()


# --- who may see and do what: asked of the policy (tongban.cases.policy) -----------------------

def target(case: Case) -> Target:
    """What the policy asks of a case: whose it is, which item, where it is handled."""
    return Target(owner=case.applicant_id, item=case.basic_code, hall=case.hall, department=case.department,
                  channel=case.channel)


def decide(permission: str, case: Case, p: Principal) -> Decision:
    """The policy's decision for this case; NotOwner (existence must not leak) becomes 404."""
    try:
        return admit(POLICY, permission, p).check(target(case))
    except (NotOwner, NotPermitted, InsufficientScope) as exc:
        if permission == "case.read":
            raise CaseNotFound() from exc
        raise NotAllowedForRole(f"{p.role} cannot do this to this case") from exc


def acts_for_applicant(case: Case, p: Principal) -> bool:
    """The caller is the applicant, or acts for her under a delegation covering the case's item."""
    try:
        p.acting_for(case.applicant_id, item=case.basic_code, action="read")
    except (NotOwner, OutsideDelegation, RealNameRequired):
        return False
    return True


def may(permission: str, case: Case, p: Principal) -> bool:
    try:
        admit(POLICY, permission, p).check(target(case))
    except AppError:
        return False
    return True


is_owner = acts_for_applicant


async def get_visible(session: AsyncSession, case_id: uuid.UUID, p: Principal, for_update: bool = False) -> Case:
    """The case if the caller may see it: 404 for someone else's (nobody learns that it exists),
    403 naming the question that failed for an agent out of its delegation or staff out of scope."""
    case = await repository.get(session, case_id, for_update)
    if case is None:
        raise CaseNotFound()
    decide("case.read", case, p)
    return case


# --- submission --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Origin:
    """Who the applicant is and where the case came from, when the caller's token does not say
    (a case forwarded by a partner city names its applicant in the body)."""

    applicant_type: str
    applicant_id: str
    applicant_name: str
    channel: str
    partner_region: str | None = None
    partner_case_number: str | None = None
    hall: str | None = None
    delegation_id: str | None = None


def applicant_of(body: CaseCreate, p: Principal) -> Origin:
    """Who applies, for the caller: itself, or its principal under a delegation for this item
    with `apply` (Principal.acting_for raises the refusal naming what failed)."""
    if p.has("cases:apply") and (p.credit_code or p.id_number):
        agent_for = p.agent_for
        own_kind = "company" if p.role == "company" else "person"
        wanted = body.applicant.id.upper() if body.applicant else p.own_id
        if wanted is None:
            raise NotAllowedForRole("this account applies for nobody")
        if wanted != p.own_id and (agent_for is None or agent_for.id != wanted):
            raise OutsideDelegation("you may apply for yourself, or for a principal under a delegation")
        principal = p.acting_for(wanted, item=body.basic_code, action="apply")
        delegation = None
        if principal != p.own_id or (p.role == "company" and p.company_role == "agent"):
            assert agent_for is not None  # acting_for let an agent through only under a delegation
            found = agent_for.covering(body.basic_code, "apply", shared_clock.now())
            delegation = found.id if found else None
            kind, name = agent_for.kind, agent_for.name or (body.applicant.name if body.applicant else wanted)
        else:
            kind = own_kind
            name = (p.claims.get("company_name") or p.name if kind == "company" else p.name) \
                or (body.applicant.name if body.applicant else "") or "-"
        return Origin(kind, principal, name, "online", delegation_id=delegation)
    if p.has("cases:process"):
        if body.applicant is None:
            raise InvalidField("applicant", "required when a clerk submits for a walk-in applicant")
        try:
            ident = (normalize_resident_id(body.applicant.id) if body.applicant.type == "person"
                     else normalize_credit_code(body.applicant.id))
        except InvalidIdentifier as exc:
            raise InvalidField("applicant.id", str(exc)) from exc
        return Origin(body.applicant.type, ident, body.applicant.name, "counter", hall=p.hall)
    raise InsufficientScope("submitting a case needs cases:apply (with an identity) or cases:process")


async def submit(session: AsyncSession, body: CaseCreate, p: Principal, default_city: str,
                 today: dt.date | None = None, bundle_case_id: uuid.UUID | None = None,
                 origin: Origin | None = None, materials: Materials | None = None,
                 listed_materials: list[dict[str, Any]] | None = None) -> CaseRead:
    """Create a case (a draft, or submitted with its clock started), then try instant approval;
    returns it as the submitter sees it. `materials` checks the submission's materials (and the
    licence facts the rules need) before the case takes its number, and attaches them after.
    A submission (not a draft) must bring every required material the implementation (else the
    item) lists, or `listed_materials` for a bundle's child; missing 容缺 ones are kept as
    `missing_materials` (the case is then accepted only with them as gaps, never instantly)."""
    today = today or calendar.today()
    origin = origin or applicant_of(body, p)
    city = body.city_code or default_city
    ctx = await repository.submission_context(session, body.basic_code, body.implementation_code, city, today,
                                              with_rule=not body.draft)
    item = _published_item(ctx.item, body.basic_code)
    department = await _department(session, body, ctx, city)
    if origin.channel == "counter":
        p.ensure_scope(hall=origin.hall, department=department)  # a clerk takes cases for their departments
    # A bundle's one form feeds every child: each item takes the fields its own form knows.
    form = validate_form(ctx.config.form_fields if ctx.config else None, body.form_data,
                         only_known=bundle_case_id is not None)
    case = _new_case(body, p, origin, ctx, item, department, city, form, bundle_case_id)
    if not body.draft and origin.channel != "partner":
        # A partner city's counter took the forwarded case's materials (the contract carries none).
        _hold_to_required_materials(case, listed_materials if listed_materials is not None
                                    else _listed(item, ctx.implementation), materials)
    licence_facts = await materials.prepare(case, ctx.rule) if materials is not None else {}
    await _number(session, case, city, today)
    # Not flushed yet: the submit step below sets the state first, so the row goes in with one
    # INSERT instead of an INSERT and an UPDATE (the 秒批 path counts its round trips).
    repository.add_unflushed(session, case)
    await _record_creation(session, case, p, origin, body.draft, ctx, today, licence_facts)
    if materials is not None:
        await materials.attach(case)
    return to_read(case, p, today, ctx.overrides)


def _published_item(item: CatalogItem | None, basic_code: str) -> CatalogItem:
    if item is None:
        raise ItemNotAvailable(basic_code, "not in the catalogue")
    if item.status != "published":
        raise ItemNotAvailable(basic_code, f"the item is {item.status}")
    return item


async def _department(session: AsyncSession, body: CaseCreate, ctx: repository.SubmissionContext,
                      city: str) -> str:
    """The handling department, from the city's implementation in the catalogue's read copy
    (never from the client): a named implementation must exist and be of this item and city; an
    item some city implements must be implemented in this one. An item no city implements yet
    (older catalogue events) is handled by the item's configured or implementing department."""
    impl = ctx.implementation
    if body.implementation_code:
        if impl is None:
            raise ImplementationNotFound(f"{body.implementation_code} is not in the catalogue")
        if impl.basic_code != body.basic_code or impl.city_code != city:
            raise ImplementationNotFound(f"{body.implementation_code} is not item {body.basic_code} in city {city}")
    elif impl is None and await catalog.offered_anywhere(session, body.basic_code):
        raise ItemNotOfferedInCity(body.basic_code, city)
    department = (impl.department if impl is not None else None) \
        or (ctx.config.department if ctx.config else None) or ctx.item.department  # type: ignore[union-attr]
    if department is None and impl is not None:
        # The implementation code names its implementing body: its first 18 characters.
        try:
            department = normalize_credit_code(impl.code[:18])
        except InvalidIdentifier:
            department = None
    if department is None:
        raise InvalidField("implementation_code", "the catalogue names no handling department for this item")
    return department


def _limit(item: CatalogItem, config: Any) -> tuple[int, str]:
    """The promised limit: the item's configuration, else its kind, else the catalogue, else the law."""
    if config and config.limit_working_days is not None:
        return config.limit_working_days, "working_day"
    if item.case_type == "immediate":
        return 0, "working_day"
    if item.promised_limit is not None:
        return item.promised_limit, item.promised_limit_unit or "working_day"
    return DEFAULT_LIMIT_WORKING_DAYS, "working_day"


def _new_case(body: CaseCreate, p: Principal, origin: Origin, ctx: repository.SubmissionContext,
              item: CatalogItem, department: str, city: str, form: dict[str, Any],
              bundle_case_id: uuid.UUID | None) -> Case:
    config = ctx.config
    limit, unit = _limit(item, config)
    return Case(
        id=uuid.uuid4(), case_number="",
        lookup_code="".join(secrets.choice(LOOKUP_ALPHABET) for _ in range(8)), city_code=city,
        basic_code=body.basic_code, implementation_code=body.implementation_code, item_name=item.name,
        department=department, result_licence_type=(config.result_licence_type if config else None)
        or item.result_licence_type, applicant_type=origin.applicant_type, applicant_id=origin.applicant_id,
        applicant_name=origin.applicant_name, submitted_by=p.sub, submitter_role=p.role, channel=origin.channel,
        hall=origin.hall, delegation_id=origin.delegation_id, form_data=form,
        partner_region=origin.partner_region, partner_case_number=origin.partner_case_number,
        commitment_signed=body.commitment_signed, state="draft", limit_days=limit, limit_unit=unit,
        extension_days=0, paused_days=0, commitment_approval=False, bundle_case_id=bundle_case_id,
    )


def _hold_to_required_materials(case: Case, listed: list[dict[str, Any]] | None, materials: Materials | None) -> None:
    short = required.shortfall(listed, materials.given() if materials is not None else ())
    if short.missing:
        raise MaterialsMissing(short.missing)
    case.missing_materials = short.gaps or None


async def _number(session: AsyncSession, case: Case, city: str, today: dt.date) -> None:
    seq = await repository.next_number(session, city, today)
    if seq > 99_999:
        raise Conflict(f"city {city} has issued 99999 case numbers today")
    case.case_number = f"{city}{today:%Y%m%d}{seq:05d}"


async def _record_creation(session: AsyncSession, case: Case, p: Principal, origin: Origin, draft: bool,
                           ctx: repository.SubmissionContext, today: dt.date, licence_facts: dict[str, Any]) -> None:
    detail: dict[str, Any] = {"channel": origin.channel}
    if origin.partner_region:
        detail |= {"partner_region": origin.partner_region, "partner_case_number": origin.partner_case_number}
    if draft:
        await _record(session, case, p, "create", None, "draft", None, detail)
        return
    # Created and submitted in one step: one timeline entry; a matching rule is applied before
    # anything is written, so the row goes in once, already decided (fewer writes on the 秒批 path).
    submitted = _apply(case, p, "submit", STEPS["submit"], None, today, ctx.overrides, detail)
    approved = _instant_approval(case, ctx.rule, today, ctx.overrides, licence_facts)
    await _emit(session, case, submitted, *([approved] if approved is not None else []))


def _instant_approval(case: Case, rule: ApprovalRule | None, today: dt.date, overrides: Mapping[dt.date, bool],
                      licence_facts: Mapping[str, Any] | None = None) -> Moved | None:
    """Approve a just-submitted case if the item's current rule matches (fields only: the caller records it)."""
    if rule is None or case.missing_materials:
        return None  # materials still missing (容缺) need a clerk's acceptance with gaps
    known = rule_service.facts(case.applicant_type, case.applicant_id, case.form_data, today)
    known.update(licence_facts or {})
    if not rule_service.matches(rule.conditions, known):
        return None
    case.decided_by_rule_version = rule.version
    held = sorted(t for t in rule_service.licence_types(rule.conditions) if known.get(f"licence.{t}"))
    return _apply(case, INSTANT, "approve", STEPS["approve"], f"instant approval rule v{rule.version}", today,
                  overrides, {"rule_version": rule.version} | ({"licences": held} if held else {}))


def _listed(item: CatalogItem, impl: CatalogImplementation | None) -> list[dict[str, Any]] | None:
    """The materials the case's implementation lists (the city's own list), else the item's."""
    return impl.materials if impl is not None and impl.materials else item.materials


async def listed_for(session: AsyncSession, case: Case) -> list[dict[str, Any]] | None:
    """The material list a case is held to: a bundle child's part of the bundle's list, else its own."""
    if case.bundle_case_id is not None:
        from tongban.cases.bundle import repository as bundles  # the bundle aggregate builds on this one
        parent = await bundles.get(session, case.bundle_case_id)
        bundle = await bundles.bundle_by_code(session, parent.bundle_code) if parent is not None else None
        return required.for_item(bundle.materials, case.basic_code) if bundle is not None else None
    item = await catalog.by_basic_code(session, case.basic_code)
    if item is None:
        return None
    return _listed(item, await catalog.implementation(session, case.implementation_code, case.basic_code,
                                                      case.city_code))


async def check_materials(session: AsyncSession, case: Case) -> None:
    """On (re)submission of an existing case: refuse while a required material is missing, and
    keep the missing 容缺 ones on the case."""
    if case.channel == "partner":
        return
    short = required.shortfall(await listed_for(session, case), await materials_repo.given(session, case.id))
    if short.missing:
        raise MaterialsMissing(short.missing)
    case.missing_materials = short.gaps or None


# --- transitions -------------------------------------------------------------------------------

async def transition(session: AsyncSession, case_id: uuid.UUID, action: str, body: CaseAction, p: Principal,
                     today: dt.date | None = None) -> Case:
    """Apply `action` to the case if its state and the caller's role allow it (409 naming the state if not)."""
    today = today or calendar.today()
    step = STEPS[action]
    case = await get_visible(session, case_id, p, for_update=True)
    from_states = step.from_states | (COMMITMENT_FROM if action == "approve" and body.commitment else frozenset())
    if case.state not in from_states:
        raise WrongCaseState(action.replace("_", " "), case.state, from_states)
    decide(f"case.act.{step.who}", case, p)
    if step.needs_reason and not (body.reason and body.reason.strip()):
        raise InvalidField("reason", f"a reason is required to {action.replace('_', ' ')}")
    overrides = await workdays.overrides_from(session, (case.received_on or today) - dt.timedelta(days=1))
    detail: dict[str, Any] = {}
    if action in ("submit", "resubmit"):
        await check_materials(session, case)
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
            await _move(session, case, p, action, Step(frozenset(), "accepted", "applicant"), body.reason, today,
                        overrides, detail)
            return case
    await _move(session, case, p, action, step, body.reason, today, overrides, detail)
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


def _apply(case: Case, actor: Principal | str, action: str, step: Step, reason: str | None, today: dt.date,
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
    return Moved(actor, action, step, from_state, to_state, reason, at, detail)


async def _emit(session: AsyncSession, case: Case, *moves: Moved) -> None:
    """Record applied steps: timeline entries first (they go in with one batched INSERT at the next
    flush), then each step's audit record and event."""
    for m in moves:
        await repository.add_entry(session, _entry(case, m.actor, m.action, m.from_state, m.to_state, m.reason,
                                                   m.detail))
    for m in moves:
        await audit.record(session, m.actor, f"case.{m.action}", "case", str(case.id), m.reason,
                           {"from": m.from_state, "to": m.to_state, "case_number": case.case_number, **m.detail})
        await _publish(session, case, m)


async def _publish(session: AsyncSession, case: Case, m: Moved) -> None:
    if case.bundle_case_id is not None and m.to_state in SETTLED:
        from tongban.cases.bundle import service as bundles  # the bundle aggregate builds on this one
        await bundles.child_settled(session, case, m.actor)
    if m.step.event == contract.CASE_APPROVED:
        await outbox.add(session, make_event("cases", contract.CASE_APPROVED,
                                             approved_payload(case, m.at, m.detail.get("licence_data")),
                                             subject=str(case.id)))
    elif m.step.event is not None:
        # A submission decided at once carries its rule version on the approval, not on the submission.
        rule_version = None if m.action == "submit" else case.decided_by_rule_version
        await outbox.add(session, make_event("cases", m.step.event, contract.CaseTransitionedV1(
            case_id=case.id, case_number=case.case_number, item_basic_code=case.basic_code,
            department=case.department, from_state=m.from_state, state=m.to_state, actor=_actor(m.actor)[0],
            reason=m.reason, at=m.at, rule_version=rule_version, deadline_on=case.deadline_on,
            **origin_fields(case)), subject=str(case.id)))


async def _move(session: AsyncSession, case: Case, actor: Principal | str, action: str, step: Step,
                reason: str | None, today: dt.date, overrides: Mapping[dt.date, bool],
                detail: dict[str, Any]) -> None:
    await _emit(session, case, _apply(case, actor, action, step, reason, today, overrides, detail))


def origin_fields(case: Case) -> dict[str, str | None]:
    """The additive fields every `cases.case.*` event carries (svc-interop calls partners back)."""
    return {"channel": case.channel, "partner_region": case.partner_region,
            "partner_case_number": case.partner_case_number}


def approved_payload(case: Case, at: dt.datetime,
                     licence_data: dict[str, Any] | None = None) -> contract.CaseApprovedV1:
    """The approval event: `data` is the form, with the department's licence fields over it."""
    return contract.CaseApprovedV1(
        case_id=case.id, case_number=case.case_number, item_basic_code=case.basic_code,
        implementation_code=case.implementation_code, applicant_type=case.applicant_type,  # type: ignore[arg-type]
        applicant_id=case.applicant_id, applicant_name=case.applicant_name,
        result_licence_type_code=case.result_licence_type, department=case.department, approved_at=at,
        data={**(case.form_data or {}), **(licence_data or {})}, state=case.state, **origin_fields(case))


def _actor(actor: Principal | str) -> tuple[str, str]:
    return (actor.sub, actor.role) if isinstance(actor, Principal) else (actor, "system")


def _entry(case: Case, actor: Principal | str, action: str, from_state: str | None, to_state: str,
           reason: str | None, detail: dict[str, Any]) -> CaseTimelineEntry:
    sub, role = _actor(actor)
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


async def _record(session: AsyncSession, case: Case, actor: Principal | str, action: str, from_state: str | None,
                  to_state: str, reason: str | None, detail: dict[str, Any]) -> None:
    await repository.add_entry(session, _entry(case, actor, action, from_state, to_state, reason, detail))
    await audit.record(session, actor, f"case.{action}", "case", str(case.id), reason,
                       {"from": from_state, "to": to_state, "case_number": case.case_number, **detail})


async def record_system_step(session: AsyncSession, case: Case, actor: str, action: str, to_state: str,
                             reason: str, today: dt.date, overrides: Mapping[dt.date, bool],
                             event: str | None = None) -> None:
    """A step taken by the platform itself (the deadline checker suspending a case, say)."""
    await _move(session, case, actor, action, Step(frozenset(), to_state, "system", event=event), reason, today,
                overrides, {})


async def add_materials(session: AsyncSession, case_id: uuid.UUID, materials: Materials, reason: str | None,
                        p: Principal, today: dt.date | None = None) -> Case:
    """Materials added to an open case by its applicant (or a clerk for a counter case)."""
    today = today or calendar.today()
    case = await get_visible(session, case_id, p, for_update=True)
    allowed = OPEN | {"suspended"}
    if case.state not in allowed:
        raise WrongCaseState("add materials to", case.state, allowed)
    decide("case.materials.add", case, p)
    await materials.prepare(case)
    await materials.attach(case)
    if case.missing_materials:  # 容缺 materials arriving: what is still missing now
        short = required.shortfall(await listed_for(session, case), await materials_repo.given(session, case.id))
        case.missing_materials = (short.gaps + short.missing) or None
    await _record(session, case, p, "add_materials", case.state, case.state, reason, {})
    return case


# --- reading -----------------------------------------------------------------------------------

def to_read(case: Case, p: Principal, today: dt.date, overrides: Mapping[dt.date, bool]) -> CaseRead:
    """The case as `p` may see it: personal numbers masked for anyone but the applicant."""
    owner = acts_for_applicant(case, p)
    masked = not owner and case.applicant_type == "person"
    try:
        remaining = clock.remaining(case, today, overrides)
    except calendar.UnknownCalendarDate:
        remaining = None  # a read must not fail because next year's calendar is not in yet
    return CaseRead(
        id=case.id, case_number=case.case_number,
        lookup_code=case.lookup_code if owner or p.has("cases:process") else None, city_code=case.city_code,
        basic_code=case.basic_code, implementation_code=case.implementation_code, item_name=case.item_name,
        department=case.department, applicant_type=case.applicant_type,
        applicant_id=mask_resident_id(case.applicant_id) if masked else case.applicant_id,
        applicant_name=case.applicant_name, channel=case.channel, hall=case.hall,
        submitted_by=case.submitted_by if owner or p.is_staff else None, submitter_role=case.submitter_role,
        delegation_id=case.delegation_id, partner_region=case.partner_region,
        partner_case_number=case.partner_case_number,
        form_data=case.form_data if owner else _mask(case.form_data), state=case.state,  # type: ignore[arg-type]
        state_reason=case.state_reason, limit_days=case.limit_days, limit_unit=case.limit_unit,
        extension_days=case.extension_days, paused_days=case.paused_days, received_on=case.received_on,
        deadline_on=case.deadline_on, paused=case.paused_since is not None, remaining_days=remaining,
        gaps=case.gaps, gaps_due_on=case.gaps_due_on, missing_materials=case.missing_materials,
        decided_by_rule_version=case.decided_by_rule_version,
        commitment_approval=case.commitment_approval, licence_identifier=case.licence_identifier,
        created_at=case.created_at, submitted_at=case.submitted_at, decided_at=case.decided_at,
        completed_at=case.completed_at)


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


async def reader(session: AsyncSession, p: Principal):
    """A converter from rows to CaseRead for `p`, with the calendar loaded once per page."""
    today = calendar.today()
    overrides = await workdays.overrides_from(session, today - dt.timedelta(days=800))
    return lambda case: to_read(case, p, today, overrides)


async def progress(session: AsyncSession, case_number: str, lookup_code: str) -> ProgressRead:
    """Public progress by case number and lookup code (both must match)."""
    case = await repository.by_number(session, case_number)
    if case is None or not hmac.compare_digest(case.lookup_code, lookup_code.upper()):
        raise CaseNotFound("no case with this number and lookup code")
    steps = [ProgressStep(action=e.action, to_state=e.to_state, at=e.at)
             for e in await repository.timeline(session, case.id)]
    return ProgressRead.model_validate({"case_number": case.case_number, "item_name": case.item_name,
                                        "state": case.state, "submitted_at": case.submitted_at,
                                        "deadline_on": case.deadline_on, "steps": steps})


async def record_licence_failure(session: AsyncSession, case_id: uuid.UUID, reason: str) -> bool:
    """证照联办 failed: svc-credentials cannot issue the licence from what the approval carried. The
    case stays approved; its timeline says why, for the department to act on. False when the
    case is unknown here."""
    case = await repository.get(session, case_id, for_update=True)
    if case is None:
        return False
    await _record(session, case, "system:credentials", "licence_issue_failed", case.state, case.state, reason, {})
    return True


class LicenceMismatch(Exception):
    """A licence names a case it cannot be the result of (another type or holder)."""


async def record_licence(session: AsyncSession, case_id: uuid.UUID, identifier: str, type_code: str,
                         holder_id: str) -> bool:
    """证照联办: put the issued licence's identifier on the case; an approved case is thereby
    completed. False when the case is unknown here; LicenceMismatch when the licence is not of the
    case's result type or not the applicant's (a department issuing by hand names the case)."""
    case = await repository.get(session, case_id, for_update=True)
    if case is None:
        return False
    if case.licence_identifier == identifier:
        return True
    if type_code != case.result_licence_type or holder_id != case.applicant_id:
        raise LicenceMismatch(f"licence {identifier} (type {type_code}) is not the result of case {case.case_number}")
    case.licence_identifier = identifier
    if case.state == "approved":
        await _move(session, case, "system:credentials", "complete", STEPS["complete"], "licence issued",
                    calendar.today(), {}, {"licence_identifier": identifier})
    else:
        await audit.record(session, "system:credentials", "case.licence", "case", str(case.id), "licence issued",
                           {"licence_identifier": identifier})
    return True
