"""Instant-approval rules: versioned data, evaluated against a submission."""

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.db import audit
from tongban.cases.rule import repository
from tongban.cases.rule.models import ApprovalRule
from tongban.cases.rule.schemas import ApprovalRuleCreate, Condition
from tongban.shared.auth import Principal

_MISSING = object()


async def add_version(session: AsyncSession, basic_code: str, body: ApprovalRuleCreate,
                      actor: Principal) -> ApprovalRule:
    """Add a new version of the item's rule (an inactive version switches instant approval off)."""
    rule = ApprovalRule(basic_code=basic_code, version=await repository.next_version(session, basic_code),
                        conditions=[c.model_dump(mode="json") for c in body.conditions], active=body.active,
                        note=body.note, created_by=actor.sub)
    await repository.add(session, rule)
    await audit.record(session, actor, "approval_rule.add", "approval_rule", f"{basic_code}/v{rule.version}",
                       body.note, {"active": body.active})
    return rule


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def facts(applicant_type: str, applicant_id: str, form: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """What conditions may look at: the form's fields and the applicant's type and age."""
    out: dict[str, Any] = {f"form.{k}": v for k, v in form.items()}
    out["applicant.type"] = applicant_type
    if applicant_type == "person":
        birth = dt.date(int(applicant_id[6:10]), int(applicant_id[10:12]), int(applicant_id[12:14]))
        out["applicant.age"] = age_on(birth, today)
    return out


def licence_types(conditions: list[dict[str, Any]]) -> set[str]:
    """The licence type codes the conditions ask about (what svc-credentials must be asked)."""
    return {str(c["field"]).removeprefix("licence.") for c in conditions if str(c["field"]).startswith("licence.")}


def matches(conditions: list[dict[str, Any]], known: dict[str, Any]) -> bool:
    """True when every condition holds; a missing fact or a type mismatch fails the condition."""
    return all(_holds(Condition.model_validate(c), known) for c in conditions)


def _holds(c: Condition, known: dict[str, Any]) -> bool:
    value = known.get(c.field, _MISSING)
    if c.op == "present":
        return value is not _MISSING
    if c.op == "absent":
        return value is _MISSING
    if value is _MISSING:
        return False
    try:
        match c.op:
            case "eq":
                return bool(value == c.value)
            case "ne":
                return bool(value != c.value)
            case "in":
                return isinstance(c.value, list) and value in c.value
            case "gt":
                return bool(value > c.value)
            case "gte":
                return bool(value >= c.value)
            case "lt":
                return bool(value < c.value)
            case "lte":
                return bool(value <= c.value)
    except TypeError:
        return False  # comparing a string with a number: the rule does not apply, an approver decides
    return False
