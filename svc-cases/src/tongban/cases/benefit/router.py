import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from tongban.cases.benefit import repository, service
from tongban.cases.benefit.errors import (
    AlreadyGranted, BudgetExhausted, GrantNotFound, NotEligible, PolicyNotFound, PolicyNotOpen,
)
from tongban.cases.benefit.rules import RuleInvalid
from tongban.cases.benefit.schemas import (
    ApplicationCreate, BankAccountGive, BenefitPolicyAmend, BenefitPolicyClose, BenefitPolicyCreate, BenefitPolicyRead, FactsDeclare, FactsRead, GrantRead, MatchesRead,
    PublishResult,
)
from tongban.cases.benefit.subjects import resolve
from tongban.cases.case.errors import NotAllowedForRole
from tongban.cases.policy import POLICY
from tongban.shared.auth import AUTH_ERRORS, NotOwner, OutsideDelegation, RealNameRequired
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate
from tongban.shared.policy import Access, Authorize

router = APIRouter(tags=["benefit policies"])
Reader = Annotated[Access, Depends(Authorize(POLICY, "benefit.read"))]
Manager = Annotated[Access, Depends(Authorize(POLICY, "benefit.manage"))]
FactsReader = Annotated[Access, Depends(Authorize(POLICY, "benefit.facts.read"))]
Declarer = Annotated[Access, Depends(Authorize(POLICY, "benefit.facts.declare"))]
Applicant = Annotated[Access, Depends(Authorize(POLICY, "benefit.apply"))]
Grantee = Annotated[Access, Depends(Authorize(POLICY, "benefit.grant.account"))]
GrantReader = Annotated[Access, Depends(Authorize(POLICY, "benefit.grant.read"))]
SubjectQuery = Annotated[str | None, Query(pattern=r"^[0-9A-Za-z]{18}$",
                                           description="whom for (default: yourself, or your principal)")]


async def _cache(request: Request) -> service.PolicyCache:
    return request.app.state.benefit_policies  # type: ignore[no-any-return]


Cache = Annotated[service.PolicyCache, Depends(_cache)]
SUBJECT_ERRORS = (NotOwner, OutsideDelegation, RealNameRequired, NotAllowedForRole)


@router.post("/benefit-policies", status_code=201, response_model=BenefitPolicyRead,
             responses=responses(*AUTH_ERRORS, IdempotencyKeyReused, RuleInvalid, InvalidField))
async def create_policy(body: BenefitPolicyCreate, session: SessionDep, actor: Manager, idem: IdempotencyDep):
    """Configure a benefit policy as a draft (admins): its rules are checked here (422)."""
    if (replay := await idem.claim(session, actor.principal.sub)) is not None:
        return replay
    policy = await service.create(session, body, actor.principal)
    return await idem.remember(session, 201, BenefitPolicyRead.model_validate(policy))


@router.get("/benefit-policies", response_model=Page[BenefitPolicyRead], responses=responses(*AUTH_ERRORS))
async def list_policies(session: SessionDep, page: PageDep, _: Reader) -> Page[BenefitPolicyRead]:
    """Every benefit policy, newest first."""
    return await paginate(session, repository.policies_query(), page, BenefitPolicyRead.model_validate)


@router.get("/benefit-policies/{policy_id}", response_model=BenefitPolicyRead,
            responses=responses(*AUTH_ERRORS, PolicyNotFound))
async def get_policy(policy_id: uuid.UUID, session: SessionDep, _: Reader) -> BenefitPolicyRead:
    return BenefitPolicyRead.model_validate(await service.get(session, policy_id))


@router.post("/benefit-policies/{policy_id}/publish", response_model=PublishResult,
             responses=responses(*AUTH_ERRORS, PolicyNotFound, PolicyNotOpen))
async def publish_policy(policy_id: uuid.UUID, session: SessionDep, actor: Manager) -> PublishResult:
    """Publish a draft (admins). 免申即享: every subject is evaluated once and each eligible one is
    granted the policy without applying, until the budget runs out."""
    out = await service.publish(session, policy_id, actor.principal)
    return PublishResult(policy=BenefitPolicyRead.model_validate(out.policy), evaluated=out.evaluated,
                         eligible=out.eligible, granted=out.granted, budget_exhausted=out.budget_exhausted)


@router.patch("/benefit-policies/{policy_id}", response_model=PublishResult,
              responses=responses(*AUTH_ERRORS, PolicyNotFound, PolicyNotOpen, RuleInvalid, InvalidField))
async def amend_policy(policy_id: uuid.UUID, body: BenefitPolicyAmend, session: SessionDep,
                       actor: Manager) -> PublishResult:
    """Amend a draft or published policy (admins): budget, period, name, rules or amount, with the
    reason. A new version (the one replaced is kept); grants made stay. A published 免申即享 policy
    is evaluated again for everyone not granted yet. 409 once closed; 422 for a bad rule, a budget
    below what is granted, a published period ending before today."""
    out = await service.amend(session, policy_id, body, actor.principal)
    return PublishResult(policy=BenefitPolicyRead.model_validate(out.policy), evaluated=out.evaluated,
                         eligible=out.eligible, granted=out.granted, budget_exhausted=out.budget_exhausted)


@router.post("/benefit-policies/{policy_id}/close", response_model=BenefitPolicyRead,
             responses=responses(*AUTH_ERRORS, PolicyNotFound, PolicyNotOpen))
async def close_policy(policy_id: uuid.UUID, body: BenefitPolicyClose, session: SessionDep,
                       actor: Manager) -> BenefitPolicyRead:
    """Close (withdraw) a policy (admins): no grant or application after this, the grants made
    stay, matches no longer show it. 409 if already closed."""
    return BenefitPolicyRead.model_validate(await service.close(session, policy_id, body.reason, actor.principal))


@router.post("/benefit-policies/{policy_id}/applications", status_code=201, response_model=GrantRead,
             responses=responses(*AUTH_ERRORS, *SUBJECT_ERRORS, IdempotencyKeyReused, PolicyNotFound, PolicyNotOpen,
                                 NotEligible, AlreadyGranted, BudgetExhausted, InvalidField))
async def apply_for_policy(policy_id: uuid.UUID, body: ApplicationCreate, session: SessionDep, access: Applicant,
                           idem: IdempotencyDep):
    """即申即享: apply with one tap; the rules decide at once and the case is approved (422 naming
    what is missing when they do not match, 409 when the budget cannot cover it)."""
    if (replay := await idem.claim(session, access.principal.sub)) is not None:
        return replay
    policy = await service.get(session, policy_id)
    subject = resolve(access, body.subject, item=policy.basic_code)
    granted = await service.apply(session, policy_id, subject.id, subject.type, subject.name, access.principal)
    return await idem.remember(session, 201, GrantRead.model_validate(granted))


@router.get("/benefit-facts", response_model=FactsRead, responses=responses(*AUTH_ERRORS, *SUBJECT_ERRORS))
async def read_facts(session: SessionDep, access: FactsReader, subject: SubjectQuery = None) -> FactsRead:
    """What the platform knows of you for matching, each fact with its source (declared or known)."""
    s = resolve(access, subject)
    return await service.facts(session, s.id, s.type)


@router.put("/benefit-facts", response_model=FactsRead,
            responses=responses(*AUTH_ERRORS, *SUBJECT_ERRORS, InvalidField))
async def declare_facts(body: FactsDeclare, session: SessionDep, access: Declarer) -> FactsRead:
    """Declare facts of yourself (kept as declared, never verified); your 免申即享 policies are
    evaluated again at once, for you alone."""
    s = resolve(access, body.subject)
    return await service.declare(session, s.id, s.type, body.name or s.name, body.facts, access.principal)


@router.get("/benefit-matches", response_model=MatchesRead, responses=responses(*AUTH_ERRORS, *SUBJECT_ERRORS))
async def what_do_i_qualify_for(session: SessionDep, access: FactsReader, cache: Cache,
                                subject: SubjectQuery = None) -> Response:
    """The open policies you qualify for (with the reasons) and those you almost do (with what is missing)."""
    s = resolve(access, subject)
    # MatchesRead, its items written when the policies were compiled: spliced, not serialised again
    return Response(await service.matches(session, cache, s.id, s.type), media_type="application/json")


@router.get("/benefit-grants", response_model=Page[GrantRead], responses=responses(*AUTH_ERRORS))
async def list_grants(session: SessionDep, page: PageDep, access: GrantReader,
                      policy_id: uuid.UUID | None = None) -> Page[GrantRead]:
    """Grants you may see: your own (an agent: its principal's, for the items delegated), your
    departments' (staff), every one (admins, auditors)."""
    return await paginate(session, repository.grants_query(access.reach(), policy_id), page, GrantRead.model_validate)


@router.put("/benefit-grants/{grant_id}/bank-account", response_model=GrantRead,
            responses=responses(*AUTH_ERRORS, OutsideDelegation, RealNameRequired, GrantNotFound))
async def give_bank_account(grant_id: uuid.UUID, body: BankAccountGive, session: SessionDep,
                            access: Grantee) -> GrantRead:
    """Say where your grant is paid: the one thing a grant without application asks of you."""
    found = await service.give_account(session, grant_id, body.bank_name, body.bank_account, access)
    return GrantRead.model_validate(found)
