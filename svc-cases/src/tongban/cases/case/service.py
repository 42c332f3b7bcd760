"""Reading a case as its caller may see it, public progress, materials added later, and what
svc-credentials tells of the licence an approval produced (证照联办). Submission is in
`submission.py`, the state machine in `steps.py`, the policy's questions in `access.py`."""

from __future__ import annotations

import datetime as dt
import hmac
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession
from tongban.cases.case import clock, repository
from tongban.cases.case.access import acts_for_applicant, get_visible
from tongban.cases.case.errors import CaseNotFound, WrongCaseState
from tongban.cases.case.models import Case
from tongban.cases.case.schemas import CaseRead, ProgressRead, ProgressStep
from tongban.cases.case.steps import OPEN, STEPS, Listed, item_listed, move, record
from tongban.cases.db import audit
from tongban.cases.material import repository as materials_repo
from tongban.cases.material import required
from tongban.cases.workday import calendar
from tongban.cases.workday import repository as workdays
from tongban.shared.auth import Principal
from tongban.shared.ids import mask_resident_id, mask_text


class MaterialsPlan(Protocol):
    """What materials added to a case do (tongban.cases.material.service.SubmissionMaterials)."""

    async def attach(self, case: Case) -> None: ...


async def open_for_materials(session: AsyncSession, case_id: uuid.UUID, p: Principal) -> Case:
    """The case, locked, if the caller may add materials to it and it is still open (409 otherwise)."""
    case = await get_visible(session, case_id, p, for_update=True, permission="case.materials.add")
    allowed = OPEN | {"suspended"}
    if case.state not in allowed:
        raise WrongCaseState("add materials to", case.state, allowed)
    return case


async def add_materials(session: AsyncSession, case: Case, materials: MaterialsPlan, reason: str | None,
                        p: Principal, listed: Listed = item_listed) -> Case:
    """Materials checked (and confirmed at svc-credentials) for a case from `open_for_materials`,
    written onto it by its applicant (or a clerk for a counter case); the timeline records it."""
    await materials.attach(case)
    if case.missing_materials:  # 容缺 materials arriving: what is still missing now
        short = required.shortfall(await listed(session, case), await materials_repo.given(session, case.id))
        case.missing_materials = (short.gaps + short.missing) or None
    await record(session, case, p, "add_materials", case.state, case.state, reason, {})
    return case


async def materials_not_added(session: AsyncSession, case_id: uuid.UUID, p: Principal, reason: str,
                              detail: dict[str, Any]) -> None:
    """Materials confirmed at svc-credentials could not be added: the timeline says why and what
    was undone there (the case itself is as it was)."""
    case = await repository.get(session, case_id, for_update=True)
    if case is not None:
        await record(session, case, p, "add_materials_failed", case.state, case.state, reason[:500], detail)


# --- reading -----------------------------------------------------------------------------------

def to_read(case: Case, p: Principal, today: dt.date, overrides: Mapping[dt.date, bool]) -> CaseRead:
    """The case as `p` may see it: personal numbers masked for anyone but the applicant."""
    owner = acts_for_applicant(case, p)
    masked = not owner and case.applicant_type == "person"
    remaining = clock.remaining(case, today, overrides)
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
        deadline_on=case.deadline_on, deadline_provisional=case.deadline_basis is not None,
        deadline_basis=case.deadline_basis, paused=case.paused_since is not None, remaining_days=remaining,
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
    await record(session, case, "system:credentials", "licence_issue_failed", case.state, case.state, reason, {})
    return True


class LicenceMismatch(Exception):
    """A licence names a case it cannot be the result of (another type or holder)."""


async def record_licence(session: AsyncSession, case_id: uuid.UUID, identifier: str, type_code: str,
                         holder_id: str) -> Case | None:
    """证照联办: put the issued licence's identifier on the case; an approved case is thereby
    completed. None when the case is unknown here; LicenceMismatch when the licence is not of the
    case's result type or not the applicant's (a department issuing by hand names the case)."""
    case = await repository.get(session, case_id, for_update=True)
    if case is None:
        return None
    if case.licence_identifier == identifier:
        return case
    if type_code != case.result_licence_type or holder_id != case.applicant_id:
        raise LicenceMismatch(f"licence {identifier} (type {type_code}) is not the result of case {case.case_number}")
    case.licence_identifier = identifier
    if case.state == "approved":
        await move(session, case, "system:credentials", "complete", STEPS["complete"], "licence issued",
                    calendar.today(), {}, {"licence_identifier": identifier})
    else:
        await audit.record(session, "system:credentials", "case.licence", "case", str(case.id), "licence issued",
                           {"licence_identifier": identifier})
    return case
