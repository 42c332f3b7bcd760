"""Benefit policies: configured (rules checked), published (免申即享: every subject evaluated
once), amended in versions (evaluated again) and closed, matched ("what do I qualify for"),
applied for with one tap (即申即享), and granted — each grant takes its amount from the budget
with one conditional update, opens a case whose timeline carries the rules' verdict and tells the
grantee (an event for the gateway's notifications). A change of one subject's facts re-evaluates
that subject only."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.benefit import matching, repository, rules
from tongban.cases.benefit.errors import (
    AlreadyGranted, BudgetExhausted, GrantNotFound, NotEligible, PolicyNotFound, PolicyNotOpen,
)
from tongban.cases.benefit.models import BenefitGrant, BenefitPolicy, BenefitPolicyVersion, BenefitSubject
from tongban.cases.benefit.schemas import (
    BenefitPolicyAmend, BenefitPolicyCreate, FactRead, FactsRead,
)
from tongban.cases.case import repository as cases_repo
from tongban.cases.case import steps
from tongban.cases.case.models import Case
from tongban.cases.case.submission import LOOKUP_ALPHABET
from tongban.cases.db import audit, outbox
from tongban.cases.workday import calendar
from tongban.cases.workday import repository as workdays
from tongban.shared.auth import NotOwner, Principal
from tongban.shared.contracts import cases as contract
from tongban.shared.events.envelope import make_event
from tongban.shared.errors import Conflict, InvalidField
from tongban.shared.policy import Access, Target

RULES = "system:benefit-rules"
ACCOUNT_REMINDER_DAYS = 3   # a grantee who has not said where to pay is reminded once, this long after
NEAR = 1        # a policy missing this many conditions is shown as a near match ...
NEAR_SHOWN = 20  # ... the 20 of the highest amounts


@dataclass
class Parsed:
    """A policy's rules parsed once (a publish evaluates them for every subject)."""

    policy: BenefitPolicy
    eligibility: list[rules.Condition]
    definitions: dict[str, rules.Definition]
    amount: rules.AmountRule
    test: rules.Test
    checks: list[rules.Check]


def parse(policy: BenefitPolicy) -> Parsed:
    eligibility = [rules.Condition.model_validate(c) for c in policy.eligibility]
    definitions = {k: rules.Definition.model_validate(v) for k, v in policy.definitions.items()}
    return Parsed(policy, eligibility, definitions, rules.AmountRule.model_validate(policy.amount_rule),
                  rules.compile_rule(eligibility, definitions), rules.compile_checks(eligibility, definitions))


# --- configuration ---------------------------------------------------------------------------

async def create(session: AsyncSession, body: BenefitPolicyCreate, actor: Principal) -> BenefitPolicy:
    """A draft policy, its rules checked: 422 for an unknown fact, a circular rule, a period
    ending before it starts (a negative budget never passes the schema)."""
    _check_config(body.eligibility, body.definitions, body.amount, body.starts_on, body.ends_on, body.subject_type)
    policy = BenefitPolicy(
        id=uuid.uuid4(), name=body.name, kind=body.kind, subject_type=body.subject_type, mode=body.mode,
        basic_code=body.basic_code, city_code=body.city_code, department=body.department,
        eligibility=[c.model_dump(mode="json", exclude_none=True) for c in body.eligibility],
        definitions={k: v.model_dump(mode="json", exclude_none=True) for k, v in body.definitions.items()},
        amount_rule=body.amount.model_dump(mode="json", exclude_none=True), starts_on=body.starts_on,
        ends_on=body.ends_on, budget_total=body.budget, budget_used=0, state="draft", created_by=actor.sub)
    await repository.add(session, policy)
    await audit.record(session, actor, "benefit_policy.create", "benefit_policy", str(policy.id), body.name,
                       {"mode": body.mode, "budget": body.budget})
    return policy


def _check_config(eligibility: list[rules.Condition], definitions: dict[str, rules.Definition],
                  amount: rules.AmountRule, starts_on: dt.date, ends_on: dt.date, subject_type: str) -> None:
    if ends_on < starts_on:
        raise InvalidField("ends_on", "the period ends before it starts")
    rules.validate(eligibility, definitions, subject_type)
    if amount.per is not None and not amount.per.startswith(subject_type + "."):
        raise InvalidField("amount.per", f"{amount.per} is not a fact about a {subject_type}")


async def get(session: AsyncSession, policy_id: uuid.UUID, for_update: bool = False) -> BenefitPolicy:
    policy = await repository.get_policy(session, policy_id, for_update)
    if policy is None:
        raise PolicyNotFound()
    return policy


@dataclass
class Published:
    policy: BenefitPolicy
    evaluated: int = 0
    eligible: int = 0
    granted: int = 0
    budget_exhausted: bool = False


async def publish(session: AsyncSession, policy_id: uuid.UUID, actor: Principal) -> Published:
    """Publish a draft. A 免申即享 policy then evaluates every subject of its kind once and grants
    it to each eligible one (a case opened for it, no application) until the budget runs out."""
    policy = await get(session, policy_id, for_update=True)
    if policy.state != "draft":
        raise PolicyNotOpen(f"the policy is {policy.state}")
    policy.state, policy.published_at = "published", steps.now()
    await audit.record(session, actor, "benefit_policy.publish", "benefit_policy", str(policy.id), None, {})
    out = Published(policy)
    await _evaluate_all(session, policy, actor, out)
    return out


async def _evaluate_all(session: AsyncSession, policy: BenefitPolicy, actor: Principal, out: Published) -> None:
    """A published 免申即享 policy (its row locked) against every subject of its kind it has not
    been granted to, granting each eligible one until the budget runs out."""
    today = calendar.today()
    if policy.state != "published" or policy.mode != "auto" or not policy.starts_on <= today <= policy.ends_on:
        return
    await session.flush()
    parsed = parse(policy)
    already = await repository.granted_subjects(session, policy.id)
    chosen: list[tuple[str, str | None, dict[str, Any], int]] = []
    room = policy.budget_total - policy.budget_used
    async for batch in repository.stream_subjects(session, policy.subject_type):
        for subject_id, name, facts in batch:
            out.evaluated += 1
            if subject_id in already:
                continue
            known = rules.known_facts(facts, today)
            if not parsed.test(known):
                continue
            out.eligible += 1
            amount = parsed.amount.amount(known)
            if out.budget_exhausted or amount > room:
                out.budget_exhausted = True   # first come (by subject id), first served; then it stops
                continue
            room -= amount
            chosen.append((subject_id, name, known, amount))
    await _grant_many(session, parsed, chosen, today)
    out.granted = len(chosen)
    await audit.record(session, actor, "benefit_policy.evaluate", "benefit_policy", str(policy.id), None,
                       {"evaluated": out.evaluated, "eligible": out.eligible, "granted": out.granted,
                        "budget_exhausted": out.budget_exhausted, "version": policy.version})


# --- amending and closing ------------------------------------------------------------------------

def _config(policy: BenefitPolicy) -> dict[str, Any]:
    """What an amendment may change, as stored (kept with the version it replaces)."""
    return {"name": policy.name, "eligibility": policy.eligibility, "definitions": policy.definitions,
            "amount_rule": policy.amount_rule, "starts_on": policy.starts_on.isoformat(),
            "ends_on": policy.ends_on.isoformat(), "budget_total": policy.budget_total}


async def amend(session: AsyncSession, policy_id: uuid.UUID, body: BenefitPolicyAmend, actor: Principal) -> Published:
    """Change a draft or published policy (its row locked, so no grant runs meanwhile): a new
    version, the replaced configuration kept with the reason. The rules are checked as at
    creation (422); the budget cannot go below what is granted, nor a published period end
    before today (close it instead). Grants made stay as granted, under their version; a
    published 免申即享 policy whose rules, amount, period or budget changed is evaluated again
    for every subject it has not been granted to."""
    policy = await get(session, policy_id, for_update=True)
    if policy.state == "closed":
        raise PolicyNotOpen("the policy is closed: it cannot be amended")
    eligibility = body.eligibility if body.eligibility is not None else [
        rules.Condition.model_validate(c) for c in policy.eligibility]
    definitions = body.definitions if body.definitions is not None else {
        k: rules.Definition.model_validate(v) for k, v in policy.definitions.items()}
    amount = body.amount or rules.AmountRule.model_validate(policy.amount_rule)
    starts_on, ends_on = body.starts_on or policy.starts_on, body.ends_on or policy.ends_on
    budget = policy.budget_total if body.budget is None else body.budget
    _check_config(eligibility, definitions, amount, starts_on, ends_on, policy.subject_type)
    if budget < policy.budget_used:
        raise InvalidField("budget", f"{policy.budget_used} yuan is already granted")
    if policy.state == "published" and ends_on < calendar.today():
        raise InvalidField("ends_on", "a published policy's period cannot end before today: close it instead")
    before = _config(policy)
    after = {"name": body.name or policy.name,
             "eligibility": [c.model_dump(mode="json", exclude_none=True) for c in eligibility],
             "definitions": {k: v.model_dump(mode="json", exclude_none=True) for k, v in definitions.items()},
             "amount_rule": amount.model_dump(mode="json", exclude_none=True), "starts_on": starts_on.isoformat(),
             "ends_on": ends_on.isoformat(), "budget_total": budget}
    changed = sorted(k for k in after if after[k] != before[k])
    out = Published(policy)
    if not changed:
        return out
    session.add(BenefitPolicyVersion(policy_id=policy.id, version=policy.version, config=before,
                                     replaced_by=actor.sub, reason=body.reason))
    policy.name, policy.eligibility, policy.definitions = after["name"], after["eligibility"], after["definitions"]
    policy.amount_rule, policy.starts_on, policy.ends_on = after["amount_rule"], starts_on, ends_on
    policy.budget_total, policy.version, policy.amended_at = budget, policy.version + 1, steps.now()
    await audit.record(session, actor, "benefit_policy.amend", "benefit_policy", str(policy.id), body.reason,
                       {"version": policy.version, "changed": changed, "before": {k: before[k] for k in changed}})
    if changed != ["name"]:
        await _evaluate_all(session, policy, actor, out)
    return out


async def close(session: AsyncSession, policy_id: uuid.UUID, reason: str, actor: Principal) -> BenefitPolicy:
    """Close (withdraw) a draft or published policy: no grant or application after this (a grant
    racing it queues on the row and then finds it closed); the grants made stay; matching no
    longer shows it. Closing a closed policy is a conflict."""
    policy = await get(session, policy_id, for_update=True)
    if policy.state == "closed":
        raise PolicyNotOpen("the policy is already closed")
    was = policy.state
    policy.state, policy.closed_at, policy.close_reason = "closed", steps.now(), reason
    await audit.record(session, actor, "benefit_policy.close", "benefit_policy", str(policy.id), reason,
                       {"was": was, "version": policy.version, "budget_used": policy.budget_used})
    return policy


async def _grant_many(session: AsyncSession, parsed: Parsed, chosen: list[tuple[str, str | None, dict[str, Any], int]],
                      today: dt.date) -> None:
    """The grants of a publish, written together: the policy's row is locked for the whole
    publish, so the budget is taken once (still conditionally), the case numbers reserved as one
    block, and the cases, timelines, audit records, events and grants go in as multi-row INSERTs."""
    if not chosen:
        return
    policy = parsed.policy
    await _take_budget(session, policy, sum(c[3] for c in chosen))
    first = await cases_repo.reserve_numbers(session, policy.city_code, today, len(chosen))
    if first + len(chosen) - 1 > 99_999:
        raise Conflict(f"city {policy.city_code} would pass 99999 case numbers today")
    ctx = await _CaseContext.load(session, today)
    grants = []
    async with audit.batched(session), outbox.batched(session):
        for n, (subject_id, name, known, amount) in enumerate(chosen):
            verdict = rules.evaluate(parsed.checks, known)
            case = await _open_case(session, policy, subject_id, name, amount, verdict, None, ctx, first + n)
            grants.append(_grant_values(policy, subject_id, amount, case.id, verdict))
            await _announce(session, contract.BENEFIT_GRANTED, policy.name, grants[-1], case.case_number, None)
        await session.flush()
    await repository.insert_grants(session, grants)


async def _take_budget(session: AsyncSession, policy: BenefitPolicy, amount: int) -> None:
    """BudgetExhausted when the budget cannot cover it, PolicyNotOpen when the policy closed meanwhile."""
    if await repository.take_budget(session, policy.id, amount):
        return
    if await repository.state_now(session, policy.id) != "published":
        raise PolicyNotOpen("the policy closed")
    raise BudgetExhausted(f"the budget of {policy.name} cannot cover {amount}")


def _grant_values(policy: BenefitPolicy, subject_id: str, amount: int, case_id: uuid.UUID,
                  verdict: rules.Verdict) -> dict[str, Any]:
    return {"id": uuid.uuid4(), "policy_id": policy.id, "subject_id": subject_id,
            "subject_type": policy.subject_type, "basic_code": policy.basic_code, "department": policy.department,
            "amount": amount, "mode": policy.mode, "case_id": case_id, "matched": verdict.matched,
            "policy_version": policy.version, "created_at": steps.now()}


async def _announce(session: AsyncSession, event_type: str, policy_name: str, grant: dict[str, Any],
                    case_number: str, applicant: Principal | None) -> None:
    """The grantee is told (by the gateway's notifications) of a grant, or that its bank account is still missing."""
    own = applicant is not None and applicant.role in ("citizen", "company")
    await outbox.add(session, make_event("cases", event_type, contract.BenefitGrantV1(
        grant_id=grant["id"], policy_id=grant["policy_id"], policy_name=policy_name,
        policy_version=grant["policy_version"], mode=grant["mode"], subject_type=grant["subject_type"],
        subject_id=grant["subject_id"], amount=grant["amount"], case_id=grant["case_id"], case_number=case_number,
        department=grant["department"], needs=["bank_account"], applicant_sub=applicant.sub if own else None,
        at=steps.now()), subject=str(grant["id"])))


# --- granting ----------------------------------------------------------------------------------

@dataclass
class _CaseContext:
    today: dt.date
    overrides: Any

    @classmethod
    async def load(cls, session: AsyncSession, today: dt.date) -> _CaseContext:
        return cls(today, await workdays.overrides_from(session, today - dt.timedelta(days=1)))


async def grant(session: AsyncSession, parsed: Parsed, subject_id: str, name: str | None, known: dict[str, Any],
                verdict: rules.Verdict, applicant: Principal | None, ctx: _CaseContext) -> BenefitGrant:
    """Take the amount from the budget (BudgetExhausted if it cannot), record the grant once per
    subject (AlreadyGranted if a concurrent one won) and open its case, decided by the rules."""
    policy = parsed.policy
    amount = parsed.amount.amount(known)
    await _take_budget(session, policy, amount)
    seq = await cases_repo.next_number(session, policy.city_code, ctx.today)
    if seq > 99_999:
        raise Conflict(f"city {policy.city_code} has issued 99999 case numbers today")
    case = await _open_case(session, policy, subject_id, name, amount, verdict, applicant, ctx, seq)
    values = _grant_values(policy, subject_id, amount, case.id, verdict)
    if not await repository.insert_grant(session, values):
        raise AlreadyGranted()   # the caller's transaction rolls back: budget, case and event with it
    await _announce(session, contract.BENEFIT_GRANTED, policy.name, values, case.case_number, applicant)
    return BenefitGrant(**values)


async def _open_case(session: AsyncSession, policy: BenefitPolicy, subject_id: str, name: str | None, amount: int,
                     verdict: rules.Verdict, applicant: Principal | None, ctx: _CaseContext, seq: int) -> Case:
    """A case of the policy's item, submitted (by the applicant's one tap, or by the platform for
    免申即享) and approved by the rules in the same step; the timeline carries the verdict."""
    today = ctx.today
    auto = applicant is None
    case = Case(
        id=uuid.uuid4(), case_number=f"{policy.city_code}{today:%Y%m%d}{seq:05d}",
        lookup_code="".join(secrets.choice(LOOKUP_ALPHABET) for _ in range(8)), city_code=policy.city_code,
        basic_code=policy.basic_code, implementation_code=None, item_name=policy.name, department=policy.department,
        result_licence_type=None, applicant_type=policy.subject_type, applicant_id=subject_id,
        applicant_name=name or subject_id, submitted_by=RULES if auto else applicant.sub,
        submitter_role="system" if auto else applicant.role, channel="online", hall=None,
        delegation_id=None, form_data={"benefit_policy_id": str(policy.id), "amount": amount},
        commitment_signed=False, state="draft", limit_days=0, limit_unit="working_day", extension_days=0,
        paused_days=0, commitment_approval=False)
    cases_repo.add_unflushed(session, case)
    how = "granted without application (免申即享)" if auto else "one-tap application (即申即享)"
    submitted = steps.apply(case, RULES if auto else applicant, "submit", steps.STEPS["submit"], how, today,
                            ctx.overrides, {"channel": "online", "benefit_policy_id": str(policy.id)})
    approved = steps.apply(case, RULES, "approve", steps.STEPS["approve"], "the policy's rules matched", today,
                           ctx.overrides, {"benefit_policy_id": str(policy.id), "matched": verdict.matched,
                                           "amount": amount, "needs": ["bank_account"]})
    await steps.emit(session, case, submitted, approved)
    return case


async def apply(session: AsyncSession, policy_id: uuid.UUID, subject_id: str, subject_type: str,
                name: str | None, p: Principal) -> BenefitGrant:
    """即申即享: one tap; the rules decide at once (422 naming what is missing when they do not match)."""
    policy = await get(session, policy_id)
    today = calendar.today()
    if policy.state != "published" or policy.mode != "apply" or not policy.starts_on <= today <= policy.ends_on:
        raise PolicyNotOpen("the policy takes no applications now (unpublished, 免申即享, or out of its period)")
    if policy.subject_type != subject_type:
        raise InvalidField("subject", f"this policy is for a {policy.subject_type}")
    if await repository.get_grant(session, policy.id, subject_id) is not None:
        raise AlreadyGranted()
    row = await repository.subject(session, subject_id)
    known = rules.known_facts(_facts_of(row, subject_id, subject_type), today)
    parsed = parse(policy)
    verdict = rules.evaluate(parsed.checks, known)
    if not verdict.eligible:
        raise NotEligible(verdict.missing, matched=verdict.matched)
    return await grant(session, parsed, subject_id, name or (row.name if row else None), known, verdict, p,
                       await _CaseContext.load(session, today))


async def give_account(session: AsyncSession, grant_id: uuid.UUID, bank_name: str, bank_account: str,
                       access: Access) -> BenefitGrant:
    """The grantee (or its agent for the policy's item) says where to pay: 404 for anyone else."""
    found = await repository.grant_by_id(session, grant_id)
    if found is None:
        raise GrantNotFound()
    try:
        access.check(Target(owner=found.subject_id, item=found.basic_code))
    except NotOwner as exc:
        raise GrantNotFound() from exc
    found.bank_name, found.bank_account, found.account_given_at = bank_name, bank_account, steps.now()
    await audit.record(session, access.principal or "anonymous", "benefit_grant.account", "benefit_grant",
                       str(found.id), None, {"bank_name": bank_name, "bank_account_last4": bank_account[-4:]})
    return found


async def remind_missing_accounts(session: AsyncSession, at: dt.datetime) -> int:
    """Once per grant: a grantee that has not said where to pay, ACCOUNT_REMINDER_DAYS after the
    grant, is told again (run by the periodic checker)."""
    due = await repository.grants_without_account(session, at - dt.timedelta(days=ACCOUNT_REMINDER_DAYS))
    for found, policy_name, case_number in due:
        found.account_reminded_at = at
        values = {"id": found.id, "policy_id": found.policy_id, "policy_version": found.policy_version,
                  "mode": found.mode, "subject_type": found.subject_type, "subject_id": found.subject_id,
                  "amount": found.amount, "case_id": found.case_id, "department": found.department}
        await _announce(session, contract.BENEFIT_ACCOUNT_MISSING, policy_name, values, case_number, None)
    return len(due)


# --- facts ---------------------------------------------------------------------------------------

def _facts_of(row: BenefitSubject | None, subject_id: str, subject_type: str) -> dict[str, Any]:
    return _facts_from(row.facts if row is not None else None, subject_id, subject_type)


def _facts_from(stored: dict[str, Any] | None, subject_id: str, subject_type: str) -> dict[str, Any]:
    facts = dict(stored) if stored is not None else {}
    if subject_type == "person" and len(subject_id) == 18 and subject_id[:17].isdigit():
        facts.setdefault("person.birth_date", f"{subject_id[6:10]}-{subject_id[10:12]}-{subject_id[12:14]}")
    return facts


def facts_read(row: BenefitSubject | None, subject_id: str, subject_type: str, regranted: int = 0) -> FactsRead:
    facts = _facts_of(row, subject_id, subject_type)
    sources = row.sources if row is not None else {}
    return FactsRead(subject_id=subject_id, subject_type=subject_type, regranted=regranted,
                     facts=[FactRead(name=k, value=v, source=sources.get(k, "registry"),
                                     verified=sources.get(k, "registry") != "declared")
                            for k, v in sorted(facts.items())])


def _check_declared(subject_type: str, facts: dict[str, Any]) -> dict[str, Any]:
    allowed = rules.DECLARABLE[subject_type]
    out: dict[str, Any] = {}
    for name, value in facts.items():
        if name not in allowed:
            raise InvalidField(f"facts.{name}", f"not a fact a {subject_type} declares "
                                                f"(declarable: {', '.join(sorted(allowed))})")
        if name.endswith("established_on"):
            try:
                if not isinstance(value, str) or dt.date.fromisoformat(value) > calendar.today():
                    raise ValueError
            except ValueError:
                raise InvalidField(f"facts.{name}", "a date (YYYY-MM-DD) not in the future") from None
        elif rules.FACTS[name] == "int" and (not isinstance(value, int) or not 0 <= value <= 10**7):
            raise InvalidField(f"facts.{name}", "a whole number from 0")
        elif rules.FACTS.get(name) == "str" and (not isinstance(value, str) or not 0 < len(value) <= 40):
            raise InvalidField(f"facts.{name}", "text of 1 to 40 characters")
        out[name] = value
    return out


async def declare(session: AsyncSession, subject_id: str, subject_type: str, name: str | None,
                  facts: dict[str, Any], actor: Principal) -> FactsRead:
    """Facts the subject declares (recorded as declared, never verified); a licence or credit
    fact cannot be declared. Then its 免申即享 policies are evaluated again, for it alone."""
    checked = _check_declared(subject_type, facts)
    known = await repository.subject(session, subject_id)
    for name in checked:
        if known is not None and known.sources.get(name) == "registry":
            raise InvalidField(f"facts.{name}", "known from the company register: it is not declared")
    regranted = await set_facts(session, subject_id, subject_type, checked, "declared", actor, name=name)
    return facts_read(await repository.subject(session, subject_id), subject_id, subject_type, regranted)


async def set_facts(session: AsyncSession, subject_id: str, subject_type: str, facts: dict[str, Any], source: str,
                    actor: Principal | str, name: str | None = None) -> int:
    """Change some facts of one subject (None removes one), recording each one's source; returns
    how many 免申即享 policies this change granted it."""
    row = await repository.subject_for_update(session, subject_id, subject_type)
    new, sources = dict(row.facts), dict(row.sources)
    for k, v in facts.items():
        if v is None:
            new.pop(k, None)
            sources.pop(k, None)
        else:
            new[k], sources[k] = v, source
    changed = new != row.facts
    row.facts, row.sources = new, sources
    if name:
        row.name = name
    if not changed:
        return 0
    await audit.record(session, actor, "benefit_subject.facts", "benefit_subject", subject_id, source,
                       {"facts": sorted(facts)})
    return await reevaluate(session, row)


async def reevaluate(session: AsyncSession, row: BenefitSubject) -> int:
    """One subject against the open 免申即享 policies it does not have yet (incremental matching)."""
    today = calendar.today()
    granted = await repository.granted_policies(session, row.subject_id)
    known = rules.known_facts(_facts_of(row, row.subject_id, row.subject_type), today)
    count, ctx = 0, None
    for policy in await repository.open_policies(session, row.subject_type, today, mode="auto"):
        if policy.id in granted:
            continue
        parsed = parse(policy)
        verdict = rules.evaluate(parsed.checks, known)
        if not verdict.eligible:
            continue
        ctx = ctx or await _CaseContext.load(session, today)
        try:
            async with session.begin_nested():
                await grant(session, parsed, row.subject_id, row.name, known, verdict, None, ctx)
            count += 1
        except (BudgetExhausted, AlreadyGranted, PolicyNotOpen):
            continue
    return count


async def known_subject(session: AsyncSession, subject_id: str) -> bool:
    return await repository.subject(session, subject_id) is not None


async def facts(session: AsyncSession, subject_id: str, subject_type: str) -> FactsRead:
    return facts_read(await repository.subject(session, subject_id), subject_id, subject_type)


# --- what do I qualify for -------------------------------------------------------------------------

class PolicyCache:
    """The published policies compiled together (matching.Matcher), per process, kept while the
    policies' generation (bumped by the database on any change to a published policy) is the
    one they were read at. The generation is read with the subject's facts, in the same statement."""

    def __init__(self) -> None:
        self._generation: int | None = None
        self._matcher = matching.Matcher([], NEAR, NEAR_SHOWN)
        self._lock = asyncio.Lock()   # one request compiles; the others wait for it
        self.compiled = 0             # how many times (what the invalidation test reads)

    async def matcher(self, session: AsyncSession, generation: int | None) -> matching.Matcher:
        """The policies compiled at `generation` or later: read again when it moved (read after
        the generation, so they are never older than it; a missing generation is never trusted)."""
        if generation is not None and generation == self._generation:
            return self._matcher
        async with self._lock:
            if generation is None or generation != self._generation:
                parsed = [parse(p) for p in await repository.published(session)]
                self._matcher = matching.Matcher([_source(p) for p in parsed], NEAR, NEAR_SHOWN)
                self._generation = generation
                self.compiled += 1
            return self._matcher


def _source(p: Parsed) -> matching.Source:
    """What the compiled matcher keeps of a policy (read once per compilation, not per request)."""
    policy = p.policy
    return matching.Source(policy.id, policy.name, policy.mode, policy.subject_type, policy.starts_on,
                           policy.ends_on, p.eligibility, p.definitions, p.amount)


async def matches(session: AsyncSession, cache: PolicyCache, subject_id: str, subject_type: str) -> bytes:
    """Every open policy of this kind of subject: those it qualifies for, with why, and those it
    almost does, with what is missing (MatchesRead, as JSON)."""
    today = calendar.today()
    generation, facts, granted = await repository.match_inputs(session, subject_id)
    known = rules.known_facts(_facts_from(facts, subject_id, subject_type), today)
    matcher = await cache.matcher(session, generation)
    return matcher.answer(subject_id, subject_type, known, granted, today)
