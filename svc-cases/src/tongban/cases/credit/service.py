"""Credit (信用) and how it changes the handling of a case.

A subject's record is the platform's level and list entries (fetched once through the
`CreditPlatform`, kept here) plus the entries this platform adds itself (a broken commitment).
告知承诺制 is allowed to levels A and B off the black list; 容缺 materials are waived for level A
off the black list. An approval on a commitment schedules its follow-up check; found untrue, the
case is revoked and the subject black-listed, so its next commitment is refused."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tongban.cases.benefit import service as benefits
from tongban.cases.case import steps
from tongban.cases.case import repository as cases_repo
from tongban.cases.case.access import get_visible, may
from tongban.cases.case.models import Case
from tongban.cases.credit import repository
from tongban.cases.credit.errors import CheckNotFound, CommitmentRefused
from tongban.cases.credit.models import CommitmentCheck, CreditListEntry, CreditRecord
from tongban.cases.credit.platform import DEFAULT_LEVEL, CreditPlatform
from tongban.cases.credit.schemas import CheckOutcome, CreditRead, ListEntryCreate, ListEntryRead
from tongban.cases.db import audit
from tongban.cases.workday import calendar
from tongban.cases.workday import repository as workdays
from tongban.shared.auth import Principal
from tongban.shared.errors import Conflict, InvalidField
from tongban.shared.policy import Access, Target

COMMITMENT_LEVELS = frozenset({"A", "B"})
CHECK_AFTER_DAYS = 30        # the follow-up check of a commitment falls due this many days after approval
BLACK_LISTING_DAYS = 3 * 365
CHECKER = "system:commitment-checks"
INTERVAL = 300.0


@dataclass(frozen=True)
class Standing:
    level: str
    black: bool
    red: bool

    @property
    def effective_level(self) -> str:
        return "D" if self.black else self.level

    @property
    def commitment_allowed(self) -> bool:
        return not self.black and self.level in COMMITMENT_LEVELS

    @property
    def waives_gaps(self) -> bool:
        return not self.black and self.level == "A"


def subject_type_of(subject_id: str) -> str:
    return "person" if subject_id[:17].isdigit() and subject_id[17] in "0123456789X" else "company"


async def ensure_record(session: AsyncSession, platform: CreditPlatform, subject_id: str) -> CreditRecord:
    """The subject's record, fetched from the platform the first time it is asked for."""
    found = await repository.record(session, subject_id)
    if found is not None:
        return found
    got = await platform.fetch(subject_id)
    row = CreditRecord(subject_id=subject_id, subject_type=subject_type_of(subject_id), level=got.level,
                       source=platform.name, fetched_at=steps.now())
    await repository.add(session, row)
    for e in got.entries:
        await repository.add(session, CreditListEntry(
            id=uuid.uuid4(), subject_id=subject_id, list=e.list, source=e.source, reason=e.reason,
            listed_on=e.listed_on, until=e.until, created_by=f"platform:{platform.name}"))
    if await benefits.known_subject(session, subject_id):
        # Only a subject the platform knows already: reading a record never makes one up.
        await _publish_level(session, subject_id, f"platform:{platform.name}")
    return row


async def standing(session: AsyncSession, subject_id: str) -> Standing:
    """What this service knows now (a subject never fetched counts as the platform's default)."""
    row = await repository.record(session, subject_id)
    lists = await repository.live_lists(session, subject_id, calendar.today())
    return Standing(row.level if row is not None else DEFAULT_LEVEL, "black" in lists, "red" in lists)


async def read(session: AsyncSession, platform: CreditPlatform, subject_id: str) -> CreditRead:
    row = await ensure_record(session, platform, subject_id)
    s = await standing(session, subject_id)
    return CreditRead(subject_id=subject_id, level=row.level, effective_level=s.effective_level, source=row.source,
                      fetched_at=row.fetched_at, entries=[ListEntryRead.model_validate(e) for e in
                                                          await repository.entries(session, subject_id)],
                      commitment_allowed=s.commitment_allowed, waives_gaps=s.waives_gaps)


async def add_entry(session: AsyncSession, platform: CreditPlatform, subject_id: str, body: ListEntryCreate,
                    actor: Principal | str, case_id: uuid.UUID | None = None) -> CreditListEntry:
    if body.until is not None and body.until < body.listed_on:
        raise InvalidField("until", "the entry ends before it starts")
    await ensure_record(session, platform, subject_id)
    row = CreditListEntry(id=uuid.uuid4(), subject_id=subject_id, list=body.list, source=body.source,
                          reason=body.reason, listed_on=body.listed_on, until=body.until, case_id=case_id,
                          created_by=actor.sub if isinstance(actor, Principal) else actor)
    await repository.add(session, row)
    await audit.record(session, actor, f"credit.{body.list}_list", "credit_record", subject_id, body.reason,
                       {"source": body.source, "until": body.until.isoformat() if body.until else None})
    await _publish_level(session, subject_id, actor)
    return row


async def _publish_level(session: AsyncSession, subject_id: str, actor: Principal | str) -> None:
    """The credit level as a fact for benefit matching (which re-evaluates that subject)."""
    s = await standing(session, subject_id)
    await benefits.set_facts(session, subject_id, subject_type_of(subject_id), {"credit.level": s.effective_level},
                             "credit", actor)


# --- 容缺 waived by good credit ----------------------------------------------------------------------

async def waive_gaps(session: AsyncSession, case_id: uuid.UUID, p: Principal) -> None:
    """Before a clerk accepts a case: the 容缺 materials it lacks are waived when the applicant's
    credit allows it (level A, off the black list), so it is accepted without gaps to chase; the
    timeline says which and why. Anyone else, or another state, leaves the case to the step's own
    checks (the policy is asked first: a stranger learns nothing here)."""
    case = await get_visible(session, case_id, p, for_update=True, permission="case.act")
    if case.state != "submitted" or not case.missing_materials or not may("case.act.clerk", case, p):
        return
    s = await standing(session, case.applicant_id)
    if not s.waives_gaps:
        return
    waived, case.missing_materials = case.missing_materials, None
    await steps.record(session, case, p, "waive_gaps", case.state, case.state, f"credit level {s.level}: 容缺 waived",
                       {"waived": waived, "credit_level": s.level})


# --- 告知承诺制 -------------------------------------------------------------------------------------

async def on_commitment_approval(session: AsyncSession, case: Case) -> CommitmentCheck:
    """A case approved on a commitment: refused (409, the transaction rolls back) unless the
    applicant's credit allows it; else its follow-up check is scheduled."""
    s = await standing(session, case.applicant_id)
    if not s.commitment_allowed:
        why = "on the black list" if s.black else f"credit level {s.level}"
        raise CommitmentRefused(f"the applicant is {why}: decide on the materials, not on a commitment")
    check = CommitmentCheck(id=uuid.uuid4(), case_id=case.id, case_number=case.case_number,
                            subject_id=case.applicant_id, department=case.department,
                            due_on=calendar.today() + dt.timedelta(days=CHECK_AFTER_DAYS), state="pending")
    await repository.add(session, check)
    await audit.record(session, CHECKER, "commitment_check.schedule", "commitment_check", str(check.id), None,
                       {"case_number": case.case_number, "due_on": check.due_on.isoformat()})
    return check


async def decide_check(session: AsyncSession, platform: CreditPlatform, check_id: uuid.UUID, body: CheckOutcome,
                       access: Access) -> CommitmentCheck:
    """Record a follow-up check (its department's approvers). Found untrue: the case is revoked
    and the subject black-listed, so future commitments are refused."""
    check = await repository.check(session, check_id, for_update=True)
    if check is None:
        raise CheckNotFound()
    access.check(Target(department=check.department))
    if check.state not in ("pending", "due"):
        raise Conflict(f"the check was already recorded ({check.state})")
    p = access.principal
    assert p is not None
    check.state, check.outcome_reason = ("kept" if body.kept else "broken"), body.reason
    check.checked_by, check.checked_at = p.sub, steps.now()
    await audit.record(session, p, "commitment_check.decide", "commitment_check", str(check.id), body.reason,
                       {"kept": body.kept, "case_number": check.case_number})
    if body.kept:
        return check
    today = calendar.today()
    await add_entry(session, platform, check.subject_id, ListEntryCreate(
        list="black", source="告知承诺核查", reason=f"case {check.case_number}: commitment found untrue: {body.reason}",
        listed_on=today, until=today + dt.timedelta(days=BLACK_LISTING_DAYS)), p, case_id=check.case_id)
    case = await cases_repo.get(session, check.case_id, for_update=True)
    if case is not None and case.state in steps.STEPS["revoke"].from_states:
        overrides = await workdays.overrides_from(session, today - dt.timedelta(days=1))
        await steps.move(session, case, p, "revoke", steps.STEPS["revoke"], f"commitment found untrue: {body.reason}",
                         today, overrides, {"commitment_check": str(check.id)})
    return check


async def run(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Periodic: checks whose day has come are due (each recorded once)."""
    async with sessionmaker() as session, session.begin():
        for check_id in await repository.mark_due(session, calendar.today()):
            await audit.record(session, CHECKER, "commitment_check.due", "commitment_check", str(check_id), None, {})
