from typing import Annotated

from fastapi import APIRouter, Depends, Path

from tongban.cases.rule import repository, service
from tongban.cases.rule.schemas import ApprovalRuleCreate, ApprovalRuleRead
from tongban.cases.policy import POLICY
from tongban.shared.auth import AUTH_ERRORS
from tongban.shared.policy import Access, Authorize
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/item-configs/{basic_code}/approval-rules", tags=["instant approval"])
CasesAdmin = Annotated[Access, Depends(Authorize(POLICY, "rule.manage"))]
CaseReader = Annotated[Access, Depends(Authorize(POLICY, "rule.read"))]
BasicCode = Annotated[str, Path(pattern=r"^\d{12}$")]


@router.post("", status_code=201, response_model=ApprovalRuleRead,
             responses=responses(*AUTH_ERRORS, IdempotencyKeyReused))
async def add_rule_version(basic_code: BasicCode, body: ApprovalRuleCreate, session: SessionDep,
                           actor: CasesAdmin, idem: IdempotencyDep):
    """Add a new version of the item's instant-approval rule (admins)."""
    if (replay := await idem.claim(session, actor.principal.sub)) is not None:
        return replay
    rule = await service.add_version(session, basic_code, body, actor.principal)
    return await idem.remember(session, 201, ApprovalRuleRead.model_validate(rule))


@router.get("", response_model=Page[ApprovalRuleRead], responses=responses(*AUTH_ERRORS))
async def list_rule_versions(basic_code: BasicCode, session: SessionDep, page: PageDep,
                             _: CaseReader) -> Page[ApprovalRuleRead]:
    """Every version of the item's rule, newest first."""
    return await paginate(session, repository.list_query(basic_code), page, ApprovalRuleRead.model_validate)
