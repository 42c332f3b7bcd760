"""Who may see and do what to a case: the case's questions to the one policy (tongban.cases.policy).

`target` says what the policy asks of a case; `decide` is the policy's answer for one record, with
`not_owner` turned into 404 where existence must not leak."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from tongban.cases.case import repository
from tongban.cases.case.errors import CaseNotFound, NotAllowedForRole
from tongban.cases.case.models import Case
from tongban.cases.policy import POLICY
from tongban.shared.auth import InsufficientScope, NotOwner, OutsideDelegation, Principal, RealNameRequired
from tongban.shared.errors import AppError
from tongban.shared.policy import Decision, NotPermitted, Target, admit


def target(case: Case) -> Target:
    """What the policy asks of a case: whose it is, which item, where it is handled."""
    return Target(owner=case.applicant_id, item=case.basic_code, hall=case.hall, department=case.department,
                  channel=case.channel)


def decide(permission: str, case: Case, p: Principal, *, hidden: bool = False) -> Decision:
    """The policy's decision for this case. With `hidden` (the gate of a route on one case), a
    caller who may not reach the case at all gets 404 (nobody learns that it exists); a step's own
    side refused is 403 `not_allowed_for_role`; a trust question that failed says which."""
    try:
        return admit(POLICY, permission, p).check(target(case))
    except (NotOwner, NotPermitted, InsufficientScope) as exc:
        if hidden or permission in ("case.read", "case.lookup"):
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


async def get_visible(session: AsyncSession, case_id: uuid.UUID, p: Principal, for_update: bool = False,
                      permission: str = "case.read") -> Case:
    """The case if the caller may reach it under `permission`: 404 for someone else's (nobody
    learns that it exists), 403 naming the question that failed for an agent out of its delegation
    or staff out of scope."""
    case = await repository.get(session, case_id, for_update)
    if case is None:
        raise CaseNotFound()
    decide(permission, case, p, hidden=True)
    return case
