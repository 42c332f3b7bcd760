"""Submitting a case, as named steps: who applies (`applicant_of`), what the catalogue says of the
item and its department, the materials required, the case's number, then its creation recorded
(and instant approval, 秒批, applied before the row is written).

`open` checks everything this service knows (no remote call); then either `complete` writes the
case in the same transaction (no licence-backed material: the 秒批 path), or `hold` commits it as
a draft, svc-credentials records the consents and uses for that real case with no cases
transaction open, and `finish` submits it in a second transaction (tongban.cases.submission_flow
runs the three; `fail` records on the draft why it was not submitted)."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession
from tongban.cases.case import repository
from tongban.cases.case.errors import (
    ImplementationNotFound,
    ItemNotAvailable,
    ItemNotOfferedInCity,
    NotAllowedForRole,
    WrongCaseState,
)
from tongban.cases.case.models import Case
from tongban.cases.case.schemas import CaseCreate, CaseRead
from tongban.cases.case.service import to_read
from tongban.cases.case.steps import STEPS, Moved, apply, emit, listed_of, record
from tongban.cases.catalog_copy.models import CatalogItem
from tongban.cases.item_config.service import validate_form
from tongban.cases.material import required
from tongban.cases.material.errors import MaterialsMissing
from tongban.cases.rule import service as rule_service
from tongban.cases.rule.models import ApprovalRule
from tongban.cases.workday import calendar
from tongban.shared import clock as shared_clock
from tongban.shared.auth import InsufficientScope, OutsideDelegation, Principal
from tongban.shared.errors import Conflict, InvalidField
from tongban.shared.ids import InvalidIdentifier, normalize_credit_code, normalize_resident_id

DEFAULT_LIMIT_WORKING_DAYS = 20          # 行政许可法 第四十二条: twenty days unless the law says otherwise
LOOKUP_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
INSTANT = "system:instant-approval"


class Materials(Protocol):
    """What a submission's materials do around the creation of the case (material/service.py)."""

    session: AsyncSession

    @property
    def licence_backed(self) -> bool: ...
    def given(self) -> list[required.Given]: ...
    async def check(self, case: Case) -> None: ...
    async def confirm(self, case: Case, rule: ApprovalRule | None = None) -> dict[str, Any]: ...
    async def wallet_facts(self, rule: ApprovalRule | None, known: dict[str, Any]) -> dict[str, Any]: ...
    async def attach(self, case: Case) -> None: ...


@dataclass
class Opened:
    """A submission checked by `open` and not yet written: the case as it will be and what it needs."""

    case: Case
    ctx: repository.SubmissionContext
    origin: Origin
    draft: bool
    today: dt.date
    city: str



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
    """Create a case in one transaction (a draft, or submitted with its clock started, then
    instant approval tried); returns it as the submitter sees it. Used for forwarded cases and
    a bundle's children without licence-backed materials; `POST /cases` and the other bundles go
    through tongban.cases.submission_flow, which keeps svc-credentials' writes out of the transaction. A submission (not a draft) must bring every
    required material the implementation (else the item) lists, or `listed_materials` for a
    bundle's child; missing 容缺 ones are kept as `missing_materials` (the case is then accepted
    only with them as gaps, never instantly)."""
    opened = await open_submission(session, body, p, default_city, today, bundle_case_id, origin, materials,
                                   listed_materials)
    facts = await materials.confirm(opened.case, opened.ctx.rule) if materials is not None else {}
    return await complete(session, opened, p, materials, facts)


async def open_submission(session: AsyncSession, body: CaseCreate, p: Principal, default_city: str,
                          today: dt.date | None = None, bundle_case_id: uuid.UUID | None = None,
                          origin: Origin | None = None, materials: Materials | None = None,
                          listed_materials: list[dict[str, Any]] | None = None) -> Opened:
    """Every check this service can make of a submission (who applies, the item and its
    department, the form, the required materials, the uploads), with no remote call and nothing
    written yet."""
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
                                    else listed_of(item, ctx.implementation), materials)
    if materials is not None:
        await materials.check(case)
    return Opened(case, ctx, origin, body.draft, today, city)


async def complete(session: AsyncSession, opened: Opened, p: Principal, materials: Materials | None,
                   licence_facts: dict[str, Any], batched: bool = False) -> CaseRead:
    """Write the opened case at once: numbered, created (and submitted, perhaps approved), materials
    attached. `batched`: the case is not touched through the ORM after this (`POST /cases`), so its
    row goes in with the timeline, audit and outbox rows in one statement (repository.add_new): the
    number's row lock is then held for that statement, the key's answer and the COMMIT only."""
    case, ctx, today = opened.case, opened.ctx, opened.today
    await _number(session, case, opened.city, today)
    if batched and ctx.now is not None:
        await _record_creation(session, case, p, opened.origin, opened.draft, ctx, today, licence_facts)
        await repository.add_new(session, case, ctx.now)
        if materials is not None:
            await materials.attach(case)
        return to_read(case, p, today, ctx.overrides)
    # Not flushed yet: the submit step below sets the state first, so the row goes in with one
    # INSERT instead of an INSERT and an UPDATE.
    repository.add_unflushed(session, case)
    await _record_creation(session, case, p, opened.origin, opened.draft, ctx, today, licence_facts)
    if materials is not None:
        await materials.attach(case)
    return to_read(case, p, today, ctx.overrides)


AWAITING = "licence-backed materials at svc-credentials"


async def hold(session: AsyncSession, opened: Opened, p: Principal, materials: Materials | None) -> None:
    """Write the opened case as a draft (numbered, its uploads attached), already the real record
    svc-credentials can be asked to bind consents to; `finish` submits it."""
    case = opened.case
    await _number(session, case, opened.city, opened.today)
    repository.add_unflushed(session, case)
    await record(session, case, p, "create", None, "draft", None,
                 _origin_detail(opened.origin) | ({} if opened.draft else {"awaiting": AWAITING}))
    if materials is not None:
        await materials.attach(case)


async def finish(session: AsyncSession, opened: Opened, p: Principal, materials: Materials | None,
                 licence_facts: dict[str, Any]) -> CaseRead:
    """The held draft, its licence-backed materials confirmed: attach them and submit it (instant
    approval tried), unless a draft was asked for. 409 if the draft moved meanwhile (its applicant
    submitted or withdrew it)."""
    case = await repository.get(session, opened.case.id, for_update=True)
    if case is None or case.state != "draft":
        raise WrongCaseState("submit", case.state if case is not None else "gone", frozenset({"draft"}))
    if materials is not None:
        materials.session = session
        await materials.attach(case)
    if not opened.draft:
        await _submit_now(session, case, p, _origin_detail(opened.origin), opened.ctx, opened.today, licence_facts)
    return to_read(case, p, opened.today, opened.ctx.overrides)


async def fail(session: AsyncSession, case_id: uuid.UUID, p: Principal, reason: str,
               detail: dict[str, Any]) -> None:
    """The held draft was not submitted: its timeline says why (and what was undone at
    svc-credentials), so the applicant or the clerk can fix it and submit the draft again."""
    case = await repository.get(session, case_id, for_update=True)
    if case is not None:
        await record(session, case, p, "submission_failed", case.state, case.state, reason[:500], detail)


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
    elif impl is None and ctx.offered_anywhere:
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


def _origin_detail(origin: Origin) -> dict[str, Any]:
    detail: dict[str, Any] = {"channel": origin.channel}
    if origin.partner_region:
        detail |= {"partner_region": origin.partner_region, "partner_case_number": origin.partner_case_number}
    return detail


async def _record_creation(session: AsyncSession, case: Case, p: Principal, origin: Origin, draft: bool,
                           ctx: repository.SubmissionContext, today: dt.date, licence_facts: dict[str, Any]) -> None:
    detail = _origin_detail(origin)
    if draft:
        await record(session, case, p, "create", None, "draft", None, detail)
        return
    await _submit_now(session, case, p, detail, ctx, today, licence_facts)


async def _submit_now(session: AsyncSession, case: Case, p: Principal, detail: dict[str, Any],
                      ctx: repository.SubmissionContext, today: dt.date, licence_facts: dict[str, Any]) -> None:
    # Submitted in one step: one timeline entry; a matching rule is applied before anything is
    # written, so a new row goes in once, already decided (fewer writes on the 秒批 path).
    submitted = apply(case, p, "submit", STEPS["submit"], None, today, ctx.overrides, detail)
    approved = _instant_approval(case, ctx.rule, today, ctx.overrides, licence_facts)
    await emit(session, case, submitted, *([approved] if approved is not None else []))


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
    return apply(case, INSTANT, "approve", STEPS["approve"], f"instant approval rule v{rule.version}", today,
                  overrides, {"rule_version": rule.version} | ({"licences": held} if held else {}))

