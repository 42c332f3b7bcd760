"""Ratings (好差评) of completed cases, default ratings, and the remedy tasks bad ratings open."""

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.case.access import get_visible
from tongban.cases.case.steps import now
from tongban.cases.case.errors import WrongCaseState
from tongban.cases.case.models import Case
from tongban.cases.db import audit, outbox
from tongban.cases.rating import repository
from tongban.cases.setting import repository as settings
from tongban.cases.rating.models import Rating, Remedy
from tongban.cases.rating.schemas import LEVELS, RatingCreate, RatingPolicy, RemedyClose
from tongban.cases.ticket import service as tickets
from tongban.cases.ticket.schemas import TicketCreate
from tongban.cases.workday import calendar
from tongban.cases.workday import repository as workdays
from tongban.shared.auth import Principal
from tongban.shared.policy import Access, Target
from tongban.shared.contracts import cases as contract
from tongban.shared.errors import Conflict, NotFound
from tongban.shared.events.envelope import make_event

POLICY_KEY = "rating_policy"
SYSTEM = "system:rating-default"


class AlreadyRated(Conflict):
    code, title = "already_rated", "This case has been rated"


class RemedyNotFound(NotFound):
    code, title = "remedy_not_found", "No such remedy task"


async def policy(session: AsyncSession) -> RatingPolicy:
    return RatingPolicy.model_validate(await settings.get_setting(session, POLICY_KEY) or {})


async def set_policy(session: AsyncSession, body: RatingPolicy, actor: Principal) -> RatingPolicy:
    """Change the rating policy (admins), audited."""
    await settings.put_setting(session, POLICY_KEY, body.model_dump(), actor.sub)
    await audit.record(session, actor, "setting.put", "setting", POLICY_KEY, None, body.model_dump())
    return body


async def rate(session: AsyncSession, body: RatingCreate, access: Access) -> Rating:
    """The applicant (or her agent under a delegation) rates her completed case, once; a bad
    rating opens a remedy task. 404 for anyone else's case."""
    p = access.principal
    assert p is not None  # the policy admits no anonymous rating
    case = await get_visible(session, body.case_id, p, for_update=True, permission="rating.submit")
    if case.state != "completed":
        raise WrongCaseState("rate", case.state, frozenset({"completed"}))
    return await _add(session, case, body.rating, body.comment, False, p, calendar.today())


async def _add(session: AsyncSession, case: Case, level: int, comment: str | None, defaulted: bool,
               actor: Principal | str, today: dt.date) -> Rating:
    if await repository.for_case(session, case.id) is not None:
        raise AlreadyRated(f"case {case.case_number} has been rated")
    sub = actor.sub if isinstance(actor, Principal) else actor
    rating = Rating(id=uuid.uuid4(), case_id=case.id, basic_code=case.basic_code, department=case.department,
                    counter=case.submitted_by if case.channel == "counter" else None, level=level, comment=comment,
                    defaulted=defaulted, rated_by=sub)
    await repository.add(session, rating)
    await audit.record(session, actor, "rating.add", "rating", str(rating.id), comment,
                       {"case_id": str(case.id), "level": level, "defaulted": defaulted})
    at = now()
    await outbox.add(session, make_event("cases", contract.RATING_SUBMITTED, contract.RatingSubmittedV1(
        rating_id=rating.id, case_id=case.id, item_basic_code=case.basic_code, department=case.department,
        level=level, defaulted=defaulted, at=at), subject=str(rating.id)))
    if level <= 2:
        days = (await policy(session)).remedy_working_days
        due = calendar.add_working_days(today, days, await workdays.overrides_from(session, today))
        remedy = Remedy(id=uuid.uuid4(), rating_id=rating.id, case_id=case.id, department=case.department,
                        state="open", due_on=due)
        await repository.add(session, remedy)
        await audit.record(session, actor, "remedy.open", "remedy", str(remedy.id), "bad rating",
                           {"rating_id": str(rating.id), "due_on": due.isoformat()})
        await outbox.add(session, make_event("cases", contract.REMEDY_OPENED, _remedy_event(remedy, at),
                                             subject=str(remedy.id)))
        # A bad rating also becomes a complaint ticket, dispatched to the handling department.
        await tickets.receive(session, TicketCreate(
            category="complaint", content=f"差评 {LEVELS[level]}（办件 {case.case_number}）: {comment or '无评价内容'}",
            case_id=case.id), actor, source="rating", citizen=_caller(case), department=case.department)
    return rating


def _caller(case: Case) -> tuple[str, str] | None:
    return (case.applicant_id, case.applicant_name) if case.applicant_type == "person" else None


def _remedy_event(remedy: Remedy, at: dt.datetime) -> contract.RemedyV1:
    return contract.RemedyV1(remedy_id=remedy.id, rating_id=remedy.rating_id, case_id=remedy.case_id,
                             department=remedy.department, state=remedy.state, due_on=remedy.due_on,
                             result=remedy.result, at=at)


async def close_remedy(session: AsyncSession, remedy_id: uuid.UUID, body: RemedyClose, access: Access) -> Remedy:
    """The handling department closes its remedy task with what it did and the callback's result
    (`remedy.close`: approvers of that department, admins)."""
    p = access.principal
    assert p is not None  # the policy admits no anonymous caller
    remedy = await repository.get_remedy(session, remedy_id)
    if remedy is None:
        raise RemedyNotFound()
    access.check(Target(department=remedy.department))
    if remedy.state != "open":
        raise WrongCaseState("close", remedy.state, frozenset({"open"}))
    at = now()
    remedy.state, remedy.result, remedy.callback_result = "closed", body.result, body.callback_result
    remedy.closed_by, remedy.closed_at = p.sub, at
    await audit.record(session, p, "remedy.close", "remedy", str(remedy.id), body.result,
                       {"callback_result": body.callback_result})
    await outbox.add(session, make_event("cases", contract.REMEDY_CLOSED, _remedy_event(remedy, at),
                                         subject=str(remedy.id)))
    return remedy


async def apply_defaults(session: AsyncSession, now: dt.datetime, today: dt.date) -> int:
    """Give the default rating to completed cases left unrated past the policy's window."""
    rules = await policy(session)
    done = 0
    for case in await repository.unrated_completed(session, now - dt.timedelta(days=rules.default_after_days)):
        await _add(session, case, rules.default_rating, None, True, SYSTEM, today)
        done += 1
    return done
